package bench

import (
	"fmt"
	"os"
	"slices"
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
var gopymallocAPIBackend = func() Backend {
	b := offHeapEntry("gopymalloc-api",
		"pymalloc.Malloc/Free...: the same engine behind the domain switch and a mutex",
		func() (apiBackend, error) { return apiBackend{}, checkAPIEnv() })
	b.check = checkAPIEnv
	return b
}()

// apiEnv are the environment variables that change what the package-level
// functions serve, read once when the process starts, with the values
// that leave them on the default heap as gopymalloc's zero Config makes
// it. Under any other value the backend would measure another allocator
// (the large-block one, the debug hooks, huge-page arenas, released
// arenas) under its name, and a child inherits the variables.
var apiEnv = []struct {
	name string
	ok   []string
}{
	{pymalloc.EnvVar, []string{"", "default", "pymalloc"}},
	{pymalloc.HugePagesEnvVar, []string{"", "0"}},
	{pymalloc.ArenasEnvVar, []string{"", "keep"}},
}

// checkAPIEnv refuses the environment variables that would make
// gopymalloc-api measure something else.
func checkAPIEnv() error {
	for _, v := range apiEnv {
		if val := os.Getenv(v.name); !slices.Contains(v.ok, val) {
			return fmt.Errorf("gopymalloc-api: %s=%q: the package-level functions would not serve the default heap this backend measures; unset it, or leave gopymalloc-api out", v.name, val)
		}
	}
	return nil
}

type apiBackend struct{}

func (apiBackend) Malloc(n uintptr) unsafe.Pointer                    { return pymalloc.Malloc(n) }
func (apiBackend) Calloc(nelem, elsize uintptr) unsafe.Pointer        { return pymalloc.Calloc(nelem, elsize) }
func (apiBackend) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer { return pymalloc.Realloc(p, n) }
func (apiBackend) Free(p unsafe.Pointer)                              { pymalloc.Free(p) }
func (apiBackend) Close() error                                       { return nil }
