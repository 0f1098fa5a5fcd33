package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/internal/winetest"
)

const goodTrace = pytrace.FormatExample

// writeTrace writes text, gzip'd, to a new file in a temporary directory
// and returns its path.
func writeTrace(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(winetest.TempDir(t), name)
	f, err := os.Create(path)
	require.NoError(t, err)
	zw := gzip.NewWriter(f)
	_, err = zw.Write([]byte(text))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
	return path
}

// resultLine matches the line replay prints per trace; the fixed keys come
// first, in the C replayer's order.
var resultLine = regexp.MustCompile(`^backend=gopymalloc trace=(\S+) ops=(\d+) seconds=\d+\.\d{6} ns_per_op=\d+\.\d{2} ` +
	`peak_live_bytes=(\d+) rss_peak_kb=-?\d+( \S+=\S+)*$`)

func TestReplay(t *testing.T) {
	good := writeTrace(t, "small.trace.gz", goodTrace)
	code, stdout, stderr := runDemo("replay", good, good)
	require.Equal(t, exitOK, code, stderr)
	assert.Empty(t, stderr)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	require.Len(t, lines, 2, "one line per trace")
	for _, line := range lines {
		m := resultLine.FindStringSubmatch(line)
		require.NotNil(t, m, "result line %q", line)
		assert.Equal(t, []string{"small", "7", "184"}, m[1:4])
		assert.Contains(t, line, " live_at_end=2 ")
		assert.Contains(t, line, " touch=1 arenas=keep")
	}

	code, stdout, _ = runDemo("replay", "-arenas", "release", "-no-touch", good)
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, " touch=0 arenas=release")
	assert.NotContains(t, stdout, "hugepages")
	assert.NotContains(t, stdout, "prefault")

	code, stdout, stderr = runDemo("replay", "-prefault", good)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, " touch=1 arenas=keep prefault=1\n")

	code, stdout, stderr = runDemo("replay", "-hugepages", "-stats", good)
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, ` touch=1 arenas=keep hugepages=[01][ \n]`, stdout, "1 where the kernel took the advice")
	assert.Contains(t, stdout, "# bytes lost to arena alignment    =                    0\n", "huge-page arenas start on a pool boundary")
}

func TestReplayStats(t *testing.T) {
	good := writeTrace(t, "small.trace.gz", goodTrace)
	for _, tc := range []struct {
		name  string
		args  []string
		dumps []string // the ops named by the dump headers, in order
	}{
		{"-stats", []string{"-stats"}, []string{"7"}},
		{"-stats-at", []string{"-stats-at", "1,4"}, []string{"1", "4"}},
		{"both", []string{"-stats", "-stats-at", "2,7"}, []string{"2", "7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runDemo(append(append([]string{"replay"}, tc.args...), good)...)
			require.Equal(t, exitOK, code, stderr)
			headers := regexp.MustCompile(`(?m)^=== stats after op (\d+)$`).FindAllStringSubmatch(stdout, -1)
			var ops []string
			for _, h := range headers {
				ops = append(ops, h[1])
			}
			assert.Equal(t, tc.dumps, ops)
			assert.Equal(t, len(tc.dumps), strings.Count(stdout, "Small block threshold = 512, in 32 size classes.\n"))
			assert.Contains(t, stdout, "# arenas allocated total")
			// The result line comes last, after the dumps.
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			assert.Regexp(t, resultLine, lines[len(lines)-1])
		})
	}
}

func TestReplayRefuses(t *testing.T) {
	dir := winetest.TempDir(t)
	good := writeTrace(t, "small.trace.gz", goodTrace)
	// Line 3 frees a block that was never allocated.
	malformed := writeTrace(t, "bad.trace.gz", "# pytrace 1\nm 1 10\nf 2\n")
	plain := filepath.Join(dir, "plain.trace")
	require.NoError(t, os.WriteFile(plain, []byte("m 1 10\nx 2\n"), 0o644))
	for _, tc := range []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"bad flag", []string{"-bogus", good}, []string{"-bogus", "usage: demo replay"}},
		{"no trace", []string{"-stats"}, []string{"no trace file given", "usage: demo replay"}},
		{"flag after the files", []string{good, "-stats"}, []string{`"-stats" after the trace files`}},
		{"unknown arena policy", []string{"-arenas", "sometimes", good}, []string{`-arenas "sometimes": want keep or release`}},
		{"malformed trace", []string{good, malformed}, []string{malformed + ":3:"}},
		{"malformed plain trace", []string{plain, good}, []string{plain + ":2:"}},
		{"missing trace", []string{good, filepath.Join(dir, "nope.gz")}, []string{"nope.gz: " + openErrText(t, filepath.Join(dir, "nope.gz"))}},
		{"-stats-at past the end", []string{"-stats-at", "3,8", good}, []string{"-stats-at", `"8"`, "past the last op", "7 ops", good}},
		{"-stats-at descending", []string{"-stats-at", "5,3", good}, []string{"-stats-at", "strictly ascending"}},
		{"-stats-at op 0", []string{"-stats-at", "0", good}, []string{"-stats-at", "ops are counted from 1"}},
		{"-stats-at not a number", []string{"-stats-at", "1,x", good}, []string{"-stats-at", `"x"`}},
		{"-stats-at empty", []string{"-stats-at", "", good}, []string{"-stats-at", "empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runDemo(append([]string{"replay"}, tc.args...)...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout, "nothing is replayed")
			for _, w := range tc.want {
				assert.Contains(t, stderr, w)
			}
		})
	}
}

// A name that starts with "-" is a trace after "--"; the file's content,
// not its name, says whether it is gzip'd; an empty file is an empty trace.
func TestReplayNames(t *testing.T) {
	dir := winetest.TempDir(t)
	dash := filepath.Join(dir, "-dash.trace.gz")
	require.NoError(t, os.Rename(writeTrace(t, "x.trace.gz", goodTrace), dash))
	plainGz := filepath.Join(dir, "plain.trace.gz")
	require.NoError(t, os.WriteFile(plainGz, []byte(goodTrace), 0o644))
	zipped := filepath.Join(dir, "zipped.trace")
	require.NoError(t, os.Rename(writeTrace(t, "y.trace.gz", goodTrace), zipped))
	empty := filepath.Join(dir, "empty.trace.gz")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	t.Chdir(dir)
	code, stdout, stderr := runDemo("replay", "--", "-dash.trace.gz", plainGz, zipped, empty)
	require.Equal(t, exitOK, code, stderr)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	require.Len(t, lines, 4)
	for i, want := range []string{"-dash 7", "plain 7", "zipped 7", "empty 0"} {
		m := resultLine.FindStringSubmatch(lines[i])
		require.NotNil(t, m, lines[i])
		assert.Equal(t, want, m[1]+" "+m[2])
	}
}

func TestReplayHelp(t *testing.T) {
	code, stdout, stderr := runDemo("replay", "-h")
	assert.Equal(t, exitOK, code)
	assert.Empty(t, stderr)
	assert.Contains(t, stdout, replaySynopsis)
	assert.Contains(t, stdout, "-no-touch")
}

func TestReplayRepeatAndProfile(t *testing.T) {
	path := writeTrace(t, "good.trace.gz", goodTrace)
	prof := filepath.Join(winetest.TempDir(t), "cpu.prof")
	var out, errOut bytes.Buffer
	code := run([]string{"replay", "-repeat", "3", "-cpuprofile", prof, path}, &out, &errOut)
	require.Equal(t, exitOK, code, errOut.String())
	assert.Equal(t, 3, strings.Count(out.String(), "backend=gopymalloc"))
	info, err := os.Stat(prof)
	require.NoError(t, err)
	assert.NotZero(t, info.Size())

	code = run([]string{"replay", "-repeat", "0", path}, &out, &errOut)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut.String(), "-repeat 0: want at least 1")
}

// A problem with an input file (or the profile's) is a usage error (status
// 2) reported in one line naming the subcommand: the synopsis, which
// would not help, is left out. A bad command line gets the synopsis.
func TestReplayInputErrorsInOneLine(t *testing.T) {
	dir := winetest.TempDir(t)
	good := writeTrace(t, "small.trace.gz", goodTrace)
	missing := filepath.Join(dir, "nope.gz")
	for _, tc := range []struct {
		name string
		args []string
		want string // the whole of stderr
	}{
		{"missing trace", []string{good, missing}, "demo replay: open " + missing + ": " + openErrText(t, missing) + "\n"},
		{"-stats-at past the end", []string{"-stats-at", "8", good},
			`demo replay: -stats-at: points "8": item 1 ("8"): past the last op of small (7 ops) (` + good + ")\n"},
		{"-cpuprofile unwritable", []string{"-cpuprofile", filepath.Join(dir, "no", "cpu.prof"), good},
			"demo replay: -cpuprofile: open " + filepath.Join(dir, "no", "cpu.prof") + ": " + openErrText(t, filepath.Join(dir, "no", "cpu.prof")) + "\n"},
		{"-repeat 0", []string{"-repeat", "0", good},
			"demo replay: -repeat 0: want at least 1\nusage: " + replaySynopsis + "\n(demo replay -h explains the flags)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runDemo(append([]string{"replay"}, tc.args...)...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout)
			assert.Equal(t, tc.want, stderr)
		})
	}
}

// failingWriter refuses every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// A result or a statistics dump that cannot be written is a failure of
// the work: status 1.
func TestReplayWriteFails(t *testing.T) {
	good := writeTrace(t, "small.trace.gz", goodTrace)
	for _, tc := range []struct {
		name string
		args []string
		want string // stderr
	}{
		{"the result", []string{good}, "demo replay: writing the result: disk full\n"},
		{"the -stats dump", []string{"-stats", good}, "demo replay: replay: small: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errOut bytes.Buffer
			code := run(append([]string{"replay"}, tc.args...), failingWriter{}, &errOut)
			assert.Equal(t, exitFail, code)
			assert.True(t, strings.HasPrefix(errOut.String(), tc.want), "%q", errOut.String())
			assert.True(t, strings.HasSuffix(errOut.String(), "disk full\n"), "%q", errOut.String())
		})
	}
}
