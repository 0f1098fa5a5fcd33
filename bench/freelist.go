package bench

import (
	"errors"
	"math/bits"
	"unsafe"
)

// freelist: the floor. The least an off-heap allocator can do per call:
// one LIFO list per size class, linked through the blocks' first word,
// refilled by carving fresh blocks off a bump region; nothing is ever
// coalesced, sorted, counted or given back. Malloc pops, Free pushes, both
// a couple of loads and stores on memory that the caller just touched or
// is about to touch. It is off the Go heap (memory from mmap, links as
// uintptr) so that it compares with gopymalloc on equal terms: no
// collector, no write barriers.
//
// Free must find a block's class from the pointer alone, as every C-style
// allocator must. pymalloc reads it from the pool header at the start of
// the block's 16 KiB pool; the floor keeps it in a 16-byte header right in
// front of the block (16, not 8, so blocks keep pymalloc's 16-byte
// alignment), which shares the block's cache line. That costs 16 bytes per
// block: the floor is a floor for time, not for memory.
//
// Classes: 16-byte steps up to 512 bytes (pymalloc's), then powers of two
// up to maxRequest. Realloc keeps a block whose class still holds the new
// size and otherwise moves it.
var freeListBackend = offHeapEntry("freelist",
	"the floor: per-class LIFO free lists off the Go heap, bump allocation, 16-byte header",
	func() (*freeList, error) { return new(freeList), nil })

const (
	flHeader    = 16
	flLargeBase = 10 // class smallCount holds 513..1024 bytes: 1<<10
	flClasses   = 64 // 32 small + powers of two up to 2^41 (> maxRequest on 64-bit)
	flChunk     = 1 << 20
)

type freeList struct {
	heads    [flClasses]uintptr // free blocks per class, 0-terminated
	cur, end uintptr            // the unused rest of the current chunk
	maps     []offHeap          // every mapping, for Close
}

// flClass returns the class of an n-byte request, n <= maxRequest.
func flClass(n uintptr) uintptr {
	if n <= smallMax {
		return smallClass(n)
	}
	return smallCount + uintptr(bits.Len64(uint64(n-1))) - flLargeBase
}

// flSize returns the usable bytes of a block of class c.
func flSize(c uintptr) uintptr {
	if c < smallCount {
		return (c + 1) * classStep
	}
	return 1 << (c - smallCount + flLargeBase)
}

// addr converts an address from one of the free list's mappings back to
// a pointer. Invariant: the address lies in memory from mmap that is still
// mapped, which the collector neither scans nor moves.
func addr(a uintptr) unsafe.Pointer { return unsafe.Add(nil, a) }

func (f *freeList) Malloc(n uintptr) unsafe.Pointer {
	if n > maxRequest {
		return nil
	}
	c := flClass(n)
	if p := f.heads[c%flClasses]; p != 0 {
		f.heads[c%flClasses] = *(*uintptr)(addr(p))
		return addr(p)
	}
	return f.carve(c)
}

// carve cuts a fresh block of class c off the current chunk, mapping a
// new chunk (or, for a block larger than a quarter chunk, a mapping of its
// own) when the rest is too small; the rest of the old chunk is wasted.
func (f *freeList) carve(c uintptr) unsafe.Pointer {
	need := flHeader + flSize(c)
	if f.end-f.cur < need {
		size := uintptr(flChunk)
		if need > flChunk/4 {
			size = need
		}
		m, err := mapOffHeapLazy(size)
		if err != nil {
			return nil
		}
		f.maps = append(f.maps, m)
		if size != flChunk {
			*(*uintptr)(m.p) = c
			return unsafe.Add(m.p, flHeader)
		}
		f.cur, f.end = uintptr(m.p), uintptr(m.p)+size
	}
	base := f.cur
	f.cur += need
	*(*uintptr)(addr(base)) = c
	return addr(base + flHeader)
}

func (f *freeList) Free(p unsafe.Pointer) {
	if p == nil {
		return
	}
	a := uintptr(p)
	c := *(*uintptr)(addr(a - flHeader))
	*(*uintptr)(p) = f.heads[c%flClasses]
	f.heads[c%flClasses] = a
}

func (f *freeList) Calloc(nelem, elsize uintptr) unsafe.Pointer {
	n, ok := callocSize(nelem, elsize)
	if !ok {
		return nil
	}
	p := f.Malloc(n)
	if p != nil {
		clear(unsafe.Slice((*byte)(p), n))
	}
	return p
}

func (f *freeList) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	if p == nil {
		return f.Malloc(n)
	}
	if n > maxRequest {
		return nil
	}
	have := flSize(*(*uintptr)(unsafe.Add(p, -flHeader)))
	if n <= have {
		return p
	}
	q := f.Malloc(n)
	if q == nil {
		return nil
	}
	copy(unsafe.Slice((*byte)(q), n), unsafe.Slice((*byte)(p), have))
	f.Free(p)
	return q
}

// Close unmaps every chunk; the blocks become invalid.
func (f *freeList) Close() error {
	var errs []error
	for _, m := range f.maps {
		errs = append(errs, m.free())
	}
	*f = freeList{}
	return errors.Join(errs...)
}
