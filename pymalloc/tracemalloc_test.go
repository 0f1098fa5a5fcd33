package pymalloc

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of tracing: tracemalloc's API and figures, the pprof profile, and
// that tracing off leaves nothing on the path.

// withTracing starts tracing for one test and stops it at the end.
func withTracing(t testing.TB, nframe int) {
	t.Helper()
	require.NoError(t, StartTracing(nframe))
	t.Cleanup(StopTracing)
}

// here returns the line of its caller.
func here() int {
	_, _, line, _ := runtime.Caller(1)
	return line
}

func TestTracingStartStop(t *testing.T) {
	require.False(t, IsTracing())
	if tracing.nframe.Load() == 0 {
		assert.Equal(t, 1, TracebackLimit(), "CPython's default before the first start")
	}
	_, err := TakeSnapshot()
	assert.ErrorIs(t, err, ErrNotTracing)
	assert.Error(t, StartTracing(0))
	assert.Error(t, StartTracing(MaxTracebackLimit+1))
	before := [3]Allocator{GetAllocator(DomainRaw), GetAllocator(DomainMem), GetAllocator(DomainObj)}

	require.NoError(t, StartTracing(3))
	assert.True(t, IsTracing())
	assert.Equal(t, 3, TracebackLimit())
	for d := range before {
		assert.IsType(t, &tracer{}, GetAllocator(Domain(d)))
	}
	assert.Equal(t, "", AllocatorName(), "no name while tracing, as CPython's RuntimeError")
	require.NoError(t, StartTracing(5), "again: nothing changes, as tracemalloc.start(5) after start(3)")
	assert.Equal(t, 3, TracebackLimit())
	assert.IsType(t, &tracer{}, GetAllocator(DomainObj))
	_, nested := GetAllocator(DomainObj).(*tracer).next.(*tracer)
	assert.False(t, nested, "no tracer under a tracer")
	p := Malloc(10)
	StopTracing()
	StopTracing()
	assert.Equal(t, 3, TracebackLimit(), "the limit outlives tracing, as in CPython")
	assert.Equal(t, "pymalloc", AllocatorName(), "the name is back once tracing stops")

	// Off, it costs nothing: the domains hold exactly what they held.
	for d, a := range before {
		assert.Same(t, a, GetAllocator(Domain(d)))
	}
	cur, peak := TracedMemory()
	assert.Zero(t, cur+peak)
	assert.Nil(t, BlockTraceback(p), "traces are forgotten")
	assert.Zero(t, LiveProfile().Count())
	Free(p) // a block traced before is freed untraced
}

func TestTracedMemory(t *testing.T) {
	withTracing(t, 1)
	p := Malloc(100)
	q := MemMalloc(1000)
	r := RawMalloc(50)
	cur, peak := TracedMemory()
	assert.Equal(t, [2]uintptr{1150, 1150}, [2]uintptr{cur, peak})
	MemFree(q)
	cur, peak = TracedMemory()
	assert.Equal(t, [2]uintptr{150, 1150}, [2]uintptr{cur, peak})
	ResetPeak()
	p = Realloc(p, 300)
	c := Calloc(10, 10)
	cur, peak = TracedMemory()
	assert.Equal(t, [2]uintptr{450, 450}, [2]uintptr{cur, peak})
	assert.Equal(t, 3, LiveProfile().Count())
	ClearTraces()
	cur, peak = TracedMemory()
	assert.Zero(t, cur+peak)
	s, err := TakeSnapshot()
	require.NoError(t, err)
	assert.Empty(t, s.Traces)
	Free(p)
	Free(c)
	RawFree(r)
	cur, _ = TracedMemory()
	assert.Zero(t, cur, "untraced blocks are freed without a trace to drop")
}

// A block is traced once, by the call the program made, even when the
// default heap passes the request to the RAW domain (size 0, > 512 bytes),
// and even with the debug hooks nesting a RAW block under it.
func TestTracedOnce(t *testing.T) {
	for _, hooks := range []bool{false, true} {
		if hooks {
			withDebugHooks(t)
		}
		withTracing(t, 1)
		var ps []unsafe.Pointer
		for _, n := range []uintptr{0, 10, 5000, 1 << 20} {
			ps = append(ps, Malloc(n))
		}
		s, err := TakeSnapshot()
		require.NoError(t, err)
		require.Len(t, s.Traces, 4, "hooks=%v", hooks)
		for _, tr := range s.Traces {
			assert.Equal(t, DomainObj, tr.Domain)
		}
		cur, _ := TracedMemory()
		assert.Equal(t, uintptr(10+5000+1<<20), cur)
		for _, p := range ps {
			Free(p)
		}
		StopTracing()
	}
}

func allocA(n int) []unsafe.Pointer { // 100-byte blocks
	var ps []unsafe.Pointer
	for range n {
		ps = append(ps, Malloc(100))
	}
	return ps
}

func allocB(n int) []unsafe.Pointer { // 40-byte blocks
	var ps []unsafe.Pointer
	for range n {
		ps = append(ps, MemMalloc(40))
	}
	return ps
}

func callsBoth() ([]unsafe.Pointer, []unsafe.Pointer) { return allocA(3), allocB(10) }

func TestSnapshotStatistics(t *testing.T) {
	withTracing(t, 5)
	a, b := callsBoth()
	s, err := TakeSnapshot()
	require.NoError(t, err)
	assert.Equal(t, 5, s.TracebackLimit)

	byLine := s.Statistics(ByLine, false)
	require.Len(t, byLine, 2)
	assert.Equal(t, "allocB", funcName(byLine[0].Traceback[0]), "400 bytes before 300")
	assert.Equal(t, uintptr(400), byLine[0].Size)
	assert.Equal(t, 10, byLine[0].Count)
	assert.True(t, strings.HasSuffix(byLine[0].String(), "tracemalloc_test.go:"+strconv.Itoa(byLine[0].Traceback[0].Line)+": size=400 B, count=10, average=40 B"), byLine[0].String())
	assert.Equal(t, uintptr(300), byLine[1].Size)

	byFile := s.Statistics(ByFile, false)
	require.Len(t, byFile, 1)
	assert.Equal(t, 0, byFile[0].Traceback[0].Line)
	assert.Equal(t, 13, byFile[0].Count)

	byTB := s.Statistics(ByTraceback, false)
	require.Len(t, byTB, 2)
	assert.Equal(t, []string{"allocB", "callsBoth", "TestSnapshotStatistics"}, funcNames(byTB[0].Traceback[:3]))

	// Cumulative: a block counts for every frame of its traceback, so the
	// caller of both helpers gets all of it.
	cum := s.Statistics(ByLine, true)
	assert.Equal(t, uintptr(700), statFor(cum, "TestSnapshotStatistics").Size)
	assert.Equal(t, uintptr(700), statFor(cum, "callsBoth").Size)
	assert.Equal(t, uintptr(300), statFor(cum, "allocA").Size)
	for _, st := range s.Statistics(ByFile, true) {
		if strings.HasSuffix(st.Traceback[0].File, "/tracemalloc_test.go") {
			assert.Equal(t, 3*13, st.Count, "three frames of each block are in this file")
		}
	}
	assert.Panics(t, func() { s.Statistics(ByTraceback, true) })
	assert.Panics(t, func() { s.Statistics(GroupBy(9), false) })

	onlyMem := s.Filter(func(tr Trace) bool { return tr.Domain == DomainMem })
	assert.Len(t, onlyMem.Traces, 10)

	// compare_to: free two of A, add five more of B.
	Free(a[0])
	Free(a[1])
	b2 := allocB(5)
	s2, err := TakeSnapshot()
	require.NoError(t, err)
	diff := s2.CompareTo(s, ByLine, false)
	require.Len(t, diff, 2)
	assert.Equal(t, "allocB", funcName(diff[0].Traceback[0]))
	assert.Equal(t, StatisticDiff{Traceback: diff[0].Traceback, Size: 600, SizeDiff: 200, Count: 15, CountDiff: 5}, diff[0])
	assert.Equal(t, int64(-200), diff[1].SizeDiff)
	assert.Contains(t, diff[0].String(), ": size=600 B (+200 B), count=15 (+5), average=40 B")
	assert.Contains(t, diff[1].String(), ": size=100 B (-200 B), count=1 (-2), average=100 B")

	for _, p := range append(append(b, b2...), a[2]) {
		Free(p)
	}
	s3, err := TakeSnapshot()
	require.NoError(t, err)
	gone := s3.CompareTo(s, ByLine, false)
	require.Len(t, gone, 2)
	assert.Equal(t, StatisticDiff{Traceback: gone[0].Traceback, SizeDiff: -400, CountDiff: -10}, gone[0])
	assert.True(t, strings.HasSuffix(gone[0].String(), ": size=0 B (-400 B), count=0 (-10)"), "no average when count is 0")
}

func funcName(f Frame) string { return f.Function[strings.LastIndex(f.Function, ".")+1:] }

func funcNames(tb Traceback) []string {
	var s []string
	for _, f := range tb {
		s = append(s, funcName(f))
	}
	return s
}

func statFor(stats []Statistic, fn string) Statistic {
	for _, s := range stats {
		if funcName(s.Traceback[0]) == fn {
			return s
		}
	}
	return Statistic{}
}

func TestBlockTraceback(t *testing.T) {
	withTracing(t, 2)
	p, line := New[[4]int64](), here()
	tb := BlockTraceback(unsafe.Pointer(p))
	require.Len(t, tb, 2)
	assert.Equal(t, line, tb[0].Line)
	assert.True(t, strings.HasSuffix(tb[0].File, "/tracemalloc_test.go"))
	assert.Equal(t, "github.com/gopymalloc/gopymalloc/pymalloc.TestBlockTraceback", tb[0].Function)
	assert.Equal(t, "testing.tRunner", tb[1].Function)
	assert.Equal(t, `  File "`+tb[0].File+`", line `+strconv.Itoa(line)+` in github.com/gopymalloc/gopymalloc/pymalloc.TestBlockTraceback`, tb.Format()[0])
	Delete(p)
	assert.Nil(t, BlockTraceback(unsafe.Pointer(p)))
	assert.Equal(t, "<unknown>:0", Traceback(nil).String())
	assert.Equal(t, "<unknown>:0: 8 B", Trace{Size: 8}.String())
}

// The profile's top frame is the program's call, not this package.
func TestLiveProfile(t *testing.T) {
	withTracing(t, 1)
	p := Malloc(33)
	assert.Equal(t, 1, LiveProfile().Count())
	var buf bytes.Buffer
	require.NoError(t, LiveProfile().WriteTo(&buf, 1))
	text := buf.String()
	assert.True(t, strings.HasPrefix(text, "gopymalloc.live profile: total 1\n"), text)
	first := strings.Split(text, "\n")[2] // the header, the count line, the top frame
	assert.Contains(t, first, "pymalloc.TestLiveProfile+", text)
	buf.Reset()
	require.NoError(t, LiveProfile().WriteTo(&buf, 0), "the proto form, for go tool pprof")
	assert.NotZero(t, buf.Len())
	Free(p)
	assert.Zero(t, LiveProfile().Count())
}

func TestFormatSize(t *testing.T) {
	// python3 -c 'import tracemalloc as t; print(t._format_size(v, False), t._format_size(v, True))'
	for _, c := range []struct {
		v          float64
		plain, sgn string
	}{
		{0, "0 B", "+0 B"}, {1, "1 B", "+1 B"}, {99, "99 B", "+99 B"}, {100, "100 B", "+100 B"},
		{1023, "1023 B", "+1023 B"}, {10239, "10239 B", "+10239 B"}, {10240, "10.0 KiB", "+10.0 KiB"},
		{102399, "100.0 KiB", "+100.0 KiB"}, {102400, "100 KiB", "+100 KiB"}, {1048575, "1024 KiB", "+1024 KiB"},
		{5242880, "5120 KiB", "+5120 KiB"}, {157286400, "150 MiB", "+150 MiB"},
		{21990232555520000, "20000 TiB", "+20000 TiB"}, {1.5, "2 B", "+2 B"}, {341.3333, "341 B", "+341 B"},
		{1572864, "1536 KiB", "+1536 KiB"}, {-20480, "-20.0 KiB", "-20.0 KiB"},
	} {
		assert.Equal(t, c.plain, formatSize(c.v, false), "%v", c.v)
		assert.Equal(t, c.sgn, formatSize(c.v, true), "%v", c.v)
	}
}

// Tracing, snapshots and the debug hooks from many goroutines: under
// -race this checks the Go-side bookkeeping (the race detector does not
// see the off-heap blocks themselves).
func TestTracingAndHooksConcurrent(t *testing.T) {
	withDebugHooks(t)
	withTracing(t, 4)
	before := AllocatedBlocks()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			type block struct {
				p unsafe.Pointer
				f family
			}
			var live []block
			for i := range 3000 {
				f := families[(g+i)%3]
				p := f.malloc(uintptr((i * 37) % 700))
				if i%4 == 0 {
					p = f.realloc(p, uintptr(i%900))
				}
				live = append(live, block{p, f})
				if len(live) > 50 {
					for _, b := range live {
						b.f.free(b.p)
					}
					live = live[:0]
				}
				if i%500 == 0 {
					_, _ = TakeSnapshot()
					_, _ = TracedMemory()
				}
			}
			for _, b := range live {
				b.f.free(b.p)
			}
		}()
	}
	wg.Wait()
	cur, _ := TracedMemory()
	assert.Zero(t, cur)
	assert.Zero(t, LiveProfile().Count())
	FlushQuarantine()
	assert.Equal(t, before, AllocatedBlocks())
}

// Statistics key frames by file and line, as tracemalloc does, so two Go
// functions on one line (closures) are one frame; and ties are ordered by
// the tracebacks taken oldest frame first, as Python compares its frame
// tuples. Python 3.11.7 on the same constructed traces: one 'lineno'
// entry of 25 B, count 3; and, both 100 B, the traceback whose frames
// from the oldest read (a.py:1, a.py:30, a.py:10) before the one that
// reads (a.py:1, a.py:29, a.py:20).
func TestStatisticsKeysAndTiesAsPython(t *testing.T) {
	tb := func(fr ...Frame) Traceback { return Traceback(fr) }
	s := &Snapshot{TracebackLimit: 1, Traces: []Trace{
		{Size: 10, Traceback: tb(Frame{File: "a.py", Line: 7, Function: "f1"})},
		{Size: 5, Traceback: tb(Frame{File: "a.py", Line: 7, Function: "f1"})},
		{Size: 10, Traceback: tb(Frame{File: "a.py", Line: 7, Function: "f2"})},
	}}
	st := s.Statistics(ByLine, false)
	require.Len(t, st, 1)
	assert.Equal(t, "a.py:7: size=25 B, count=3, average=8 B", st[0].String())
	require.Len(t, s.CompareTo(&Snapshot{}, ByTraceback, false), 1)

	// Most recent frame first, as Traceback holds them.
	a := tb(Frame{File: "a.py", Line: 10}, Frame{File: "a.py", Line: 30}, Frame{File: "a.py", Line: 1})
	b := tb(Frame{File: "a.py", Line: 20}, Frame{File: "a.py", Line: 29}, Frame{File: "a.py", Line: 1})
	s = &Snapshot{TracebackLimit: 3, Traces: []Trace{{Size: 100, Traceback: b}, {Size: 100, Traceback: a}}}
	st = s.Statistics(ByTraceback, false)
	require.Len(t, st, 2)
	assert.Equal(t, a, st[0].Traceback)
	assert.Equal(t, b, st[1].Traceback)
}

// CPython 3.11 prints no pymalloc section under -X tracemalloc: the
// tracer's hook sits on top, so pymalloc does not look active; nor does
// WriteDebugMallocStats while tracing. Stats still answers.
func TestNoDebugMallocStatsWhileTracing(t *testing.T) {
	var dump bytes.Buffer
	require.NoError(t, WriteDebugMallocStats(&dump))
	assert.NotZero(t, dump.Len())
	require.NoError(t, StartTracing(1))
	p := Malloc(10)
	dump.Reset()
	require.NoError(t, WriteDebugMallocStats(&dump))
	assert.Zero(t, dump.Len())
	assert.NotZero(t, Stats().ArenasAllocatedTotal)
	Free(p)
	StopTracing()
}

// The peak is the highest traced size since the start: frees and smaller
// allocations after it do not lower it.
func TestTracedPeakSurvivesFrees(t *testing.T) {
	withTracing(t, 1)
	p := Malloc(100)
	Free(p)
	q := Malloc(10)
	defer Free(q)
	cur, peak := TracedMemory()
	assert.Equal(t, [2]uintptr{10, 100}, [2]uintptr{cur, peak})
}

// The tie-breaks of Statistics and CompareTo, against CPython 3.11's
// tracemalloc given the same traces:
//
//	Snapshot([(0,100,(('a.py',1),),1), (0,50,(('b.py',2),),1), ...], 1).statistics('lineno')
func TestStatisticsTieBreaksAsPython(t *testing.T) {
	tr := func(size uintptr, file string, line int) Trace {
		return Trace{Size: size, Traceback: Traceback{{File: file, Line: line}}}
	}
	snap := func(ts ...Trace) *Snapshot { return &Snapshot{TracebackLimit: 1, Traces: ts} }
	strs := func(st []StatisticDiff) []string {
		out := make([]string, len(st))
		for i, s := range st {
			out[i] = s.String()
		}
		return out
	}

	// Equal sizes: the larger count first.
	st := snap(tr(100, "a.py", 1), tr(50, "b.py", 2), tr(50, "b.py", 2)).Statistics(ByLine, false)
	require.Len(t, st, 2)
	assert.Equal(t, "b.py:2: size=100 B, count=2, average=50 B", st[0].String())
	assert.Equal(t, "a.py:1: size=100 B, count=1, average=100 B", st[1].String())

	// Equal size changes: the larger size first, then the larger count change.
	old := snap(tr(100, "a.py", 1), tr(10, "c.py", 3))
	cur := snap(tr(200, "a.py", 1), tr(100, "b.py", 2), tr(10, "c.py", 3), tr(10, "c.py", 3), tr(10, "d.py", 4), tr(10, "d.py", 4))
	assert.Equal(t, []string{
		"a.py:1: size=200 B (+100 B), count=1 (+0), average=200 B",
		"b.py:2: size=100 B (+100 B), count=1 (+1), average=100 B",
		"d.py:4: size=20 B (+20 B), count=2 (+2), average=10 B",
		"c.py:3: size=20 B (+10 B), count=2 (+1), average=10 B",
	}, strs(cur.CompareTo(old, ByLine, false)))

	// Equal size changes and sizes: the larger count change first.
	old = snap(tr(30, "a.py", 1), tr(10, "b.py", 2), tr(10, "b.py", 2), tr(10, "b.py", 2))
	cur = snap(tr(30, "a.py", 1), tr(30, "a.py", 1), tr(60, "b.py", 2))
	assert.Equal(t, []string{
		"b.py:2: size=60 B (+30 B), count=1 (-2), average=60 B",
		"a.py:1: size=60 B (+30 B), count=2 (+1), average=30 B",
	}, strs(cur.CompareTo(old, ByLine, false)))
}

//go:noinline
func allocDeep(depth int) unsafe.Pointer {
	if depth == 0 {
		return Malloc(8)
	}
	return allocDeep(depth - 1)
}

// A limit above the 64-frame stack buffer keeps that many frames of a
// deeper stack, this package's own frames at the top not counted.
func TestTracebackLimitAboveBuffer(t *testing.T) {
	withTracing(t, 100)
	p := allocDeep(150)
	defer Free(p)
	tb := BlockTraceback(p)
	require.Len(t, tb, 100)
	for _, f := range tb {
		assert.Equal(t, "allocDeep", funcName(f))
	}
}

// reallocatingFree is a MEM allocator whose Free, once armed, allocates
// again through the MEM domain right after freeing: the new block may
// take the freed address before the tracer drops the old trace.
type reallocatingFree struct {
	Allocator
	armed bool
	got   unsafe.Pointer
}

func (r *reallocatingFree) Free(p unsafe.Pointer) {
	r.Allocator.Free(p)
	if r.armed {
		r.armed = false
		r.got = MemMalloc(24)
	}
}

// The tracer drops a freed block's trace only if it is still that
// block's: a trace made meanwhile at the same address stays.
func TestUntraceKeepsANewerTrace(t *testing.T) {
	prev := mem()
	below := &reallocatingFree{Allocator: prev}
	SetAllocator(DomainMem, below)
	t.Cleanup(func() { SetAllocator(DomainMem, prev) })
	withTracing(t, 16)
	p := MemMalloc(24)
	below.armed = true
	MemFree(p)
	require.Equal(t, p, below.got, "the pool hands the freed block out again")
	defer MemFree(below.got)
	// Its traceback starts at the allocator's Free, and keeps this
	// package's frames under it (MemFree): only those at the top are cut.
	names := funcNames(BlockTraceback(below.got))
	require.NotEmpty(t, names, "the new block's trace")
	assert.Equal(t, "Free", names[0])
	assert.Contains(t, names, "MemFree")
	assert.Contains(t, names, "TestUntraceKeepsANewerTrace")
	cur, _ := TracedMemory()
	assert.Equal(t, uintptr(24), cur)
}
