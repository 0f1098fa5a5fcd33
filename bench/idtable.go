package bench

import (
	"unsafe"
)

// The tables from block ID to block that a replay keeps, as replay.c's
// ptr array: slot i holds block i while it is live; slot 0 is never
// written, so a realloc of ID 0 reads nil, realloc(NULL, n), without a
// test. Both index without a bounds check: the trace reader guarantees
// every ID is at most Trace.MaxID and a table has MaxID+1 slots, and the
// C replayer has no check either.

// ptrTable holds the blocks of an off-heap allocator. It lives in memory
// from mmap, so the collector neither scans its millions of slots nor
// sees the pointers in it, which point outside the Go heap anyway. Its
// slots are not cleared on free, as in replay.c.
type ptrTable struct {
	slots []unsafe.Pointer
	mem   offHeap
}

func newPtrTable(maxID uint32) (ptrTable, error) {
	s, m, err := offHeapSlice[unsafe.Pointer](int(maxID) + 1)
	return ptrTable{s, m}, err
}

// The loops see a table as the address of its slot 0 alone: one word,
// which stays in a register. (Indexing through the whole table value made
// the compiler copy it to the stack for every slot it touched: about 8 %
// of a replay op, measured on json_tool.)
type ptrSlots struct{ base unsafe.Pointer }

func (t ptrTable) base() ptrSlots { return ptrSlots{unsafe.Pointer(unsafe.SliceData(t.slots))} }

func (t ptrSlots) slot(id uint32) *unsafe.Pointer {
	return (*unsafe.Pointer)(unsafe.Add(t.base, uintptr(id)*unsafe.Sizeof(unsafe.Pointer(nil))))
}

func (t ptrTable) release() error { return t.mem.free() }

// sliceTable holds the blocks of a Go-heap allocator as the []byte a Go
// program holds. It is an ordinary Go slice, because the collector must
// see it: it is what keeps the live blocks alive. Freeing a block clears
// its slot, which is how a Go program gives memory back, and scanning the
// table is part of the collector's cost that the replay measures.
type sliceTable struct {
	slots [][]byte
}

// newSliceTable makes the table and writes every slot, so that its pages
// are faulted in before timing, like the off-heap table's.
func newSliceTable(maxID uint32) sliceTable {
	t := sliceTable{make([][]byte, int(maxID)+1)}
	clear(t.slots)
	return t
}

// sliceSlots is a sliceTable as the loops see it (see ptrSlots). The
// pointer keeps the table, and so the blocks, alive.
type sliceSlots struct{ base unsafe.Pointer }

func (t sliceTable) base() sliceSlots { return sliceSlots{unsafe.Pointer(unsafe.SliceData(t.slots))} }

func (t sliceSlots) slot(id uint32) *[]byte {
	return (*[]byte)(unsafe.Add(t.base, uintptr(id)*unsafe.Sizeof([]byte(nil))))
}
