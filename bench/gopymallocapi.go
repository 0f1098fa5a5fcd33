package bench

import (
	"unsafe"

	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// gopymalloc-api: the package-level functions (PyObject_Malloc and
// friends), which are safe for concurrent use: an atomic load of the OBJ
// domain's allocator, an interface call and the default heap's mutex on
// every call, in front of the same engine as gopymalloc. The trace mixes
// the MEM and OBJ domains; both are served by the one default heap, so
// every op goes through the OBJ functions.
//
// The default heap is the process's, so "fresh" means fresh per process:
// the command runs each replay in a new process, and in-process benchmarks
// get a heap that earlier benchmarks have used (arenas are never unmapped).
var gopymallocAPIBackend = offHeapEntry("gopymalloc-api",
	"pymalloc.Malloc/Free...: the same engine behind the domain switch and a mutex",
	func() (apiBackend, error) { return apiBackend{}, nil })

type apiBackend struct{}

func (apiBackend) Malloc(n uintptr) unsafe.Pointer                    { return pymalloc.Malloc(n) }
func (apiBackend) Calloc(nelem, elsize uintptr) unsafe.Pointer        { return pymalloc.Calloc(nelem, elsize) }
func (apiBackend) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer { return pymalloc.Realloc(p, n) }
func (apiBackend) Free(p unsafe.Pointer)                              { pymalloc.Free(p) }
func (apiBackend) Close() error                                       { return nil }
