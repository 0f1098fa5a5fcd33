package obmalloc

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// DefaultPrefaultStock is the number of arenas a PrefaultArenas keeps
// ready when its Stock field is zero.
const DefaultPrefaultStock = 2

// PrefaultArenas is an ArenaAllocator that hands out arenas whose pages are
// already resident, so the goroutine that needs a new arena does not take
// a page fault on each of its pages as it carves pools (256 faults per
// 1 MiB arena of 4 KiB pages; with the large blocks' faults, 17..28 % of
// a replay loop's profile on the public traces, docs/benchmarks.md). A background
// goroutine maps and populates (mmap.PopulateZeroed) up to Stock arenas
// ahead of need; Alloc takes one of them, or maps one itself as
// MmapArenas does when none is ready, and wakes the goroutine to make up
// the stock.
//
//	Alloc ──take──> [ready arena][ready arena] <──map+populate── worker goroutine
//	  │                                                            ^
//	  └──────────────────────── wake (non-blocking) ───────────────┘
//
// The work is the same as faulting the pages in on first touch, done on
// another processor: it shortens the allocating goroutine's path, not the
// process's CPU time, and it costs up to Stock arenas of resident memory
// that no heap holds yet. With GOMAXPROCS 1 there is no other processor to
// do it on, and Alloc maps synchronously. The stock holds arenas of one
// size, the size of the latest Alloc. Free unmaps, as MmapArenas does.
//
// Config.Prefault gives a heap one of its own, with Align set to its pool
// size; the default is MmapArenas, CPython's way.
//
// The zero value is ready to use; the worker starts at the first Alloc.
// It is safe for concurrent use. Close stops the worker and unmaps the
// stock; one that is never closed keeps its goroutine and its stock for
// the life of the process (a Heap closes the one it made in Heap.Close).
type PrefaultArenas struct {
	// Stock is how many arenas are kept ready; 0 means
	// DefaultPrefaultStock. Stock and Align are read at the first Alloc.
	Stock int
	// Align, when not zero, limits the populating to the part of each
	// arena between its first and its last multiple of Align: a heap
	// whose arenas are not aligned to its pools never touches the
	// partial pool at either end, so populating it would only add to the
	// resident memory. A Heap sets it to its pool size when it makes its
	// own PrefaultArenas.
	Align uintptr

	mu     sync.Mutex
	size   uintptr          // bytes per stocked arena: the latest Alloc's size
	ready  []unsafe.Pointer // mapped, populated, still zero; len ≤ stock
	stock  int
	align  uintptr
	wake   chan struct{} // capacity 1; nil until the worker starts
	done   chan struct{} // closed by the worker as it exits
	closed bool

	afterMap func() // tests: called by the worker between map and stock
}

// Alloc returns size bytes of zeroed memory, from the stock when it holds
// an arena of that size.
func (a *PrefaultArenas) Alloc(size uintptr) unsafe.Pointer {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		panic(fmt.Sprintf("obmalloc: PrefaultArenas.Alloc(%d): the allocator is closed", size))
	}
	if a.wake == nil {
		a.start()
	}
	var stale []unsafe.Pointer
	staleSize := a.size
	if size != a.size {
		// Another arena size: what is stocked no longer fits.
		stale = append(stale, a.ready...)
		clear(a.ready)
		a.ready, a.size = a.ready[:0], size
	}
	var p unsafe.Pointer
	if n := len(a.ready); n > 0 {
		p = a.ready[n-1]
		a.ready[n-1] = nil
		a.ready = a.ready[:n-1]
	}
	if runtime.GOMAXPROCS(0) > 1 {
		select {
		case a.wake <- struct{}{}:
		default: // the worker is already awake or about to be
		}
	}
	a.mu.Unlock()

	unmapAll(stale, staleSize)
	if p != nil {
		return p
	}
	return MmapArenas{}.Alloc(size)
}

// Free unmaps the arena.
func (a *PrefaultArenas) Free(p unsafe.Pointer, size uintptr) { MmapArenas{}.Free(p, size) }

// Ready returns how many arenas are stocked now.
func (a *PrefaultArenas) Ready() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.ready)
}

// Close stops the worker and unmaps the stocked arenas. Arenas handed out
// stay valid and may still be freed; a later Alloc panics.
func (a *PrefaultArenas) Close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	stale, size, started := a.ready, a.size, a.wake != nil
	a.ready = nil
	if started {
		close(a.wake)
	}
	a.mu.Unlock()
	if started {
		// An arena the worker is preparing is unmapped by the worker
		// (fill sees closed): wait, so none is left when Close returns.
		<-a.done
	}
	unmapAll(stale, size)
}

// start launches the worker; a.mu is held.
func (a *PrefaultArenas) start() {
	a.stock = a.Stock
	if a.stock <= 0 {
		a.stock = DefaultPrefaultStock
	}
	a.align = a.Align
	a.ready = make([]unsafe.Pointer, 0, a.stock)
	a.wake, a.done = make(chan struct{}, 1), make(chan struct{})
	go a.work(a.wake, a.done)
}

// work makes up the stock each time it is woken, until Close.
func (a *PrefaultArenas) work(wake <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for range wake {
		for a.fill() {
		}
	}
}

// fill adds one arena to the stock if it is short of one, and reports
// whether it did. A failed map leaves the stock short: the next Alloc maps
// for itself and reports the failure as nil.
func (a *PrefaultArenas) fill() bool {
	a.mu.Lock()
	size, short := a.size, !a.closed && len(a.ready) < a.stock
	a.mu.Unlock()
	if !short {
		return false
	}
	p, err := mmap.Map(size)
	if err != nil {
		return false
	}
	a.populate(p, size)
	if a.afterMap != nil {
		a.afterMap()
	}
	a.mu.Lock()
	kept := !a.closed && size == a.size && len(a.ready) < a.stock
	if kept {
		a.ready = append(a.ready, p)
	}
	a.mu.Unlock()
	if !kept {
		MmapArenas{}.Free(p, size)
	}
	return kept
}

// populate makes the part of the arena at p that a heap will touch
// resident.
func (a *PrefaultArenas) populate(p unsafe.Pointer, size uintptr) {
	start, end := uintptr(p), uintptr(p)+size
	if a.align > 1 {
		start = (start + a.align - 1) &^ (a.align - 1)
		end &^= a.align - 1
	}
	// In steps, so that the system call never holds the process's
	// memory-map lock for long: a goroutine that maps memory meanwhile
	// waits for one step at most.
	for ; start < end; start += populateStepBytes {
		// A failure (no memory to spare under a cgroup limit) leaves the
		// pages to fault in at first touch, as MmapArenas' do.
		if mmap.PopulateZeroed(unsafe.Add(p, start-uintptr(p)), min(populateStepBytes, end-start)) != nil {
			return
		}
	}
}

// populateStepBytes is the most a PrefaultArenas populates in one call.
const populateStepBytes = 256 << 10

// unmapAll unmaps stocked arenas of the given size.
func unmapAll(arenas []unsafe.Pointer, size uintptr) {
	for _, p := range arenas {
		MmapArenas{}.Free(p, size)
	}
}
