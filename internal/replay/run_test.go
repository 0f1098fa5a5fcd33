package replay

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/mmap"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// readTrace parses a hand-written trace.
func readTrace(t *testing.T, name, text string) *pytrace.Trace {
	t.Helper()
	tr, err := pytrace.Read(strings.NewReader(text), name+".trace")
	require.NoError(t, err)
	return tr
}

// formatExample: block 1 (56 bytes, class 3) is reallocated to 120 bytes
// (class 7, so it moves), block 3 is realloc(NULL, 16), block 5 is
// malloc(0), served by the large allocator.
const formatExample = pytrace.FormatExample

// cap16 .. are the blocks a 16 KiB pool holds after its 48-byte header:
// (16384-48)/size, CPython's NUMBLOCKS.
const (
	cap16  = 1021
	cap48  = 340
	cap64  = 255
	cap128 = 127
)

// rows gives the expected non-empty rows of a dump: class -> {pools, in
// use, avail}.
type rows map[int][3]int

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name       string
		trace      string
		statsAt    []int
		atEnd      bool
		wantOps    int
		wantLive   int
		wantPeak   uint64
		wantDumps  map[int]rows // op -> rows, in op order
		wantDumpAt []int
		noArena    bool // only requests the large allocator serves
	}{
		{
			name: "format example", trace: formatExample, statsAt: []int{1, 4}, atEnd: true,
			wantOps: 7, wantLive: 2, wantPeak: 48 + 16 + 120, // after op 4
			wantDumpAt: []int{1, 4, 7},
			wantDumps: map[int]rows{
				1: {3: {1, 1, cap64 - 1}},
				// block 1 left class 3 (its pool is empty again) for class 7
				4: {0: {1, 1, cap16 - 1}, 2: {1, 1, cap48 - 1}, 7: {1, 1, cap128 - 1}},
				// block 5 (0 bytes) is live but in no pool
				7: {7: {1, 1, cap128 - 1}},
			},
		},
		{
			name: "calloc", trace: "c 1 3 16\nc 2 0 9\nf 1\nc 3 1 512\n", statsAt: []int{1}, atEnd: true,
			wantOps: 4, wantLive: 2, wantPeak: 512,
			wantDumpAt: []int{1, 4},
			wantDumps: map[int]rows{
				1: {2: {1, 1, cap48 - 1}},
				4: {31: {1, 1, (16384-48)/512 - 1}},
			},
		},
		{
			name: "realloc of NULL", trace: "r 0 1 100\nr 0 2 0\nr 1 3 90\n", atEnd: true,
			wantOps: 3, wantLive: 2, wantPeak: 100,
			wantDumpAt: []int{3},
			// 90 <= 112 and 4*90 > 3*112: the block stays in place (class 6)
			wantDumps: map[int]rows{3: {6: {1, 1, (16384-48)/112 - 1}}},
		},
		{
			name: "size-0 malloc", trace: "m 1 0\nm 2 0\nf 1\n", statsAt: []int{2, 3},
			wantOps: 3, wantLive: 1, wantPeak: 0,
			wantDumpAt: []int{2, 3},
			wantDumps:  map[int]rows{2: {}, 3: {}},
			noArena:    true,
		},
		{
			name: "no dumps", trace: formatExample,
			wantOps: 7, wantLive: 2, wantPeak: 184,
		},
		{
			name: "last point is the last op, dumped once", trace: formatExample, statsAt: []int{7}, atEnd: true,
			wantOps: 7, wantLive: 2, wantPeak: 184,
			wantDumpAt: []int{7},
			wantDumps:  map[int]rows{7: {7: {1, 1, cap128 - 1}}},
		},
	} {
		for _, policy := range []obmalloc.ArenaPolicy{obmalloc.KeepArenas, obmalloc.ReleaseArenas} {
			t.Run(tc.name+"/"+policy.String(), func(t *testing.T) {
				tr := readTrace(t, "small", tc.trace)
				var out bytes.Buffer
				res, err := Run(tr, Options{Policy: policy, StatsAt: tc.statsAt, StatsAtEnd: tc.atEnd, Stats: &out})
				require.NoError(t, err)
				assert.Equal(t, "small", res.Trace)
				assert.Equal(t, tc.wantOps, res.Ops)
				assert.Equal(t, tc.wantLive, res.LiveAtEnd)
				assert.Equal(t, tc.wantPeak, res.PeakLiveBytes)
				assert.Equal(t, len(tc.wantDumpAt), res.Dumps)
				assert.True(t, res.Touch)
				assert.Equal(t, policy, res.Policy)

				secs, err := parseSections(out.String())
				require.NoError(t, err)
				require.Equal(t, tc.wantDumpAt, ops(secs))
				for _, s := range secs {
					want := tc.wantDumps[s.op]
					require.Len(t, s.stats.Classes, 32, "after op %d", s.op)
					for _, c := range s.stats.Classes {
						w := want[c.Class]
						got := [3]int{c.Pools, c.BlocksInUse, c.AvailBlocks}
						assert.Equal(t, w, got, "after op %d, class %d (pools, in use, avail)", s.op, c.Class)
						assert.Equal(t, uintptr(16*(c.Class+1)), c.Size)
					}
					assert.Zero(t, s.stats.ArenasReclaimed)
					wantArenas := 1
					if tc.noArena {
						wantArenas = 0
					}
					assert.Equal(t, wantArenas, s.stats.ArenasCurrent, "after op %d", s.op)
				}
			})
		}
	}
}

func TestRunResultLine(t *testing.T) {
	res, err := Run(readTrace(t, "example", formatExample), Options{NoTouch: true, Policy: obmalloc.ReleaseArenas})
	require.NoError(t, err)
	line := res.String()
	assert.True(t, strings.HasPrefix(line, "backend=gopymalloc trace=example ops=7 seconds="), line)
	for _, key := range []string{"seconds", "ns_per_op", "peak_live_bytes", "rss_peak_kb"} {
		assert.Contains(t, line, " "+key+"=")
	}
	assert.Contains(t, line, " peak_live_bytes=184 rss_peak_kb=")
	assert.Contains(t, line, " touch=0 arenas=release")
	assert.NotContains(t, line, "dumps=", "no dump was asked for")
	assert.NotContains(t, line, "hugepages=")
	assert.NotContains(t, line, "prefault=")
	assert.False(t, res.Touch)

	res, err = Run(readTrace(t, "example", formatExample), Options{Prefault: true})
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(res.String(), " touch=1 arenas=keep prefault=1"), res.String())

	res, err = Run(readTrace(t, "example", formatExample), Options{HugePages: true})
	require.NoError(t, err)
	advised, _ := hugePageArenas.Advised()
	assert.Equal(t, advised, res.HugePagesAdvised)
	assert.Equal(t, runtime.GOOS == "linux" && mmap.HugePageSize() != 0, advised, "the advice is taken where the kernel has huge pages")
	want := " touch=1 arenas=keep hugepages=0"
	if advised {
		want = " touch=1 arenas=keep hugepages=1"
	}
	assert.True(t, strings.HasSuffix(res.String(), want), res.String())

	// The fixed keys, in replay.c's order, with its number formats.
	r := Result{Trace: "x", Ops: 3, Seconds: 1.5, NsPerOp: 12.345, PeakLiveBytes: 9, RSSPeakKB: -1, Dumps: 2, DumpSeconds: 0.25}
	assert.Equal(t, "backend=gopymalloc trace=x ops=3 seconds=1.500000 ns_per_op=12.35 peak_live_bytes=9 rss_peak_kb=-1"+
		" peak_live_blocks=0 live_at_end=0 rss_before_kb=0 replay_rss_kb=0 touch=0 arenas=keep dumps=2 dump_seconds=0.250000", r.String())
}

func TestRunRefusesBadOptions(t *testing.T) {
	tr := readTrace(t, "example", formatExample) // 7 ops
	for _, tc := range []struct {
		name    string
		opt     Options
		wantErr string
	}{
		{"op 0", Options{StatsAt: []int{0}, Stats: &bytes.Buffer{}}, "Options.StatsAt[0] = 0: ops are counted from 1"},
		{"negative", Options{StatsAt: []int{2, -1}, Stats: &bytes.Buffer{}}, "Options.StatsAt[1] = -1: ops are counted from 1"},
		{"past the end", Options{StatsAt: []int{3, 8}, Stats: &bytes.Buffer{}}, "Options.StatsAt[1] = 8: past the last op (the trace has 7 ops)"},
		{"descending", Options{StatsAt: []int{5, 2}, Stats: &bytes.Buffer{}}, "Options.StatsAt[1] = 2: not after the previous point 5"},
		{"repeated", Options{StatsAt: []int{2, 2}, Stats: &bytes.Buffer{}}, "Options.StatsAt[1] = 2: not after the previous point 2"},
		{"no writer", Options{StatsAtEnd: true}, "Options.Stats is nil"},
		{"bad policy", Options{Policy: 7}, "Config.Policy = 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(tr, tc.opt)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Contains(t, err.Error(), "example")
		})
	}
}

// TestRunDoesNotTouchCallersPoints: appending the end op to StatsAt must
// not write into the caller's array.
func TestRunDoesNotTouchCallersPoints(t *testing.T) {
	backing := []int{2, 99}
	_, err := Run(readTrace(t, "example", formatExample), Options{StatsAt: backing[:1], StatsAtEnd: true, Stats: &bytes.Buffer{}})
	require.NoError(t, err)
	assert.Equal(t, []int{2, 99}, backing)
}

// failingWriter fails every write, to check that Run reports a lost dump
// and still cleans up.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRunReportsDumpErrors(t *testing.T) {
	_, err := Run(readTrace(t, "example", formatExample), Options{StatsAt: []int{4}, Stats: failingWriter{}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "example: writing the dump after op 4: disk full")
}

// TestLoopDoesNotAllocate: the timed loop must make no Go allocation, or
// the garbage collector would run during it and be measured.
func TestLoopDoesNotAllocate(t *testing.T) {
	// Everything allocated is freed, so the trace can be replayed again
	// and again on the same heap and table.
	tr := readTrace(t, "cycle", "m 1 24\nc 2 2 40\nr 1 3 300\nm 4 2000\nr 0 5 8\nf 2\nf 3\nr 4 6 9000\nf 6\nf 5\n")
	h, err := obmalloc.New(obmalloc.Config{})
	require.NoError(t, err)
	table, err := newIDTable(tr.MaxID)
	require.NoError(t, err)
	defer func() { require.NoError(t, teardown(h, tr.Ops, table, true)) }()
	allocs := testing.AllocsPerRun(100, func() {
		if replayOps(h, tr.Callocs, table, tr.Ops, true) != 0 {
			t.Fatal("an allocation failed")
		}
	})
	assert.Zero(t, allocs)
}
