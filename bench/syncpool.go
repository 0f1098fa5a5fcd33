package bench

import (
	"sync"
	"unsafe"
)

// syncpool: one sync.Pool per 16-byte class up to 512 bytes, make for
// larger requests: what a Go program does to recycle buffers. A block
// from a pool is a []byte whose capacity is its class's size, so Free
// finds the class from the slice alone; requests over 512 bytes are
// goheap's (make, and dropped on free). Calloc clears a recycled block.
// Pools are emptied by the collector (each collection moves a pool's
// blocks to a victim cache and drops the previous victims), which is part
// of what this backend costs in a replay.
//
// The pools hold unsafe.Pointers to the blocks' first bytes: a pointer
// converts to interface{} without allocating, where a []byte would be
// boxed on every Put.
var syncPoolBackend = goHeapEntry("syncpool",
	"a sync.Pool per 16-byte class up to 512 B, make above",
	newSyncPool,
	func(syncPool) syncPoolPointers { return syncPoolPointers{new([smallCount]sync.Pool)} })

type syncPool struct{ pools *[smallCount]sync.Pool }

func newSyncPool() syncPool { return syncPool{new([smallCount]sync.Pool)} }

// get returns a block of class c from its pool, or nil.
func (s syncPool) get(c uintptr) unsafe.Pointer {
	if v := s.pools[c%smallCount].Get(); v != nil {
		return v.(unsafe.Pointer)
	}
	return nil
}

// alloc returns n bytes and whether they were recycled (and so not zero).
func (s syncPool) alloc(n uintptr) (b []byte, recycled bool) {
	if n > smallMax {
		return goHeap{}.Alloc(n), false
	}
	c := smallClass(n)
	size := (c + 1) * classStep
	if p := s.get(c); p != nil {
		return unsafe.Slice((*byte)(p), size)[:n], true
	}
	return make([]byte, n, size), false
}

func (s syncPool) Alloc(n uintptr) []byte {
	b, _ := s.alloc(n)
	return b
}

func (s syncPool) Calloc(nelem, elsize uintptr) []byte {
	n, ok := callocSize(nelem, elsize)
	if !ok {
		return nil
	}
	b, recycled := s.alloc(n)
	if recycled {
		clear(b)
	}
	return b
}

// Realloc keeps the block when n stays in its class, as pymalloc keeps a
// block whose class does not change.
func (s syncPool) Realloc(b []byte, n uintptr) []byte {
	if n <= smallMax && b != nil && uintptr(cap(b)) == (smallClass(n)+1)*classStep {
		return b[:n]
	}
	nb, _ := s.alloc(n)
	if nb == nil {
		return nil
	}
	copy(nb, b)
	s.Free(b)
	return nb
}

// Free puts a pooled block back in its class's pool; larger blocks are
// dropped. A block's capacity names its class.
func (s syncPool) Free(b []byte) {
	if c := uintptr(cap(b)); c != 0 && c <= smallMax {
		s.pools[(c/classStep-1)%smallCount].Put(unsafe.Pointer(unsafe.SliceData(b)))
	}
}

// syncPoolPointers is syncpool behind the workloads' interface, whose
// Free gets a bare pointer: a Go program would hold the []byte and know
// the class, the workloads cannot. So each block carries its class in a
// 16-byte header (0 for blocks over 512 bytes, which are dropped), the way
// a C allocator finds a block's size. The header costs 16 bytes per block
// (it shows in bulk's resident bytes) and one load per free.
type syncPoolPointers struct{ pools *[smallCount]sync.Pool }

const poolHeader = 16

func (s syncPoolPointers) Malloc(n uintptr) unsafe.Pointer {
	if n > smallMax {
		return unsafe.Add(unsafe.Pointer(unsafe.SliceData(make([]byte, poolHeader+n))), poolHeader)
	}
	c := smallClass(n)
	base := syncPool{s.pools}.get(c)
	if base == nil {
		base = unsafe.Pointer(unsafe.SliceData(make([]byte, poolHeader+(c+1)*classStep)))
		*(*uintptr)(base) = c + 1
	}
	return unsafe.Add(base, poolHeader)
}

func (s syncPoolPointers) Free(p unsafe.Pointer) {
	if p == nil {
		return
	}
	base := unsafe.Add(p, -poolHeader)
	if c := *(*uintptr)(base); c != 0 {
		s.pools[(c-1)%smallCount].Put(base)
	}
}

func (syncPoolPointers) Close() error { return nil }
