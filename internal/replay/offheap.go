package replay

import (
	"fmt"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// This file is the only one that does more with unsafe than pass the
// heap's unsafe.Pointer results around.
//
// Invariant: every pointer stored in, or touched through, these helpers
// points into memory from mmap (the ID table itself, the obmalloc heap's
// arenas, the large-block allocator's mappings), never into the Go heap.
// The Go garbage collector neither scans nor moves that memory, so a
// pointer held there cannot keep a Go object alive or go stale, and the
// table's millions of slots cost the collector nothing.

// idTable maps block IDs to the blocks the heap returned, as replay.c's
// ptr array: slot i holds block i while it is live. Slot 0 is never
// written and stays nil, which makes a realloc of ID 0 a realloc(NULL, n)
// without a test.
type idTable []unsafe.Pointer

// newIDTable maps a zeroed table with slots 0..maxID and writes every
// page of it, so its page faults happen now and not in the timed loop.
func newIDTable(maxID uint32) (idTable, error) {
	n := uintptr(maxID) + 1
	p, err := mmap.Map(n * unsafe.Sizeof(unsafe.Pointer(nil)))
	if err != nil {
		return nil, fmt.Errorf("replay: ID table for %d blocks: %w", maxID, err)
	}
	t := idTable(unsafe.Slice((*unsafe.Pointer)(p), n))
	clear(t) // faults the pages in, like replay.c's memset
	return t, nil
}

// slot returns the address of slot id without a bounds check. The trace
// reader guarantees that every ID in a trace is at most Trace.MaxID, and
// the table has MaxID+1 slots, so the check the compiler would add can
// never fail; the C replayer has none either, and the timed loop takes
// two slots per op.
func (t idTable) slot(id uint32) *unsafe.Pointer {
	return (*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(t)), uintptr(id)*unsafe.Sizeof(unsafe.Pointer(nil))))
}

// set stores p in slot id (without a bounds check, as slot). The store
// goes through a *uintptr because the table is off-heap and p never
// points into the Go heap (see the invariant above): the write barrier
// the compiler puts on an unsafe.Pointer store has nothing to record,
// and its test would cost two instructions per allocation in the loop.
func (t idTable) set(id uint32, p unsafe.Pointer) {
	*(*uintptr)(unsafe.Pointer(t.slot(id))) = uintptr(p)
}

// release unmaps the table; t must not be used afterwards.
func (t idTable) release() error {
	return mmap.Unmap(unsafe.Pointer(unsafe.SliceData(t)), uintptr(len(t))*unsafe.Sizeof(unsafe.Pointer(nil)))
}

// touch writes the first and last byte of the n-byte block at p (n > 0),
// as replay.c does after every allocation.
func touch(p unsafe.Pointer, n uintptr) {
	*(*byte)(p) = 1
	*(*byte)(unsafe.Add(p, n-1)) = 1
}
