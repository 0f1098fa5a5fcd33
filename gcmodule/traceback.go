package gcmodule

import (
	"unsafe"

	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// Tracing, as tracemalloc sees Python objects: pymalloc.StartTracing
// records where each block was allocated, and an object's traceback is its
// block's, found behind the GC head for a container. Tracebacks leave this
// package's frames out (mem.go), so they start at the program's call.

// ObjectTraceback is tracemalloc.get_object_traceback: where o was
// allocated, most recent call first, from the program's call that made it
// (this package's frames are left out), or nil when o was made while
// pymalloc was not tracing (pymalloc.StartTracing). A container's block
// starts at its GC head, in front of the handle, which this accounts for
// (pymalloc.BlockTraceback takes the block's own address).
func (c *Collector) ObjectTraceback(o Object) pymalloc.Traceback {
	c.check("ObjectTraceback", o)
	block := uintptr(o)
	if isGC(o) {
		block = asGC(o)
	}
	// BlockTraceback looks the address up among the traced blocks and reads
	// no memory at it; the pointer is object memory, outside the Go heap.
	return pymalloc.BlockTraceback(unsafe.Add(nil, block))
}

// ObjectTraceback is Default.ObjectTraceback (tracemalloc.get_object_traceback).
func ObjectTraceback(o Object) pymalloc.Traceback { return Default.ObjectTraceback(o) }
