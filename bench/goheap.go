package bench

import "unsafe"

// goheap: the Go heap, the way Go code allocates: make([]byte, n), kept
// alive by whoever holds the slice, given back by dropping the reference.
// In a replay the ID table holds the slices and lives on the Go heap, so
// the collector sees it; a free clears the slot, a realloc makes a new
// slice, copies and clears the old slot (Go cannot grow an object in
// place). The collector runs when its pacer says, during the timed loop,
// so its cost is in the figures: on the wall clock where it stops or
// assists the loop, and on the CPU clock (cpu_ns_per_op) in full, since
// its background workers run on the other core.
var goHeapBackend = goHeapEntry("goheap",
	"make([]byte, n); free drops the reference; the collector's cost included",
	func() goHeap { return goHeap{} },
	func(goHeap) goHeapPointers { return goHeapPointers{} })

type goHeap struct{}

// Alloc returns n bytes. make zeroes them; Go has no way to allocate
// without zeroing.
func (goHeap) Alloc(n uintptr) []byte {
	if n > maxRequest {
		return nil
	}
	return make([]byte, n)
}

func (g goHeap) Calloc(nelem, elsize uintptr) []byte {
	n, ok := callocSize(nelem, elsize)
	if !ok {
		return nil
	}
	return make([]byte, n)
}

func (goHeap) Realloc(b []byte, n uintptr) []byte {
	if n > maxRequest {
		return nil
	}
	nb := make([]byte, n)
	copy(nb, b)
	return nb
}

// Free does nothing: the caller drops its reference, and the collector
// takes the memory back.
func (goHeap) Free([]byte) {}

// goHeapPointers is goheap behind the workloads' interface. Their live
// blocks sit in a []unsafe.Pointer on the Go heap, which keeps the objects
// alive until the slot is overwritten.
type goHeapPointers struct{}

func (goHeapPointers) Malloc(n uintptr) unsafe.Pointer {
	return unsafe.Pointer(unsafe.SliceData(make([]byte, n)))
}
func (goHeapPointers) Free(unsafe.Pointer) {}
func (goHeapPointers) Close() error        { return nil }
