package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
)

// tableRow finds a row of the experiment's table in section and returns
// its cells.
func tableRow(t *testing.T, section, label string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^    ` + regexp.QuoteMeta(label) + `  +(.*)$`).FindStringSubmatch(section)
	require.NotNil(t, m, "row %q in\n%s", label, section)
	return strings.Fields(m[1])
}

func TestExperiment(t *testing.T) {
	path := synthTraceFile(t, 40_000)
	code, stdout, stderr := runDemo("experiment", "-layout", "3.11", "-layout", "3.9", "-layout", "threshold=256", "-at", "peak,20000,end", path)
	require.Equal(t, exitOK, code, stderr)
	assert.Empty(t, stderr)
	assert.Contains(t, stdout, "experiment: trace synth, 40,000 ops")
	assert.Contains(t, stdout, "  3.9            4 KiB pools, 256 KiB arenas")

	sections := strings.Split(stdout, "\n\n")
	require.Len(t, sections, 5, "the header, three points, the whole run")
	tr, err := pytrace.ReadFile(path)
	require.NoError(t, err)
	points := []int{20_000, tr.Stats.PeakLiveBytesOp, 40_000}
	require.Less(t, points[0], points[1], "the synthetic trace peaks after op 20,000")

	for i, op := range points {
		sec := sections[i+1]
		assert.Contains(t, sec, withCommas(uint64(op)))
		// Each column is what "demo stats" says of the same heap (the
		// figures that depend on the requests alone, not on where the
		// system put each arena).
		for _, layout := range []string{"3.11", "3.9", "threshold=256"} {
			code, out, stderr := runDemo("stats", "-trace", path, "-stop-at", strconv.Itoa(op), "-layout", layout)
			require.Equal(t, exitOK, code, stderr)
			s := dumpAfterHeader(t, out)
			col := map[string]int{"3.11": 0, "3.9": 1, "threshold=256": 2}[layout]
			assert.Equal(t, withCommas(uint64(s.BytesInAllocatedBlocks)), tableRow(t, sec, "bytes in allocated blocks")[col], "%s after op %d", layout, op)
			assert.Equal(t, withCommas(uint64(poolsInUse(s))), tableRow(t, sec, "pools in use")[col])
			assert.Equal(t, withCommas(uint64(s.BytesInAvailableBlocks)), tableRow(t, sec, "bytes in available blocks")[col])
		}
	}
	// The same trace's blocks, wherever they sit: at the end, 3.11 and 3.9
	// hold the same bytes in the same classes; a threshold of 256 sends
	// more requests past the pools.
	whole := sections[4]
	past := tableRow(t, whole, "requests past the pools")
	assert.Equal(t, past[0], past[1])
	assert.Greater(t, atoiCommas(t, past[2]), atoiCommas(t, past[0]))
	assert.Len(t, tableRow(t, whole, "ns per op (indicative)"), 3)
}

func atoiCommas(t *testing.T, s string) int { return atoi(t, strings.ReplaceAll(s, ",", "")) }

func TestExperimentDefaultsAndErrors(t *testing.T) {
	path := writeTrace(t, "small.trace.gz", goodTrace)
	code, stdout, stderr := runDemo("experiment", path)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "  3.11  16 KiB pools, 1 MiB arenas")
	assert.Contains(t, stdout, "  3.9   4 KiB pools, 256 KiB arenas")

	code, stdout, _ = runDemo("experiment", "-arenas", "release", "-layout", "3.11", "-layout", "3.9,arenas=keep", path)
	require.Equal(t, exitUsage, code, "3.9,arenas=keep is neither a preset nor key=value pairs")
	assert.Empty(t, stdout)

	code, stdout, _ = runDemo("experiment", "-arenas", "release", "-layout", "3.11", "-layout", "arenas=keep", path)
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "  3.11         16 KiB pools, 1 MiB arenas, 16-byte alignment, threshold 512 (32 classes), arenas release")
	assert.Contains(t, stdout, "  arenas=keep  16 KiB pools, 1 MiB arenas, 16-byte alignment, threshold 512 (32 classes), arenas keep")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "no trace file given"},
		{[]string{path, "-at", "end"}, `"-at" after the trace files`},
		{[]string{"-layout", "3.0", path}, `unknown layout "3.0"`},
		{[]string{"-at", "middle", path}, `("middle"): not an op number`},
		{[]string{"-at", "9", path}, "past the last op"},
		// The whole -at is named: its item alone may be empty, or not
		// say where it was in the list.
		{[]string{"-at", ",", path}, `-at ",": points "": empty list`},
		{[]string{"-at", "peak,", path}, `-at "peak,": points "": empty list`},
		{[]string{"-at", "1,9", path}, `-at "1,9": `},
		{[]string{"-arenas", "x", path}, `-arenas "x"`},
		// Every trace is read before anything is printed.
		{[]string{path, path + ".missing"}, path + ".missing: " + openErrText(t, path+".missing")},
		{[]string{"-at", "50", synthTraceFile(t, 100), path}, "past the last op"},
	} {
		code, stdout, stderr := runDemo(append([]string{"experiment"}, tc.args...)...)
		assert.Equal(t, exitUsage, code, "%v", tc.args)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, tc.want, "%v", tc.args)
	}
}

// The whole-run rows cover the whole trace, however early the last point
// (they were the last point's figures).
func TestExperimentWholeRunIsTheWholeTrace(t *testing.T) {
	path := synthTraceFile(t, 40_000)
	whole := func(at string) string {
		code, stdout, stderr := runDemo("experiment", "-layout", "3.11", "-at", at, path)
		require.Equal(t, exitOK, code, stderr)
		sections := strings.Split(stdout, "\n\n")
		sec := sections[len(sections)-1]
		require.Contains(t, sec, "whole run")
		return strings.Join(tableRow(t, sec, "requests past the pools"), " ") + " / " + strings.Join(tableRow(t, sec, "large allocator mapped"), " ")
	}
	assert.Equal(t, whole("end"), whole("100"))
}
