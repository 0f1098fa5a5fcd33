package obmalloc

import (
	"fmt"

	"github.com/gopymalloc/gopymalloc/internal/rawalloc"
)

// Fault is the panic value of a misused Heap: Free or Realloc of a pointer
// that the cheap checks refuse, or an allocation, Free or Realloc on a
// closed heap. The heap is left usable. The checks refuse
//   - an address inside a pool header, or in the partial pool before an
//     arena's first pool boundary;
//   - an address in a pool with no block in use. A double free or a
//     foreign pointer in a pool that still has blocks in use goes
//     unnoticed (as in CPython), so the pointer a Fault names may be a
//     valid one freed later in the same pool, and its Problem says so;
//   - a pointer that no arena holds and that the large-block allocator
//     does not know: the Problem starts "in no arena of the heap, and"
//     and goes on with that allocator's reason.
//
// A fault the large allocator finds in its own free lists (a free block
// overwritten through a dangling pointer, met while serving the call) is
// not about the pointer passed, so it does not become a Fault: it goes on
// as that allocator's panic value, the free block's address in it (for a
// heap's own large allocator, the type pymalloc calls RawFault).
// HugePageArenas panics with a Fault too, for a size it cannot serve or
// an arena it did not hand out. A program that recovers can tell a Fault
// from other panics and read its fields:
//
//	if f, ok := recover().(obmalloc.Fault); ok { ... f.Call, f.Addr ... }
//
// CPython would crash or corrupt its heap silently; the port says what
// happened, where.
type Fault struct {
	Call    string  // the method misused: "Free", "Realloc", "Malloc", "HugePageArenas.Free", ...
	Addr    uintptr // the pointer passed to it (the size, for Malloc or Calloc on a closed heap and HugePageArenas.Alloc)
	Problem string  // what was wrong, in words
}

// Error formats the fault as "obmalloc: Call(0xaddr): problem".
func (f Fault) Error() string {
	return fmt.Sprintf("obmalloc: %s(%#x): %s", f.Call, f.Addr, f.Problem)
}

// explainLargeFault runs deferred around calls that hand a pointer to the
// large allocator: if that allocator refuses it, the panic becomes a Fault
// that also says no arena holds the pointer, so the message tells the
// whole story. A fault about the large allocator's own free lists (a
// block written through a dangling pointer, met on the way) is not about
// that pointer: it goes on as the large allocator's Fault (pymalloc's
// RawFault), with the free block's address.
func explainLargeFault() {
	r := recover()
	if r == nil {
		return
	}
	if f, ok := r.(rawalloc.Fault); ok && !f.FreeList() {
		panic(Fault{Call: f.Call, Addr: f.Addr, Problem: "in no arena of the heap, and " + f.Problem})
	}
	panic(r)
}
