// Package callers tells the frames of the module's allocation layers from
// the program's, so that a traceback of a traced block (pymalloc's
// tracemalloc) starts at the program's code. tracemalloc records Python
// frames and none of the interpreter's; here the layers are pymalloc
// itself and gcmodule, whose object constructors allocate through it.
// Each layer registers its source directory when it is initialized; their
// test files count as the program's.
package callers

import (
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

var (
	mu   sync.Mutex
	dirs atomic.Pointer[[]string] // replaced whole, so InLayer reads without a lock
)

// RegisterLayer makes the frames of the caller's package (the directory of
// the file that calls it) part of the allocation layers.
func RegisterLayer() {
	_, file, _, ok := runtime.Caller(1)
	if !ok {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	var now []string
	if d := dirs.Load(); d != nil {
		now = *d
	}
	if dir := path.Dir(file); !slices.Contains(now, dir) {
		next := append(slices.Clip(now), dir)
		dirs.Store(&next)
	}
}

// InLayer reports whether f is a frame of a registered layer, not of its
// tests.
func InLayer(f runtime.Frame) bool {
	d := dirs.Load()
	return d != nil && slices.Contains(*d, path.Dir(f.File)) && !strings.HasSuffix(f.File, "_test.go")
}
