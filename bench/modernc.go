package bench

import (
	"unsafe"

	"modernc.org/memory"
)

// modernc: modernc.org/memory's Allocator, the cgo-free allocator under
// modernc.org/sqlite, through its unsafe.Pointer API (the []byte API
// builds a slice header per call for nothing). Its zero value is ready for
// use and it takes no lock, like an obmalloc.Heap.
//
// Its Malloc(0) returns nil, and its Realloc(p, 0) frees p, so requests of
// 0 bytes ask for 1 byte, which is what replay.c does for the C
// allocators whose realloc(p, 0) frees.
var moderncBackend = offHeapEntry("modernc",
	"modernc.org/memory Allocator (unsafe.Pointer API), one goroutine",
	openModernc)

type moderncAlloc struct{ a *memory.Allocator }

// openModernc returns a new Allocator; its zero value is ready for use.
func openModernc() (moderncAlloc, error) { return moderncAlloc{new(memory.Allocator)}, nil }

func (m moderncAlloc) Malloc(n uintptr) unsafe.Pointer {
	if n > maxRequest {
		return nil
	}
	p, _ := m.a.UnsafeMalloc(int(max(n, 1))) // an error comes with nil
	return p
}

func (m moderncAlloc) Calloc(nelem, elsize uintptr) unsafe.Pointer {
	n, ok := callocSize(nelem, elsize)
	if !ok {
		return nil
	}
	p, _ := m.a.UnsafeCalloc(int(max(n, 1)))
	return p
}

func (m moderncAlloc) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	if n > maxRequest {
		return nil
	}
	q, _ := m.a.UnsafeRealloc(p, int(max(n, 1)))
	return q
}

func (m moderncAlloc) Free(p unsafe.Pointer) { _ = m.a.UnsafeFree(p) } // its only error is munmap's
func (m moderncAlloc) Close() error          { return m.a.Close() }
