package main

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/internal/rawalloc"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// traceRun replays a trace into a heap of any layout and stops wherever
// it is asked to, with the heap open for inspection. internal/replay is
// the measuring instrument (replay.c's method, CPython 3.11's layout
// only, the heap closed when Run returns); this is the demo's own
// stepper for what replay cannot do: pictures part way through a trace,
// and the same trace under other layouts. It makes the same calls in
// the same order as replay.Run, so at any op its heap's dump is the one
// replay would print (TestTraceRunMatchesReplay).
type traceRun struct {
	t     *pytrace.Trace
	h     *obmalloc.Heap
	large *rawalloc.Heap // what the heap hands requests of 0 and > threshold bytes
	// table holds block ID -> pointer, as replay.c's array. The pointers
	// are into mmap'd memory, which the Go collector ignores, so a Go
	// slice is fine here; replay keeps its table off-heap only because it
	// times its loop.
	table []unsafe.Pointer
	pos   int           // ops replayed so far
	fails int           // allocations that returned nil
	loop  time.Duration // time spent replaying, inspections excluded

	// Requests that went past the pools to the large allocator, counted
	// from the trace: the layout's threshold decides which ones those are.
	largeOps, largeBytes uint64
}

// newTraceRun makes an empty heap of layout cfg for t. The heap gets a
// large-block allocator of the run's own, so that an experiment can
// weigh what a smaller threshold pushes to it.
func newTraceRun(t *pytrace.Trace, cfg obmalloc.Config) (*traceRun, error) {
	large := rawalloc.NewPrivate(nil)
	cfg.Large = large
	h, err := obmalloc.New(cfg)
	if err != nil {
		return nil, err
	}
	return &traceRun{t: t, h: h, large: large, table: make([]unsafe.Pointer, t.MaxID+1)}, nil
}

// runTo replays ops up to op n (counted from 1; n = len(t.Ops) is the
// end), reporting progress in slices so the loop stays a plain loop.
func (r *traceRun) runTo(n int, p *progress) error {
	if n < r.pos || n > len(r.t.Ops) {
		return fmt.Errorf("%s: cannot stop at op %d (at op %d of %d)", r.t.Name, n, r.pos, len(r.t.Ops))
	}
	const slice = 1 << 16
	for r.pos < n {
		end := min(n, r.pos+slice)
		start := time.Now()
		r.replay(r.t.Ops[r.pos:end])
		r.loop += time.Since(start)
		r.pos = end
		p.update(int64(r.pos), int64(len(r.t.Ops)))
	}
	if r.fails > 0 {
		return fmt.Errorf("%s: %d allocations returned nil by op %d", r.t.Name, r.fails, n)
	}
	return nil
}

// replay is replay.Run's loop, less its care for timing: each allocation
// writes the first and last byte of its block, as a program initialising
// its objects would (and as replay does unless -no-touch).
func (r *traceRun) replay(ops []pytrace.Op) {
	h, threshold := r.h, uint64(r.h.Config().Threshold)
	for _, o := range ops {
		size := o.Size()
		var p unsafe.Pointer
		switch o.Kind() {
		case pytrace.Malloc:
			p = h.Malloc(uintptr(size))
		case pytrace.Calloc:
			c := r.t.Callocs[o.Old()]
			p = h.Calloc(uintptr(c.Nelem), uintptr(c.Elsize))
		case pytrace.Realloc:
			p = h.Realloc(r.table[o.Old()], uintptr(size))
		default:
			h.Free(r.table[o.ID()])
			r.table[o.ID()] = nil
			continue
		}
		if o.Kind() == pytrace.Realloc {
			r.table[o.Old()] = nil
		}
		if size == 0 || size > threshold {
			r.largeOps++
			r.largeBytes += size
		}
		if p == nil {
			r.fails++
			continue
		}
		if size != 0 {
			b := unsafe.Slice((*byte)(p), size)
			b[0], b[size-1] = 1, 1
		}
		r.table[o.ID()] = p
	}
}

// resolveStop turns a -stop-at value into an op number: "" or "end" is
// the last op, "peak" the first op at which the trace's live bytes peak
// (where fragmentation is worth seeing), a number is that op.
func resolveStop(t *pytrace.Trace, s string) (int, error) {
	switch s {
	case "", "end":
		return len(t.Ops), nil
	case "peak":
		return t.Stats.PeakLiveBytesOp, nil
	}
	pts, err := t.ParsePoints(s)
	if err != nil {
		return 0, err
	}
	if len(pts) != 1 {
		return 0, fmt.Errorf("%q: want one op number, peak or end", s)
	}
	return pts[0], nil
}

// close unmaps the heap and its large allocator.
func (r *traceRun) close() error {
	r.table = nil
	return errors.Join(r.h.Close(), r.large.Close())
}
