package obmalloc

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Check must catch each kind of damage it promises to; every case breaks
// one invariant of a heap that passed Check a moment before.
func TestCheckDetectsCorruption(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(h *Heap, blocks []unsafe.Pointer)
		want   string
	}{
		{"pool count", func(h *Heap, b []unsafe.Pointer) { poolOfBlock(h, b[0]).count++ }, "free list longer"},
		{"free-list cycle", func(h *Heap, b []unsafe.Pointer) {
			pool := poolOfBlock(h, b[0])
			setWord(pool.freeblock, pool.freeblock)
		}, "free list"},
		{"free block outside the pool", func(h *Heap, b []unsafe.Pointer) {
			pool := poolOfBlock(h, b[0])
			setWord(pool.freeblock, pool.addr()+h.l.poolSize+64)
		}, "not a carved block"},
		{"ring link", func(h *Heap, b []unsafe.Pointer) { poolOfBlock(h, b[0]).prevpool += 8 }, "prevpool"},
		{"nfreepools", func(h *Heap, b []unsafe.Pointer) { h.usableArenas.nfreepools-- }, "nfreepools"},
		{"nfp2lasta", func(h *Heap, b []unsafe.Pointer) {
			h.nfp2lasta[h.usableArenas.nfreepools] = nil
		}, "nfp2lasta"},
		{"arena map leaf", func(h *Heap, b []unsafe.Pointer) {
			a := h.arenas[0].address
			(*arenaCoverage)(ptr(h.arenaMap.leaf(a, false))).tailHi = 0
		}, "arena map"},
		{"arena counter", func(h *Heap, b []unsafe.Pointer) { h.narenasCurrentlyAllocated++ }, "narenas_currently_allocated"},
		{"unused slot list", func(h *Heap, b []unsafe.Pointer) { h.unusedArenaObjects = &h.arenas[0] }, "unused_arena_objects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHeap(t, Config{})
			blocks := make([]unsafe.Pointer, 40)
			for i := range blocks {
				blocks[i] = h.Malloc(100)
			}
			h.Free(blocks[1]) // a used pool with a free list of two blocks
			require.NoError(t, h.Check())
			tc.damage(h, blocks)
			err := h.Check()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func poolOfBlock(h *Heap, p unsafe.Pointer) *poolHeader {
	return poolAt(uintptr(p) &^ h.l.poolMask)
}
