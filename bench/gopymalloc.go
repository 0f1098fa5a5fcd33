package bench

import (
	"unsafe"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// gopymalloc: the engine itself, one obmalloc.Heap with the zero Config
// (CPython 3.11's layout, arenas kept) whose requests of 0 and over 512
// bytes go to the heap's own large-block allocator, which takes no lock.
// This is exactly what `demo replay` measures, so the two commands' figures
// for it agree.
var gopymallocBackend = offHeapEntry("gopymalloc",
	"obmalloc.Heap, CPython 3.11's layout, one goroutine (what demo replay measures)",
	openHeap)

// gopymalloc-huge: the same heap with its arenas on transparent huge pages
// (obmalloc.HugePageArenas, the opt-in of GOPYMALLOC_HUGEPAGES and `demo
// replay -hugepages`). Each run is a fresh process, so one allocator for
// the process serves every heap opened in it.
var gopymallocHugeBackend = offHeapEntry("gopymalloc-huge",
	"gopymalloc with its arenas on transparent huge pages (opt-in, linux)",
	openHugeHeap)

var hugeArenas obmalloc.HugePageArenas

// gopymalloc-prefault: the same heap with Config.Prefault, the growth's
// page faults taken ahead of need by background goroutines (`demo replay
// -prefault`).
var gopymallocPrefaultBackend = offHeapEntry("gopymalloc-prefault",
	"gopymalloc with Config.Prefault: page faults taken ahead by other goroutines (opt-in)",
	openPrefaultHeap)

func openPrefaultHeap() (heapBackend, error) {
	h, err := obmalloc.New(obmalloc.Config{Prefault: true})
	return heapBackend{h}, err
}

func openHugeHeap() (heapBackend, error) {
	h, err := obmalloc.New(obmalloc.Config{Arenas: &hugeArenas})
	return heapBackend{h}, err
}

// heapBackend is a value holding the heap pointer, so that the generated
// loop keeps the pointer in a register instead of loading it per call.
type heapBackend struct{ h *obmalloc.Heap }

func openHeap() (heapBackend, error) {
	h, err := obmalloc.New(obmalloc.Config{})
	return heapBackend{h}, err
}

func (a heapBackend) Malloc(n uintptr) unsafe.Pointer { return a.h.Malloc(n) }
func (a heapBackend) Calloc(nelem, elsize uintptr) unsafe.Pointer {
	return a.h.Calloc(nelem, elsize)
}
func (a heapBackend) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer { return a.h.Realloc(p, n) }
func (a heapBackend) Free(p unsafe.Pointer)                              { a.h.Free(p) }
func (a heapBackend) Close() error                                       { return a.h.Close() }
