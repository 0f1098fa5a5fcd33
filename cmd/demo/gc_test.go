package main

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/gcmodule"
)

func findGraph(t *testing.T, name string) gcGraph {
	t.Helper()
	for _, g := range gcGraphs {
		if g.name == name {
			return g
		}
	}
	t.Fatalf("no graph %q", name)
	return gcGraph{}
}

// Each graph, collected: what the collector returns, what it frees, what
// it leaves in gc.garbage.
func TestGCGraphs(t *testing.T) {
	needPymalloc(t)
	const n = 50
	for _, tc := range []struct {
		graph      string
		objects    int // containers made
		collected  int // gc.collect's result
		garbage    int // len(gc.garbage)
		finalizers int
		freedAll   bool // every block of the graph freed by the collection...
		names      int  // ...but the attribute names, which the collector interns
	}{
		{"pairs", 2 * n, 2 * n, 0, 0, true, 0},
		{"selfref", n, n, 0, 0, true, 0},
		{"ring", n, n, 0, 0, true, 0},
		// The instances are all made before their attributes are set, so
		// their class's shared keys have room for one name only: each
		// instance materialises a __dict__ (python3 3.11.7 collects 100
		// for the same program). Names: left, right, parent.
		{"tree", 2 * n, 2 * n, 0, 0, true, 3},
		{"chain", n, 0, 0, 0, true, 0},
		{"finalizer", n, n, 0, n, true, 1}, // next
		{"legacy", n, n, n, 0, false, 1},
	} {
		t.Run(tc.graph, func(t *testing.T) {
			var out bytes.Buffer
			r, err := runGC(&out, findGraph(t, tc.graph), n, 0, 2, gcmodule.DebugStats, false)
			require.NoError(t, err)
			assert.Equal(t, tc.objects, r.Objects)
			assert.Equal(t, tc.collected, r.Collected)
			assert.Equal(t, tc.garbage, r.Garbage)
			assert.Equal(t, tc.finalizers, r.Finalizers)
			assert.Equal(t, [3]int{0, 0, 0}, r.CountsAfter)
			assert.Equal(t, 1, r.GenStats.Collections)
			if tc.graph == "legacy" {
				assert.Equal(t, n, r.GenStats.Uncollectable)
				assert.Contains(t, out.String(), "gc: done, 50 unreachable, 50 uncollectable")
			} else {
				assert.Equal(t, tc.collected, r.GenStats.Collected)
				assert.Contains(t, out.String(), "gc: done, "+strconv.Itoa(tc.collected)+" unreachable, 0 uncollectable")
			}
			if tc.freedAll {
				assert.Equal(t, r.BlocksBefore+tc.names, r.BlocksAfter, "every block of the graph is back")
			}
			assert.Equal(t, tc.graph == "chain", r.ChainFreedByRC, "only the acyclic graph dies by counting")
			assert.Contains(t, out.String(), "gc: collecting generation 2...")
		})
	}
}

func TestGCKeepAndGeneration(t *testing.T) {
	var out bytes.Buffer
	r, err := runGC(&out, findGraph(t, "pairs"), 10, 3, 0, gcmodule.DebugStats|gcmodule.DebugCollectable, true)
	require.NoError(t, err)
	assert.Equal(t, 14, r.Collected, "7 pairs of the 10 are garbage")
	assert.Equal(t, [3]int{0, 1, 0}, r.CountsAfter, "a collection of generation 0")
	assert.Equal(t, 14, bytes.Count(out.Bytes(), []byte("gc: collectable <list 0x")))
	assert.Contains(t, out.String(), "automatic collection on while building")
}

func TestGCCommand(t *testing.T) {
	code, stdout, stderr := runDemo("gc", "-graph", "ring", "-n", "30", "-debug", "stats,collectable")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "graph ring: one ring of 30 lists")
	assert.Contains(t, stdout, "gc.set_debug(gc.DEBUG_STATS | gc.DEBUG_COLLECTABLE); gc.collect(2):")
	assert.Contains(t, stdout, "gc.collect(2) returned 30")

	code, stdout, _ = runDemo("gc", "-graph", "selfref", "-n", "5", "-debug", "leak")
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "gc.set_debug(gc.DEBUG_LEAK)")
	assert.Contains(t, stdout, "len(gc.garbage) = 5", "DEBUG_SAVEALL keeps what it finds")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-graph", "clique"}, `-graph "clique": want one of pairs, selfref, ring`},
		{[]string{"-n", "0"}, "-n 0: want at least 1"},
		{[]string{"-keep", "-1"}, "-keep -1"},
		{[]string{"-gen", "3"}, "-gen 3: want 0, 1 or 2"},
		{[]string{"-debug", "verbose"}, `unknown flag "verbose"`},
	} {
		code, stdout, stderr := runDemo(append([]string{"gc"}, tc.args...)...)
		assert.Equal(t, exitUsage, code, "%v", tc.args)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, tc.want)
	}
}

func TestDebugNames(t *testing.T) {
	assert.Equal(t, "0", debugNames(0))
	assert.Equal(t, "gc.DEBUG_LEAK", debugNames(gcmodule.DebugLeak))
	assert.Equal(t, "gc.DEBUG_STATS | gc.DEBUG_SAVEALL", debugNames(gcmodule.DebugStats|gcmodule.DebugSaveAll))
	f, err := parseGCDebug("stats,uncollectable")
	require.NoError(t, err)
	assert.Equal(t, gcmodule.DebugStats|gcmodule.DebugUncollectable, f)
	f, err = parseGCDebug("none")
	require.NoError(t, err)
	assert.Zero(t, f)
}

// With -auto, collections reset generation 0's count while the graph is
// built: the report gives the count as it stands, which the line after it
// repeats, not a difference across the resets.
func TestGCAutoReportsTheCount(t *testing.T) {
	code, stdout, stderr := runDemo("gc", "-auto")
	require.Equal(t, exitOK, code, stderr)
	m := regexp.MustCompile(`; (\d+) containers in generation 0's count since its last collection`).FindStringSubmatch(stdout)
	require.NotNil(t, m, stdout)
	assert.Contains(t, stdout, "counts now ("+m[1]+", ")
}
