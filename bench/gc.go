package bench

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"
	"unsafe"
)

// Go GC impact: how long a forced runtime.GC() takes while a program holds
// many small blocks from a backend. An off-heap block is held by a uintptr
// handle in a pointer-free slice, which the collector does not scan, so it
// should cost nothing; a Go-heap block is held by a pointer in a slice
// that the collector scans, and every block is an object to mark. The
// "empty" heap is the baseline: no blocks and no handles.

// EmptyHeap names the baseline of the GC measurement.
const EmptyHeap = "empty"

// GCOptions say what the GC measurement holds and how often it collects.
type GCOptions struct {
	Blocks      int     // live blocks (5,000,000 in the issue)
	Size        uintptr // bytes per block (64 in the issue)
	Collections int     // timed runtime.GC() calls per run
	// WarmUp is the busy time before the timed collections (see warmUp).
	WarmUp time.Duration
}

// DefaultGCOptions are the figures: 5,000,000 blocks of 64 bytes.
// Fifteen collections per run, because on a busy two-core machine a
// collection now and then waits a scheduler tick (4 ms here) for the
// other core, and the median of a run should not be such a wait.
var DefaultGCOptions = GCOptions{Blocks: 5_000_000, Size: 64, Collections: 15, WarmUp: warmUp}

// Check refuses options that measure nothing or write outside a block:
// a block of 0 bytes has no first byte to write (from make it is the
// runtime's zero-size object, shared by every such slice).
func (o GCOptions) Check() error {
	var errs []error
	if o.Blocks < 0 {
		errs = append(errs, fmt.Errorf("-blocks %d: want 0 or more", o.Blocks))
	}
	if o.Size < 1 {
		errs = append(errs, fmt.Errorf("-size %d: want 1 or more bytes", o.Size))
	}
	if o.Collections < 1 {
		errs = append(errs, fmt.Errorf("-collections %d: want 1 or more", o.Collections))
	}
	if o.WarmUp < 0 {
		errs = append(errs, fmt.Errorf("-warmup %v: want 0 or more", o.WarmUp))
	}
	return errors.Join(errs...)
}

// liveSet holds a backend's blocks for the GC measurement.
type liveSet struct {
	inst    Instance
	handles []uintptr        // off-heap blocks: not scanned
	ptrs    []unsafe.Pointer // Go-heap blocks: scanned, keeps them alive
}

// holdBlocks allocates n blocks of size bytes from a fresh instance of b
// (nothing for EmptyHeap's zero Backend) and writes their first byte.
func holdBlocks(b Backend, n int, size uintptr) (*liveSet, error) {
	if b.Name == "" {
		return &liveSet{}, nil
	}
	inst, err := b.open()
	if err != nil {
		return nil, err
	}
	s := &liveSet{inst: inst}
	if b.OffHeap {
		s.handles = make([]uintptr, n)
	} else {
		s.ptrs = make([]unsafe.Pointer, n)
	}
	for i := range n {
		p := inst.Malloc(size)
		if p == nil {
			return nil, errors.Join(fmt.Errorf("%s: allocation %d returned nil", b.Name, i), s.release())
		}
		*(*byte)(p) = 1
		if b.OffHeap {
			s.handles[i] = uintptr(p)
		} else {
			s.ptrs[i] = p
		}
	}
	return s, nil
}

// warmUp is the busy time before the timed collections. A process that
// has just allocated millions of blocks starts its collections from busy
// CPUs; one that has done nothing (the empty heap) starts from idle ones,
// and on this virtual machine its collections then wait, more often, a
// whole scheduler tick (4 ms) for the other CPU (seen here with a small
// program: empty-heap medians of 0.14..4 ms from idle, 0.15..0.16 ms
// after 300 ms of busy work; cmpalloc gc -warmup 0 drops the spin). Every
// case spins the same time, so the baseline is not penalised.
const warmUp = 300 * time.Millisecond

var spinSink int

// spin keeps the calling goroutine's CPU busy for d.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		spinSink++
	}
}

// release frees the blocks and closes the instance.
func (s *liveSet) release() error {
	if s.inst == nil {
		return nil
	}
	for _, h := range s.handles {
		if h != 0 {
			s.inst.Free(unsafe.Add(nil, h)) // an off-heap block: its address stays valid until freed
		}
	}
	for _, p := range s.ptrs {
		s.inst.Free(p)
	}
	s.handles, s.ptrs = nil, nil
	return s.inst.Close()
}

// RunGC measures b (or EmptyHeap when name is EmptyHeap): it holds the
// blocks, collects twice untimed (so that the sweep of the set-up's
// garbage is done), keeps the CPU busy for opt.WarmUp, then times
// opt.Collections collections and reports their median, min and max in
// milliseconds.
func RunGC(name string, opt GCOptions) (Record, error) {
	if err := opt.Check(); err != nil {
		return Record{}, err
	}
	var b Backend
	if name != EmptyHeap {
		var ok bool
		if b, ok = Lookup(name); !ok {
			return Record{}, fmt.Errorf("unknown backend %q", name)
		}
	}
	s, err := holdBlocks(b, opt.Blocks, opt.Size)
	if err != nil {
		return Record{}, err
	}
	runtime.GC()
	runtime.GC()
	spin(opt.WarmUp)
	times := make([]float64, opt.Collections)
	for i := range times {
		start := time.Now()
		runtime.GC()
		times[i] = float64(time.Since(start).Nanoseconds()) / 1e6
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	slices.Sort(times)

	var r Record
	r.Set("kind", "gc")
	r.Set("backend", name)
	n := opt.Blocks
	if name == EmptyHeap {
		n = 0
	}
	r.SetInt("blocks", int64(n))
	r.SetInt("block_bytes", int64(opt.Size))
	r.SetInt("warmup_ms", opt.WarmUp.Milliseconds())
	r.SetInt("collections", int64(len(times)))
	r.SetFloat("gc_ms", median(times), 3)
	r.SetFloat("gc_ms_min", times[0], 3)
	r.SetFloat("gc_ms_max", times[len(times)-1], 3)
	r.SetInt("go_heap_kb", int64(ms.HeapAlloc/1024))
	runtime.KeepAlive(s)
	return r, s.release()
}
