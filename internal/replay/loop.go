package replay

import (
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// replayOps is the timed loop, replay.c's replay_ops: it runs ops through h
// and returns how many allocations returned nil. It is kept tight on
// purpose, because its cost is what Run reports: a switch on the kind,
// direct calls on *obmalloc.Heap (no interface, no closure), no test per op
// other than the touch and nil checks replay.c has too, and no Go
// allocation, so the garbage collector has no reason to run while it does.
//
// Malloc and Free, nine ops in ten, are inlined here (the demo's PGO
// profile does it) with their common cases free of calls. Calloc and
// Realloc go through rareState.op, so that the loop holds few values across
// calls: Go keeps none in registers across a call, and every value live
// across one is stored and reloaded. The nil count lives in the
// rareState for the same reason.
//
// A failed allocation leaves its slot nil, so a later free of that ID is
// free(NULL), which does nothing, and a later realloc is realloc(NULL, n).
//
// The parameters come in this order because Go passes them in registers
// in order and the first register free for ops's length would be CX,
// which every variable shift in Malloc and Free needs: the length would
// move out of CX and back for each op. Here CX holds callocs's length,
// which the loop leaves to rareState.
//
// It is not inlined into Run, so that it stays one function in profiles
// (and in callgrind's counts); that costs a call per batch of ops.
//
//go:noinline
func replayOps(h *obmalloc.Heap, callocs []pytrace.CallocArgs, table idTable, ops []pytrace.Op, doTouch bool) (fails int) {
	rs := rareState{h: h, callocs: callocs, table: table}
	if !doTouch {
		rs.touchAbove = ^uintptr(0)
	}
	touchAbove := rs.touchAbove
	for i := range ops {
		o := &ops[i]
		switch o.Kind() {
		case pytrace.Free:
			h.Free(*table.slot(o.ID()))
		case pytrace.Malloc:
			size := uintptr(o.Size())
			p := h.Malloc(size)
			if p == nil {
				rs.fails++
				continue
			}
			if size > touchAbove {
				touch(p, size)
			}
			table.set(o.ID(), p)
		default:
			rs.op(o)
		}
	}
	return rs.fails
}

// rareState is what rareState.op needs besides the op, behind one pointer.
type rareState struct {
	h       *obmalloc.Heap
	callocs []pytrace.CallocArgs
	table   idTable
	// touchAbove is 0 to touch new blocks, ^0 not to: size > touchAbove
	// is doTouch && size != 0 in one compare.
	touchAbove uintptr
	fails      int
}

// op runs a Calloc or Realloc op as replayOps runs the others. It is not
// inlined, so that replayOps has one call site for both.
//
//go:noinline
func (rs *rareState) op(o *pytrace.Op) {
	size := uintptr(o.Size())
	var p unsafe.Pointer
	if o.Kind() == pytrace.Calloc {
		c := &rs.callocs[o.Old()]
		p = rs.h.Calloc(uintptr(c.Nelem), uintptr(c.Elsize))
	} else {
		p = rs.h.Realloc(*rs.table.slot(o.Old()), size)
	}
	if p == nil {
		rs.fails++
		return
	}
	if size > rs.touchAbove {
		touch(p, size)
	}
	rs.table.set(o.ID(), p)
}
