package obmalloc

import (
	"fmt"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// Allocator is the four calls of CPython's PyMemAllocatorEx. A Heap is
// one; the large-block allocator it delegates to is another.
//
// Contract, as in CPython: Malloc(0) returns a distinct non-nil pointer;
// failures return nil and leave the heap usable; Realloc(nil, n) is
// Malloc(n); a failed Realloc leaves the old block intact; Free(nil) does
// nothing.
type Allocator interface {
	Malloc(size uintptr) unsafe.Pointer
	Calloc(nelem, elsize uintptr) unsafe.Pointer
	Realloc(p unsafe.Pointer, size uintptr) unsafe.Pointer
	Free(p unsafe.Pointer)
}

// ArenaAllocator maps and unmaps arenas: CPython's PyObjectArenaAllocator.
// Alloc returns size bytes of zeroed, at least page-aligned memory outside
// the Go heap, or nil. Free is called with the same pointer and size.
type ArenaAllocator interface {
	Alloc(size uintptr) unsafe.Pointer
	Free(p unsafe.Pointer, size uintptr)
}

// MmapArenas is the default ArenaAllocator: one mmap per arena, exactly
// ArenaSize bytes, like CPython's _PyObject_ArenaMmap.
type MmapArenas struct{}

// Alloc maps size bytes with mmap.Map, or returns nil when the system
// refuses.
func (MmapArenas) Alloc(size uintptr) unsafe.Pointer {
	p, err := mmap.Map(size)
	if err != nil {
		return nil
	}
	return p
}

// Free unmaps the arena. It panics when the system refuses, which means
// p and size were not those of one Alloc: the heap's memory can no longer
// be trusted.
func (MmapArenas) Free(p unsafe.Pointer, size uintptr) {
	if err := mmap.Unmap(p, size); err != nil {
		panic(fmt.Sprintf("obmalloc: unmapping arena %p: %v", p, err))
	}
}
