package obmalloc

import (
	"fmt"

	"github.com/gopymalloc/gopymalloc/internal/rawalloc"
)

// Fault is the panic value of a misused Heap: Free or Realloc of a pointer
// the heap did not hand out or already took back (as far as the cheap
// checks tell: a pool with no block in use, an address inside a pool
// header, a pointer no arena holds and the large-block allocator does not
// know), or an allocation, Free or Realloc on a closed heap. The heap is
// left usable. (The large allocator's own free-list faults go on as its
// Fault: see explainLargeFault.) A program
// that recovers can tell the fault from other panics and read its fields:
//
//	if f, ok := recover().(obmalloc.Fault); ok { ... f.Call, f.Addr ... }
//
// CPython would crash or corrupt its heap silently; the port says what
// happened, where.
type Fault struct {
	Call    string  // the method misused: "Free", "Realloc", "Malloc", "HugePageArenas.Free", ...
	Addr    uintptr // the pointer passed to it (the size, for Malloc on a closed heap and HugePageArenas.Alloc)
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
