package rawalloc

import (
	"runtime"
	"sync"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// Populating ahead, an opt-in (EnablePopulateAhead). Class blocks are
// carved from fresh chunk space, whose pages fault in one by one at their
// first touch, in the allocating goroutine. A worker goroutine can keep
// the current chunk resident a little beyond the bump pointer instead
// (mmap.Populate, which leaves contents alone, so the heap may carve and
// write the same pages meanwhile). It is done only where there is another
// processor to do it on and where the system can populate in one call
// (linux 5.14 and later), and only for a heap that maps its memory itself
// (no MapFunc: a MapFunc's owner may unmap that memory without telling
// the heap); elsewhere the pages fault in as before.
const (
	// aheadBytes is how far beyond the bump pointer the worker populates.
	aheadBytes = 1 << 20
	// aheadStepBytes is the most the worker populates in one call, so that
	// Close, which waits for the call in flight, and anyone mapping memory
	// meanwhile (the call holds the memory-map lock) wait little.
	aheadStepBytes = 64 << 10
)

// ahead hands ranges of the current chunk to the worker. Its fields are
// guarded by mu; the heap's own fields that drive it (aheadNext) by the
// heap's lock.
type ahead struct {
	mu         sync.Mutex
	start, end uintptr       // the range still to populate; empty when start >= end
	wake       chan struct{} // capacity 1; nil while no worker runs
	done       chan struct{} // closed by the worker as it exits
}

// populateAhead asks the worker to populate the current chunk up to
// aheadBytes beyond the bump pointer, and sets when to ask next: once the
// bump has used half of that. The heap's lock is held.
func (h *Heap) populateAhead() {
	if !h.aheadOn || h.mapFn != nil {
		// Never populated: not asked again until the next chunk.
		h.aheadNext = h.limit
		return
	}
	to := min(h.limit, roundUp(h.bump+aheadBytes, pageBytes))
	from := max(h.aheadEnd, h.bump&^(pageBytes-1))
	h.aheadEnd = to
	h.aheadNext = to - aheadBytes/2
	if to == h.limit {
		h.aheadNext = h.limit // the rest of the chunk is asked for
	}
	if from >= to || !mmap.PopulateSupported() || runtime.GOMAXPROCS(0) < 2 {
		return
	}
	h.ahead.request(h.bump&^(pageBytes-1), from, to)
}

// PopulatesAhead reports whether the heap's populating worker runs.
func (h *Heap) PopulatesAhead() bool {
	h.lock()
	defer h.unlock()
	h.ahead.mu.Lock()
	defer h.ahead.mu.Unlock()
	return h.ahead.wake != nil
}

// EnablePopulateAhead has a worker goroutine populate the heap's fresh
// chunk space ahead of the bump pointer (see above), where the system and
// GOMAXPROCS allow it. By default, as the C library's malloc, the heap
// leaves each page fault to the goroutine that first touches the page.
// Call it before the first allocation; Close stops the worker.
func (h *Heap) EnablePopulateAhead() {
	h.lock()
	defer h.unlock()
	h.aheadOn = true
}

// request asks for [start, end) and wakes the worker. A range that
// continues the pending one extends it, so what the worker has not done
// yet of the earlier request is still done, except the part below bump,
// the page the heap carves in now, which it has touched already; any
// other range (a new chunk) replaces the pending one.
func (a *ahead) request(bump, start, end uintptr) {
	a.mu.Lock()
	if start == a.end && a.start < a.end {
		a.start, a.end = max(a.start, bump), end
	} else {
		a.start, a.end = start, end
	}
	if a.wake == nil {
		a.wake, a.done = make(chan struct{}, 1), make(chan struct{})
		go a.work(a.wake, a.done)
	}
	select {
	case a.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
	a.mu.Unlock()
}

// stop drops the pending range and waits until the worker has exited, so
// that no populate is in flight when the heap unmaps its chunks. A later
// request starts a new worker.
func (a *ahead) stop() {
	a.mu.Lock()
	wake, done := a.wake, a.done
	a.start, a.end, a.wake, a.done = 0, 0, nil, nil
	a.mu.Unlock()
	if wake != nil {
		close(wake)
		<-done
	}
}

// work populates what is pending, a step at a time, each time it is woken,
// until stop closes wake.
func (a *ahead) work(wake <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for range wake {
		for {
			a.mu.Lock()
			start, end := a.start, min(a.end, a.start+aheadStepBytes)
			a.start = end
			a.mu.Unlock()
			if start >= end {
				break
			}
			// A failure (no memory to spare under a cgroup limit) leaves
			// the pages to fault in at first touch.
			_ = mmap.Populate(ptr(start), end-start)
		}
	}
}
