package rawalloc

import "fmt"

// Fault is the panic value of a misused Heap: Free, Realloc or UsableSize
// of an address that is not a live block of the heap, or a Malloc, Calloc
// or Realloc that finds a free block's header overwritten. The heap is
// left as it was (still usable) when the panic is raised; a program that
// recovers can inspect the fields with errors.As:
//
//	var f rawalloc.Fault
//	if errors.As(err, &f) { ... f.Problem ... }
//
// Misuse is reported, never absorbed: freeing a foreign or freed pointer in
// C corrupts the heap silently, here it stops the caller where it happens.
type Fault struct {
	// Call is the method that was misused: "Free", "Realloc",
	// "UsableSize", or "Malloc"/"Calloc"/"Realloc" for a corrupt free block.
	Call string
	// Addr is the address passed to Call (the free block's address for a
	// corrupt free list).
	Addr uintptr
	// Problem says what was wrong, in words.
	Problem string
}

// Error formats the fault as "Call(0xaddr): problem".
func (f Fault) Error() string {
	return fmt.Sprintf("%s(%#x): %s", f.Call, f.Addr, f.Problem)
}

// The problems a Fault can report; each has its own text so that the
// message alone tells them apart.
const (
	problemNoMapping = "not a block of the large-block allocator (no mapping of it contains the address)"
	problemInterior  = "not the start of a block (an interior pointer into a mapping of the large-block allocator)"
	problemCorrupt   = "the block's header is corrupt (overwritten, perhaps by an overflow of the block before it)"
	problemFreed     = "the block is already free (double free)"
	problemFreeList  = "a free block's header or free-list link is corrupt (memory was written through a dangling or overflowing pointer)"
)

// FreeList reports whether f is about the heap's own free blocks (one
// written through a dangling pointer) rather than the pointer passed.
func (f Fault) FreeList() bool { return f.Problem == problemFreeList }
