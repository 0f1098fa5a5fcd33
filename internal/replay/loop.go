package replay

import (
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// replayOps is the timed loop, replay.c's replay_ops: it runs ops through h
// and returns how many allocations returned nil. It is kept tight on
// purpose, because its cost is what Run reports: one switch on the kind,
// direct calls on *obmalloc.Heap (no interface, no closure), no test per op
// other than the touch and nil checks replay.c has too, and no Go
// allocation, so the garbage collector has no reason to run while it does.
//
// A failed allocation leaves its slot nil, so a later free of that ID is
// free(NULL), which does nothing, and a later realloc is realloc(NULL, n).
func replayOps(h *obmalloc.Heap, ops []pytrace.Op, callocs []pytrace.CallocArgs, table idTable, doTouch bool) (fails int) {
	for _, o := range ops {
		size := uintptr(o.Size())
		var p unsafe.Pointer
		switch o.Kind() {
		case pytrace.Malloc:
			p = h.Malloc(size)
		case pytrace.Calloc:
			c := &callocs[o.Old()]
			p = h.Calloc(uintptr(c.Nelem), uintptr(c.Elsize))
		case pytrace.Realloc:
			p = h.Realloc(*table.slot(o.Old()), size)
		default:
			h.Free(*table.slot(o.ID()))
			continue
		}
		if p == nil {
			fails++
			continue
		}
		if doTouch && size != 0 {
			touch(p, size)
		}
		table.set(o.ID(), p)
	}
	return fails
}
