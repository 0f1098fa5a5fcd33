package pymalloc

import "unsafe"

// The OBJ domain: PyObject_Malloc, PyObject_Calloc, PyObject_Realloc,
// PyObject_Free. By default, requests of 1..512 bytes are served from
// pymalloc's pools and the rest by RawMalloc. Malloc(0) returns a distinct
// non-nil pointer; failures return nil; Free(nil) does nothing; Free and
// Realloc panic, naming the call and the address, on a pointer that
// pymalloc did not hand out.

// pySsizeTMax is PY_SSIZE_T_MAX. Like CPython's public functions, Malloc
// and Realloc of every domain refuse a size above it before the domain's
// allocator is called, so an allocator installed with SetAllocator, the
// tracer and the debug hooks never see such a request, and Realloc returns
// nil without looking at its pointer. Calloc's overflow is the exception:
// it reaches the allocator, so that the debug hooks can report it
// (FaultCallocOverflow); the heap returns nil for it, as CPython does.
const pySsizeTMax = ^uintptr(0) >> 1

// Malloc is PyObject_Malloc.
func Malloc(size uintptr) unsafe.Pointer {
	if size > pySsizeTMax {
		return nil
	}
	return obj().Malloc(size)
}

// Calloc is PyObject_Calloc: nelem*elsize zeroed bytes, nil on overflow.
func Calloc(nelem, elsize uintptr) unsafe.Pointer { return obj().Calloc(nelem, elsize) }

// Realloc is PyObject_Realloc: a pool block stays in place when the new
// size fits its class and shrinks it by less than a quarter.
func Realloc(p unsafe.Pointer, size uintptr) unsafe.Pointer {
	if size > pySsizeTMax {
		return nil
	}
	return obj().Realloc(p, size)
}

// Free is PyObject_Free.
func Free(p unsafe.Pointer) { obj().Free(p) }

// The MEM domain: PyMem_Malloc and friends, served by the same heap.

// MemMalloc is PyMem_Malloc.
func MemMalloc(size uintptr) unsafe.Pointer {
	if size > pySsizeTMax {
		return nil
	}
	return mem().Malloc(size)
}

// MemCalloc is PyMem_Calloc.
func MemCalloc(nelem, elsize uintptr) unsafe.Pointer { return mem().Calloc(nelem, elsize) }

// MemRealloc is PyMem_Realloc.
func MemRealloc(p unsafe.Pointer, size uintptr) unsafe.Pointer {
	if size > pySsizeTMax {
		return nil
	}
	return mem().Realloc(p, size)
}

// MemFree is PyMem_Free.
func MemFree(p unsafe.Pointer) { mem().Free(p) }

// The RAW domain: PyMem_RawMalloc and friends, served by the large-block
// allocator, never by the pools.

// RawMalloc is PyMem_RawMalloc.
func RawMalloc(size uintptr) unsafe.Pointer {
	if size > pySsizeTMax {
		return nil
	}
	return raw().Malloc(size)
}

// RawCalloc is PyMem_RawCalloc.
func RawCalloc(nelem, elsize uintptr) unsafe.Pointer { return raw().Calloc(nelem, elsize) }

// RawRealloc is PyMem_RawRealloc.
func RawRealloc(p unsafe.Pointer, size uintptr) unsafe.Pointer {
	if size > pySsizeTMax {
		return nil
	}
	return raw().Realloc(p, size)
}

// RawFree is PyMem_RawFree.
func RawFree(p unsafe.Pointer) { raw().Free(p) }
