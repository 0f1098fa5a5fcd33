package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/winetest"
)

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		noun string
		want string
	}{
		{0, "arena", "0 arenas"},
		{1, "arena", "1 arena"},
		{2, "arena", "2 arenas"},
		{1, "class", "1 class"},
		{32, "class", "32 classes"},
		{1, "pymalloc block", "1 pymalloc block"},
		{1_000_000, "object", "1,000,000 objects"},
		{-1, "block", "-1 blocks"},
	} {
		assert.Equal(t, tc.want, count(tc.n, tc.noun), "%d %s", tc.n, tc.noun)
	}
}

// pluralAfterOne finds a count of 1 with its noun in the plural.
var pluralAfterOne = regexp.MustCompile(`(^|[^0-9,.])1 (arena|pool|block|object|class|list|allocation|container|structure|instance|pair|time|op|collection)(s|es)\b`)

// cpythonArenaLine is the dump's "1 arenas * 1048576 bytes/arena", which
// is CPython's layout byte for byte, grammar included.
var cpythonArenaLine = regexp.MustCompile(`\d+ arenas \* \d+ bytes/arena`)

// pluralsAfterOne are the counts of 1 in text with a plural noun, and the
// text with its whitespace made single spaces, as the story wraps lines.
func pluralsAfterOne(text string) (bad []string, flat string) {
	flat = strings.Join(strings.Fields(text), " ")
	return pluralAfterOne.FindAllString(cpythonArenaLine.ReplaceAllString(flat, ""), -1), flat
}

// Every figure that can be 1 is printed with its noun in the singular:
// each case makes a count 1 and looks for it in the output.
func TestSingularCounts(t *testing.T) {
	needPymalloc(t)
	oneOp := writeTrace(t, "one.trace.gz", "# pytrace 1\nm 1 56\n")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"gc", "-graph", "selfref", "-n", "1"}, []string{
			"graph selfref: 1 list, each holding itself; 1 container made, 2 pymalloc blocks",
			"keeping 0 of 1 structure in a list"}},
		{[]string{"gc", "-graph", "finalizer", "-n", "1"}, []string{"__del__ ran 1 time ("}},
		{[]string{"gc", "-graph", "pairs", "-n", "1"}, []string{"graph pairs: 1 pair of lists"}},
		{[]string{"heapmap", "-objects", "1"}, []string{"built-in workload: 1 object built", " 1 arena (1,048,576 bytes), pools:"}},
		{[]string{"stats", "-objects", "10", "-layout", "threshold=16"}, []string{"threshold 16 (1 class)"}},
		{[]string{"heapmap", "-trace", oneOp}, []string{"after op 1 of 1 (1 block live)"}},
		{[]string{"experiment", oneOp}, []string{"experiment: trace one, 1 op, "}},
		{[]string{"story", "-chapter", "4", "-objects", "1"}, []string{"A program allocates 1 object (32 bytes in blocks)"}},
	} {
		code, stdout, stderr := runDemo(tc.args...)
		require.Equal(t, exitOK, code, "%v: %s", tc.args, stderr)
		bad, flat := pluralsAfterOne(stdout)
		assert.Empty(t, bad, "%v", tc.args)
		for _, w := range tc.want {
			assert.Contains(t, flat, w, "%v", tc.args)
		}
	}
}

// The SVG's legend counts the pools and blocks of each class.
func TestSVGSingularCounts(t *testing.T) {
	out := filepath.Join(winetest.TempDir(t), "heap.svg")
	code, _, stderr := runDemo("heapmap", "-objects", "10", "-o", out)
	require.Equal(t, exitOK, code, stderr)
	svg, err := os.ReadFile(out)
	require.NoError(t, err)
	bad, flat := pluralsAfterOne(string(svg))
	assert.Empty(t, bad)
	assert.Contains(t, flat, "class 3, 64 B: 1 pool, 1 block</text>")
}

// The story told as small as it goes, where most of its counts are 1.
func TestStorySingularCounts(t *testing.T) {
	var out bytes.Buffer
	_, err := tellStory(&out, storyConfig{ManyObjects: 1, CycleLists: 1, WorkloadObjects: 1}, 0)
	require.NoError(t, err)
	bad, flat := pluralsAfterOne(out.String())
	assert.Empty(t, bad)
	for _, w := range []string{
		"The heap has mapped 1 arena: ",
		"No collection ran: 1 allocation did not take the count past 700.",
		"A program allocates 1 object (",
		"small program: 1 object built,",
		"the arena lines: 1 arena mapped, 0 reclaimed.",
		"add up to the 1 arena × 1 MiB",
	} {
		assert.Contains(t, flat, w)
	}
}
