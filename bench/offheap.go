package bench

import (
	"fmt"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// Memory that the measurement itself needs, kept out of the Go heap where
// the Go heap would distort the figures.
//
// Invariant: a pointer stored in this memory points into memory from mmap
// (a table slot holds a block of an off-heap allocator), never into the Go
// heap, which the collector would not see there.

// offHeap is one region from mmap, released by free.
type offHeap struct {
	p    unsafe.Pointer
	size uintptr
}

// mapOffHeap maps n zeroed bytes (at least one page) and writes every page,
// so that their page faults happen now and not in a timed loop, as
// replay.c's memset of its table.
func mapOffHeap(n uintptr) (offHeap, error) {
	n = max(n, 1)
	p, err := mmap.Map(n)
	if err != nil {
		return offHeap{}, fmt.Errorf("bench: mapping %d bytes: %w", n, err)
	}
	clear(unsafe.Slice((*byte)(p), n))
	return offHeap{p, n}, nil
}

// mapOffHeapLazy maps n zeroed bytes without touching them: memory an
// allocator under test hands out, whose page faults are part of its cost.
func mapOffHeapLazy(n uintptr) (offHeap, error) {
	p, err := mmap.Map(n)
	if err != nil {
		return offHeap{}, fmt.Errorf("bench: mapping %d bytes: %w", n, err)
	}
	return offHeap{p, n}, nil
}

func (m offHeap) free() error {
	if m.p == nil {
		return nil
	}
	return mmap.Unmap(m.p, m.size)
}

// offHeapSlice returns n elements of T in a new region from mapOffHeap; T
// must hold no Go pointer.
func offHeapSlice[T any](n int) ([]T, offHeap, error) {
	var zero T
	m, err := mapOffHeap(uintptr(n) * unsafe.Sizeof(zero))
	if err != nil {
		return nil, offHeap{}, err
	}
	return unsafe.Slice((*T)(m.p), n), m, nil
}

// touch writes the first and last byte of the n-byte block at p (n > 0),
// as replay.c does after every allocation, so that no allocator wins by
// never touching its memory.
func touch(p unsafe.Pointer, n uintptr) {
	*(*byte)(p) = 1
	*(*byte)(unsafe.Add(p, n-1)) = 1
}
