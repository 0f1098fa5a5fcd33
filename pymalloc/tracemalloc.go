package pymalloc

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/callers"
)

// Tracing live blocks by the Go call stack that allocated them: Python's
// tracemalloc, for the three domains.
//
// StartTracing wraps each domain's allocator in a tracer, as
// tracemalloc.start() wraps them with PyMem_SetAllocator, and StopTracing
// puts the previous allocators back; while tracing is off nothing of it is
// on any call's path. A tracer records each block it hands out, keyed by
// address, with its requested size and the stack that asked for it; the
// default heap's own calls to the RAW domain (for 0-byte and large
// requests) bypass the RAW tracer, as tracemalloc's re-entrancy flag makes
// them bypass it in CPython, so every block is traced once, by the call
// the program made.

// MaxTracebackLimit is the largest number of frames StartTracing keeps per
// block (tracemalloc's MAX_NFRAME).
const MaxTracebackLimit = 65535

// Frame is one frame of a traceback: a Go source line and its function.
type Frame struct {
	File     string // the source file, as runtime.Frame names it (a full path unless built with -trimpath)
	Line     int    // its line number; 0 in the statistics of ByFile
	Function string // the package-qualified function, as runtime.Frame gives it
}

// String is "file:line", as tracemalloc prints a frame.
func (f Frame) String() string { return fmt.Sprintf("%s:%d", f.File, f.Line) }

// Traceback is where a block was allocated, most recent call first (Go's
// order; Python's Traceback object lists the oldest first), starting at
// the caller of this package's function. It holds at most the limit given
// to StartTracing.
type Traceback []Frame

// String is the most recent frame, "file:line", or "<unknown>:0".
func (t Traceback) String() string {
	if len(t) == 0 {
		return "<unknown>:0"
	}
	return t[0].String()
}

// Format returns one line per frame, most recent first, as
// `  File "file", line N in function`: tracemalloc's line, the file as it
// is, with the function added; a frame without one (a statistic grouped
// ByFile, a constructed traceback) is tracemalloc's line exactly.
func (t Traceback) Format() []string {
	lines := make([]string, len(t))
	for i, f := range t {
		lines[i] = fmt.Sprintf("  File \"%s\", line %d", f.File, f.Line)
		if f.Function != "" {
			lines[i] += " in " + f.Function
		}
	}
	return lines
}

// Trace is one traced block.
type Trace struct {
	Domain    Domain    // the domain that allocated it
	Size      uintptr   // bytes requested
	Traceback Traceback // where it was allocated
}

// String is "file:line: size", as tracemalloc's Trace prints.
func (t Trace) String() string {
	return t.Traceback.String() + ": " + formatSize(float64(t.Size), false)
}

// stack is a distinct call stack, resolved once.
type stack struct {
	// skip is the number of the allocation layers' frames at the top of the
	// captured stack, for pprof.Profile.Add.
	skip int
	tb   Traceback
}

// traceRec is the record of a traced block; id tells a record from a
// later one for the same address.
type traceRec struct {
	size   uintptr
	domain Domain
	stack  *stack
	id     uint64
}

// tracing is the tracer's state; its lock is never held while an
// allocator is called.
var tracing struct {
	on     atomic.Bool
	nframe atomic.Int32
	mu     sync.Mutex
	traces map[uintptr]traceRec
	stacks map[string]*stack
	seq    uint64
	// current and peak are the traced bytes (get_traced_memory).
	current, peak uintptr
}

// tracer is one domain's tracing hook.
type tracer struct {
	domain Domain
	next   Allocator
}

func (t *tracer) Malloc(n uintptr) unsafe.Pointer {
	p := t.next.Malloc(n)
	if p != nil && tracing.on.Load() {
		record(p, n, t.domain)
	}
	return p
}

func (t *tracer) Calloc(nelem, elsize uintptr) unsafe.Pointer {
	p := t.next.Calloc(nelem, elsize)
	if p != nil && tracing.on.Load() {
		record(p, nelem*elsize, t.domain) // no overflow: the allocation succeeded
	}
	return p
}

func (t *tracer) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	id := traceID(p)
	q := t.next.Realloc(p, n)
	if q != nil && tracing.on.Load() {
		untrace(p, id)
		record(q, n, t.domain)
	}
	return q
}

// Free forgets the trace only after the block is freed: a debug hook below
// that finds a fault reports the allocation traceback and leaves the block
// (and so its trace) alive.
func (t *tracer) Free(p unsafe.Pointer) {
	id := traceID(p)
	t.next.Free(p)
	untrace(p, id)
}

// Owns asks the allocator below.
func (t *tracer) Owns(p unsafe.Pointer) bool {
	o, ok := t.next.(owner)
	return ok && o.Owns(p)
}

// belowTracer returns the allocator under a tracer, or a itself.
func belowTracer(a Allocator) Allocator {
	if t, ok := a.(*tracer); ok {
		return t.next
	}
	return a
}

// record traces the block p of n bytes, allocated by the caller of the
// tracer's method.
//
//go:noinline
func record(p unsafe.Pointer, n uintptr, d Domain) {
	nframe := int(tracing.nframe.Load())
	var buf [64]uintptr
	pcs := buf[:]
	if need := nframe + 16; need > len(buf) {
		pcs = make([]uintptr, need)
	}
	// 0 is runtime.Callers, 1 record, 2 the tracer's method.
	pcs = pcs[:runtime.Callers(2, pcs)]
	key := pcsKey(pcs)

	tracing.mu.Lock()
	defer tracing.mu.Unlock()
	if !tracing.on.Load() {
		return
	}
	st := tracing.stacks[key]
	if st == nil {
		st = resolve(pcs, nframe)
		tracing.stacks[key] = st
	}
	a := uintptr(p)
	if old, ok := tracing.traces[a]; ok {
		// The block was freed and its address handed out again before the
		// free's untrace ran.
		tracing.current -= old.size
		liveProfile.Remove(a)
	}
	tracing.seq++
	tracing.traces[a] = traceRec{size: n, domain: d, stack: st, id: tracing.seq}
	tracing.current += n
	tracing.peak = max(tracing.peak, tracing.current)
	// Add's skip 0 is Add itself; 1 is record, 2 the tracer's method.
	liveProfile.Add(a, 2+st.skip)
}

// traceID returns the id of p's trace, or 0.
func traceID(p unsafe.Pointer) uint64 {
	if p == nil || !tracing.on.Load() {
		return 0
	}
	tracing.mu.Lock()
	defer tracing.mu.Unlock()
	return tracing.traces[uintptr(p)].id
}

// untrace forgets p's trace if it is still the one with that id.
func untrace(p unsafe.Pointer, id uint64) {
	if id == 0 {
		return
	}
	tracing.mu.Lock()
	defer tracing.mu.Unlock()
	a := uintptr(p)
	if r, ok := tracing.traces[a]; ok && r.id == id {
		delete(tracing.traces, a)
		tracing.current -= r.size
		liveProfile.Remove(a)
	}
}

// This package is an allocation layer: a traceback leaves out its frames,
// and those of the layers built on it (gcmodule), up to the program's
// first (internal/callers).
func init() { callers.RegisterLayer() }

// resolve turns a captured stack into the count of its leading frames that
// belong to the allocation layers and the program's frames after them, at
// most limit of them.
func resolve(pcs []uintptr, limit int) *stack {
	st := &stack{}
	frames := runtime.CallersFrames(pcs)
	top := true
	for {
		f, more := frames.Next()
		if top && callers.InLayer(f) {
			st.skip++
		} else if f.Function != "" && f.Function != "runtime.goexit" {
			top = false
			if len(st.tb) < limit {
				st.tb = append(st.tb, Frame{File: f.File, Line: f.Line, Function: f.Function})
			}
		}
		if !more {
			break
		}
	}
	return st
}

// userFrames is resolve's traceback alone, for stacks kept elsewhere.
func userFrames(pcs []uintptr, limit int) Traceback {
	if i := slices.Index(pcs, 0); i >= 0 {
		pcs = pcs[:i]
	}
	return resolve(pcs, limit).tb
}

// hooksMu serialises the changes of the domains' allocators made by this
// package (debug hooks, tracing).
var hooksMu sync.Mutex

// StartTracing starts tracing the blocks of the three domains, keeping up
// to nframe frames of the stack that allocated each (tracemalloc.start).
// Blocks allocated before are not traced. When tracing is already on, it
// does nothing, not even change the limit, as tracemalloc.start does. It
// returns an error when nframe is not in 1..MaxTracebackLimit.
//
// Tracing costs a stack capture and a map update per call; off, it costs
// nothing: the tracers are removed from the domains.
func StartTracing(nframe int) error {
	if nframe < 1 || nframe > MaxTracebackLimit {
		return fmt.Errorf("pymalloc: StartTracing(%d): the number of frames must be in 1..%d", nframe, MaxTracebackLimit)
	}
	hooksMu.Lock()
	defer hooksMu.Unlock()
	tracing.mu.Lock()
	if tracing.on.Load() {
		tracing.mu.Unlock()
		return nil
	}
	tracing.traces = map[uintptr]traceRec{}
	tracing.stacks = map[string]*stack{}
	tracing.current, tracing.peak = 0, 0
	tracing.nframe.Store(int32(nframe))
	tracing.on.Store(true)
	tracing.mu.Unlock()
	for _, d := range []Domain{DomainRaw, DomainMem, DomainObj} {
		domains[d].Store(&holder{&tracer{domain: d, next: domains[d].Load().a}})
	}
	return nil
}

// StopTracing stops tracing and forgets every trace (tracemalloc.stop).
// A domain whose tracer has since been wrapped by another hook keeps the
// tracer, which passes calls through.
func StopTracing() {
	hooksMu.Lock()
	defer hooksMu.Unlock()
	if !tracing.on.Load() {
		return
	}
	for _, d := range []Domain{DomainRaw, DomainMem, DomainObj} {
		if t, ok := domains[d].Load().a.(*tracer); ok {
			domains[d].Store(&holder{t.next})
		}
	}
	tracing.mu.Lock()
	tracing.on.Store(false)
	clearTracesLocked()
	tracing.mu.Unlock()
}

// clearTracesLocked forgets every trace; tracing.mu is held.
func clearTracesLocked() {
	for a := range tracing.traces {
		liveProfile.Remove(a)
	}
	tracing.traces = map[uintptr]traceRec{}
	tracing.stacks = map[string]*stack{}
	tracing.current, tracing.peak = 0, 0
}

// ClearTraces forgets the traces recorded so far and resets the traced
// memory to zero, tracing on (tracemalloc.clear_traces).
func ClearTraces() {
	tracing.mu.Lock()
	defer tracing.mu.Unlock()
	if tracing.on.Load() {
		clearTracesLocked()
	}
}

// IsTracing reports whether tracing is on (tracemalloc.is_tracing).
func IsTracing() bool { return tracing.on.Load() }

// TracebackLimit is the number of frames kept per block
// (tracemalloc.get_traceback_limit): the limit of the latest StartTracing
// that started tracing, kept after StopTracing, and 1, CPython's default,
// before the first.
func TracebackLimit() int {
	if n := int(tracing.nframe.Load()); n > 0 {
		return n
	}
	return 1
}

// TracedMemory returns the bytes of the traced blocks now and at their
// peak since tracing started or ResetPeak (tracemalloc.get_traced_memory);
// 0, 0 when tracing is off.
func TracedMemory() (current, peak uintptr) {
	tracing.mu.Lock()
	defer tracing.mu.Unlock()
	return tracing.current, tracing.peak
}

// ResetPeak makes the peak the current traced size (tracemalloc.reset_peak).
func ResetPeak() {
	tracing.mu.Lock()
	defer tracing.mu.Unlock()
	tracing.peak = tracing.current
}

// BlockTraceback returns where the traced block p was allocated, or nil
// when p is not a traced block (tracemalloc.get_object_traceback).
func BlockTraceback(p unsafe.Pointer) Traceback {
	tracing.mu.Lock()
	defer tracing.mu.Unlock()
	if r, ok := tracing.traces[uintptr(p)]; ok {
		return r.stack.tb
	}
	return nil
}

// Snapshot is the traces of the live blocks at one moment
// (tracemalloc.Snapshot).
type Snapshot struct {
	// Traces has one trace per live traced block, in no particular order.
	Traces []Trace
	// TracebackLimit is the limit in force when the snapshot was taken.
	TracebackLimit int
}

// ErrNotTracing is TakeSnapshot's error when tracing is off.
var ErrNotTracing = errors.New("pymalloc: tracing must be on to take a snapshot (StartTracing)")

// TakeSnapshot returns the traces of the blocks live now, in no particular
// order (tracemalloc.take_snapshot).
func TakeSnapshot() (*Snapshot, error) {
	tracing.mu.Lock()
	defer tracing.mu.Unlock()
	if !tracing.on.Load() {
		return nil, ErrNotTracing
	}
	s := &Snapshot{Traces: make([]Trace, 0, len(tracing.traces)), TracebackLimit: TracebackLimit()}
	for _, r := range tracing.traces {
		s.Traces = append(s.Traces, Trace{Domain: r.domain, Size: r.size, Traceback: r.stack.tb})
	}
	return s, nil
}

// Filter returns a snapshot with the traces for which keep is true
// (Snapshot.filter_traces, with a function for Python's Filter objects).
func (s *Snapshot) Filter(keep func(Trace) bool) *Snapshot {
	out := &Snapshot{TracebackLimit: s.TracebackLimit}
	for _, t := range s.Traces {
		if keep(t) {
			out.Traces = append(out.Traces, t)
		}
	}
	return out
}

// GroupBy is how Statistics groups traces (tracemalloc's key_type).
type GroupBy int

const (
	// ByLine groups by the most recent frame ('lineno').
	ByLine GroupBy = iota
	// ByFile groups by the most recent frame's file ('filename'); the
	// statistic's frame has line 0.
	ByFile
	// ByTraceback groups by the whole traceback ('traceback').
	ByTraceback
)

func (g GroupBy) String() string {
	switch g {
	case ByLine:
		return "lineno"
	case ByFile:
		return "filename"
	case ByTraceback:
		return "traceback"
	}
	return fmt.Sprintf("GroupBy(%d)", int(g))
}

// Statistic is the blocks of one group (tracemalloc.Statistic).
type Statistic struct {
	Traceback Traceback // the group's key: one frame, or the whole traceback for ByTraceback
	Size      uintptr   // bytes requested by the group's blocks
	Count     int       // blocks
}

// String is tracemalloc's: "file:line: size=1024 B, count=3, average=341 B".
func (s Statistic) String() string {
	text := fmt.Sprintf("%s: size=%s, count=%d", s.Traceback, formatSize(float64(s.Size), false), s.Count)
	if s.Count != 0 {
		text += ", average=" + formatSize(float64(s.Size)/float64(s.Count), false)
	}
	return text
}

// StatisticDiff is one group's change between two snapshots
// (tracemalloc.StatisticDiff).
type StatisticDiff struct {
	Traceback Traceback // the group's key, as in Statistic
	Size      uintptr   // bytes in the newer snapshot (0 for a group that is gone)
	SizeDiff  int64     // newer minus older, in bytes
	Count     int       // blocks in the newer snapshot
	CountDiff int       // newer minus older, in blocks
}

// String is tracemalloc's: "file:line: size=3200 B (+3200 B), count=100 (+100), average=32 B".
func (s StatisticDiff) String() string {
	text := fmt.Sprintf("%s: size=%s (%s), count=%d (%+d)", s.Traceback,
		formatSize(float64(s.Size), false), formatSize(float64(s.SizeDiff), true), s.Count, s.CountDiff)
	if s.Count != 0 {
		text += ", average=" + formatSize(float64(s.Size)/float64(s.Count), false)
	}
	return text
}

// groupBy is Snapshot._group_by. cumulative counts a block once for every
// frame of its traceback (ByLine and ByFile only).
func (s *Snapshot) groupBy(by GroupBy, cumulative bool) map[string]*Statistic {
	if by != ByLine && by != ByFile && by != ByTraceback {
		panic(fmt.Sprintf("pymalloc: unknown GroupBy %d", int(by)))
	}
	if cumulative && by == ByTraceback {
		panic("pymalloc: cumulative statistics cannot be grouped ByTraceback")
	}
	stats := map[string]*Statistic{}
	add := func(tb Traceback, size uintptr) {
		k := tracebackKey(tb)
		st := stats[k]
		if st == nil {
			st = &Statistic{Traceback: tb}
			stats[k] = st
		}
		st.Size += size
		st.Count++
	}
	frameKey := func(f Frame) Traceback {
		if by == ByFile {
			return Traceback{{File: f.File}}
		}
		return Traceback{f}
	}
	for _, t := range s.Traces {
		tb := t.Traceback
		if len(tb) == 0 {
			tb = Traceback{{File: "<unknown>"}}
		}
		switch {
		case cumulative:
			for _, f := range tb {
				add(frameKey(f), t.Size)
			}
		case by == ByTraceback:
			add(tb, t.Size)
		default:
			add(frameKey(tb[0]), t.Size)
		}
	}
	return stats
}

// tracebackKey identifies a traceback as tracemalloc does, by the file
// and line of each frame: two functions on one line (Go closures) are one
// frame to it. The first traceback met under a key is the one shown.
func tracebackKey(tb Traceback) string {
	var b strings.Builder
	for _, f := range tb {
		fmt.Fprintf(&b, "%s\x00%d\x01", f.File, f.Line)
	}
	return b.String()
}

// compareTracebacks orders tracebacks as Python orders their frame tuples,
// which hold the oldest frame first: Traceback holds the most recent
// first, so the frames are compared from the end.
func compareTracebacks(a, b Traceback) int {
	for i, j := len(a)-1, len(b)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := strings.Compare(a[i].File, b[j].File); c != 0 {
			return c
		}
		if a[i].Line != b[j].Line {
			return a[i].Line - b[j].Line
		}
	}
	return len(a) - len(b)
}

// Statistics groups the traces and sorts the groups biggest first (by
// size, then count, then traceback, as tracemalloc does). It panics on an
// unknown GroupBy and on cumulative with ByTraceback, as Python raises.
func (s *Snapshot) Statistics(by GroupBy, cumulative bool) []Statistic {
	grouped := s.groupBy(by, cumulative)
	out := make([]Statistic, 0, len(grouped))
	for _, st := range grouped {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b Statistic) int {
		switch {
		case a.Size != b.Size:
			return cmpDesc(a.Size, b.Size)
		case a.Count != b.Count:
			return cmpDesc(a.Count, b.Count)
		}
		return -compareTracebacks(a.Traceback, b.Traceback)
	})
	return out
}

// CompareTo returns how each group changed since old, biggest change
// first (tracemalloc's Snapshot.compare_to).
func (s *Snapshot) CompareTo(old *Snapshot, by GroupBy, cumulative bool) []StatisticDiff {
	newG := s.groupBy(by, cumulative)
	oldG := old.groupBy(by, cumulative)
	var out []StatisticDiff
	for k, st := range newG {
		d := StatisticDiff{Traceback: st.Traceback, Size: st.Size, SizeDiff: int64(st.Size), Count: st.Count, CountDiff: st.Count}
		if prev := oldG[k]; prev != nil {
			d.SizeDiff -= int64(prev.Size)
			d.CountDiff -= prev.Count
			delete(oldG, k)
		}
		out = append(out, d)
	}
	for _, st := range oldG {
		out = append(out, StatisticDiff{Traceback: st.Traceback, SizeDiff: -int64(st.Size), CountDiff: -st.Count})
	}
	slices.SortFunc(out, func(a, b StatisticDiff) int {
		switch {
		case abs(a.SizeDiff) != abs(b.SizeDiff):
			return cmpDesc(abs(a.SizeDiff), abs(b.SizeDiff))
		case a.Size != b.Size:
			return cmpDesc(a.Size, b.Size)
		case abs(int64(a.CountDiff)) != abs(int64(b.CountDiff)):
			return cmpDesc(abs(int64(a.CountDiff)), abs(int64(b.CountDiff)))
		case a.Count != b.Count:
			return cmpDesc(a.Count, b.Count)
		}
		return -compareTracebacks(a.Traceback, b.Traceback)
	})
	return out
}

func cmpDesc[T int | int64 | uintptr](a, b T) int {
	if a > b {
		return -1
	}
	return 1
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// formatSize is tracemalloc's _format_size: "512 B", "12.5 KiB",
// "1536 KiB", with a sign when asked.
func formatSize(size float64, sign bool) string {
	fmtNum := func(prec int, unit string) string {
		if sign {
			return fmt.Sprintf("%+.*f %s", prec, size, unit)
		}
		return fmt.Sprintf("%.*f %s", prec, size, unit)
	}
	for _, unit := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if math.Abs(size) < 100 && unit != "B" {
			return fmtNum(1, unit)
		}
		if math.Abs(size) < 10*1024 || unit == "TiB" {
			return fmtNum(0, unit)
		}
		size /= 1024
	}
	panic("unreachable")
}
