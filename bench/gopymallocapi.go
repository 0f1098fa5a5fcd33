package bench

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/obmalloc"
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
var gopymallocAPIBackend = func() Backend {
	b := offHeapEntry("gopymalloc-api",
		"pymalloc.Malloc/Free...: the same engine behind the domain switch and a mutex",
		func() (apiBackend, error) { return apiBackend{}, checkAPIHeap() })
	b.check = checkAPIHeap
	return b
}()

// checkAPIHeap refuses to measure unless the package-level functions serve
// the default heap as gopymalloc's zero Config makes it: under
// GOPYMALLOC's debug hooks or large-block allocator, tracing, huge-page
// arenas or released arenas the backend would measure something else under
// its name. It asks pymalloc what this process holds rather than reading
// the variables itself, so that their accepted values are pymalloc's
// alone: pymalloc read them when the process started, and a child
// inherits the same environment.
func checkAPIHeap() error {
	if name := pymalloc.AllocatorName(); name != "pymalloc" {
		if name == "" {
			name = "allocators of their own (tracing, or ones a program installed)"
		}
		return refuseAPI(pymalloc.EnvVar, "the package-level functions serve "+name+", not the default heap this backend measures")
	}
	a := pymalloc.GetArenaAllocator()
	if _, ok := a.(obmalloc.MmapArenas); !ok {
		return refuseAPI(pymalloc.HugePagesEnvVar, fmt.Sprintf("the default heap's arenas come from %T, not one mmap each as this backend measures", a))
	}
	if pymalloc.ArenaPolicy() != obmalloc.KeepArenas {
		return refuseAPI(pymalloc.ArenasEnvVar, "the default heap unmaps wholly free arenas, where this backend measures it keeping them")
	}
	return nil
}

// refuseAPI is checkAPIHeap's error: what the default heap is instead,
// and the variable that made it so, when it is set.
func refuseAPI(envVar, what string) error {
	if v := os.Getenv(envVar); v != "" {
		return fmt.Errorf("gopymalloc-api: %s=%q: %s; unset it, or leave gopymalloc-api out", envVar, v, what)
	}
	return fmt.Errorf("gopymalloc-api: %s; leave gopymalloc-api out", what)
}

type apiBackend struct{}

func (apiBackend) Malloc(n uintptr) unsafe.Pointer                    { return pymalloc.Malloc(n) }
func (apiBackend) Calloc(nelem, elsize uintptr) unsafe.Pointer        { return pymalloc.Calloc(nelem, elsize) }
func (apiBackend) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer { return pymalloc.Realloc(p, n) }
func (apiBackend) Free(p unsafe.Pointer)                              { pymalloc.Free(p) }
func (apiBackend) Close() error                                       { return nil }
