package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/internal/replay"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// dumpAfterHeader parses the dump that follows stats' "===" lines.
func dumpAfterHeader(t *testing.T, out string) obmalloc.Stats {
	t.Helper()
	lines := strings.SplitN(out, "\n", 3)
	require.Len(t, lines, 3)
	require.True(t, strings.HasPrefix(lines[0], "=== "), out)
	require.True(t, strings.HasPrefix(lines[1], "=== layout "), out)
	s, err := obmalloc.ParseDebugMallocStats(strings.NewReader(lines[2]))
	require.NoError(t, err)
	return s
}

func TestStatsCommand(t *testing.T) {
	code, stdout, stderr := runDemo("stats", "-objects", "5000")
	require.Equal(t, exitOK, code, stderr)
	s := dumpAfterHeader(t, stdout)
	assert.Equal(t, uintptr(512), s.Threshold)
	assert.Positive(t, s.ArenasCurrent)
	assert.Contains(t, stdout, "=== built-in workload: 5,000 objects built")

	code, stdout, _ = runDemo("stats", "-objects", "5000", "-layout", "3.7")
	require.Equal(t, exitOK, code)
	s = dumpAfterHeader(t, stdout)
	assert.Len(t, s.Classes, 64, "8-byte alignment: 64 classes")
	assert.Equal(t, uintptr(4096), s.PoolSize)
	assert.Contains(t, stdout, "=== layout 3.7: 4 KiB pools, 256 KiB arenas, 8-byte alignment")
}

// traceRun under 3.11's layout makes the same calls as replay.Run, so the
// per-class rows of their dumps after the same op are the same.
func TestTraceRunMatchesReplay(t *testing.T) {
	path := synthTraceFile(t, 30_000)
	tr, err := pytrace.ReadFile(path)
	require.NoError(t, err)
	points := []int{1, 7_000, tr.Stats.PeakLiveBytesOp, len(tr.Ops)}
	var dumps strings.Builder
	_, err = replay.Run(tr, replay.Options{StatsAt: points, Stats: &dumps})
	require.NoError(t, err)
	sections := strings.Split(dumps.String(), "=== stats after op ")[1:]
	require.Len(t, sections, len(points))

	for i, op := range points {
		_, dump, _ := strings.Cut(sections[i], "\n")
		want, err := obmalloc.ParseDebugMallocStats(strings.NewReader(dump))
		require.NoError(t, err)

		code, stdout, stderr := runDemo("stats", "-trace", path, "-stop-at", strconv.Itoa(op))
		require.Equal(t, exitOK, code, stderr)
		got := dumpAfterHeader(t, stdout)
		assert.Equal(t, want.Classes, got.Classes, "rows after op %d", op)
		assert.Equal(t, want.BytesInAllocatedBlocks, got.BytesInAllocatedBlocks, "after op %d", op)
		assert.Equal(t, want.RawAllocatedBlocks, got.RawAllocatedBlocks, "after op %d", op)
	}
}

func TestResolveStop(t *testing.T) {
	tr, err := pytrace.Read(strings.NewReader(pytrace.FormatExample), "x")
	require.NoError(t, err)
	for s, want := range map[string]int{"": 7, "end": 7, "peak": tr.Stats.PeakLiveBytesOp, "3": 3} {
		n, err := resolveStop(tr, s)
		require.NoError(t, err, s)
		assert.Equal(t, want, n, s)
	}
	for s, want := range map[string]string{"8": "past the last op", "0": "counted from 1", "2,3": "want one op number", "x": `"x"`} {
		_, err := resolveStop(tr, s)
		require.Error(t, err, s)
		assert.Contains(t, err.Error(), want, s)
	}
}
