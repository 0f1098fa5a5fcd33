package main

import (
	"math/rand/v2"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// The built-in workload: what heapmap and stats show when no trace is
// given. It is a program's life in three acts, on a fixed seed so the
// picture is the same every time: build many objects of the sizes a
// Python program asks for most, drop most of them at random (as objects
// die out of order), then build some more, which reuse the holes first.
// The result has every kind of pool: full, partly used, empty, and arenas
// whose tail was never carved.

// objectSizes are request sizes weighted like a CPython program's: the
// 32- and 64-byte classes (ints, floats, small strs, tuples, lists, dicts,
// instances) dominate, with a tail up to the threshold.
var objectSizes = []struct {
	size   uintptr
	weight int
}{
	{24, 10},  // float
	{28, 14},  // small int
	{53, 12},  // short str
	{56, 20},  // list, 2-tuple, instance of a class (3.11: pre-header, GC head, header)
	{64, 8},   // dict
	{104, 6},  // dict keys of a small dict, function's locals...
	{200, 4},  // medium str, larger tuple
	{360, 2},  // dict keys of 8+ entries
	{500, 1},  // near the threshold
	{1000, 1}, // above it: the large-block allocator
}

// objectSize draws a request size.
func objectSize(r *rand.Rand) uintptr {
	total := 0
	for _, s := range objectSizes {
		total += s.weight
	}
	n := r.IntN(total)
	for _, s := range objectSizes {
		if n < s.weight {
			return s.size
		}
		n -= s.weight
	}
	panic("unreachable")
}

// runWorkload plays the three acts on h with n objects built in the first
// act, and returns the blocks still live (the caller may free them).
func runWorkload(h *obmalloc.Heap, n int) []unsafe.Pointer {
	r := rand.New(rand.NewPCG(3, 11))
	live := make([]unsafe.Pointer, 0, n+n/4)
	for range n {
		live = append(live, allocTouched(h, objectSize(r)))
	}
	// Two in three die, in no particular order.
	kept := live[:0]
	for _, p := range live {
		if r.IntN(3) == 0 {
			kept = append(kept, p)
		} else {
			h.Free(p)
		}
	}
	live = kept
	for range n / 4 {
		live = append(live, allocTouched(h, objectSize(r)))
	}
	return live
}

// allocTouched allocates and writes the block's first and last byte, as
// an object's initialisation would, so the memory is really resident.
func allocTouched(h *obmalloc.Heap, size uintptr) unsafe.Pointer {
	p := h.Malloc(size)
	if p == nil {
		panic("demo: out of memory")
	}
	b := unsafe.Slice((*byte)(p), size)
	b[0], b[size-1] = 1, 1
	return p
}
