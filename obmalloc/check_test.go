package obmalloc

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// Check must catch each kind of damage it promises to; every case breaks
// one invariant of a heap that passed Check a moment before, and the
// error must name that invariant.
//
// The heap of most cases has one arena: a pool of class 6 with 39 blocks
// in use and one on its free list (b[1]), and an empty pool on the
// arena's freepools.
func TestCheckDetectsCorruption(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup, when set, builds another heap than the common one.
		setup  func(t *testing.T, h *Heap) []unsafe.Pointer
		damage func(t *testing.T, h *Heap, blocks []unsafe.Pointer)
		want   string
	}{
		{name: "pool count high", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) { poolOfBlock(h, b[0]).count++ }, want: "free list longer"},
		{name: "pool count low", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) { poolOfBlock(h, b[0]).count-- }, want: "but 1 on the free list"},
		{name: "free-list cycle", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) {
			pool := poolOfBlock(h, b[0])
			setWord(pool.freeblock, pool.freeblock)
		}, want: "free list"},
		{name: "free block outside the pool", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) {
			pool := poolOfBlock(h, b[0])
			setWord(pool.freeblock, pool.addr()+h.l.poolSize+64)
		}, want: "not a carved block"},
		{name: "arenaindex", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) { poolOfBlock(h, b[0]).arenaindex = 5 }, want: "arenaindex 5"},
		{name: "ring link", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) { poolOfBlock(h, b[0]).prevpool += 8 }, want: "prevpool"},
		{name: "used pool out of its ring", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) { unlinkPool(poolOfBlock(h, b[0])) },
			want: "1 pools are partly used but the usedpools rings hold 0"},
		{name: "ring holds a pool outside the arenas", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) {
			// A pool-aligned header in memory of no arena, linked into
			// class 6's ring as if it were one of its pools.
			m, err := mmap.Map(2 * h.l.poolSize)
			require.NoError(t, err)
			t.Cleanup(func() { _ = mmap.Unmap(m, 2*h.l.poolSize) })
			fake := poolAt((uintptr(m) + h.l.poolMask) &^ h.l.poolMask)
			fake.szidx, fake.count = 6, 1
			h.linkPoolFront(fake, 6)
		}, want: "not a pool of the heap"},
		{name: "empty pool off freepools", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) { clear(h.arenas[0].freepools) },
			want: "1 empty pools but 0 on freepools"},
		{name: "used pool on freepools", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) {
			ao := &h.arenas[0]
			w, bit := h.freePoolIndex(ao, poolOfBlock(h, b[0]).addr())
			ao.freepools[w] |= bit
		}, want: "on freepools has 39 blocks in use"},
		{name: "nfreepools", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) { h.usableArenas.nfreepools-- }, want: "nfreepools"},
		{name: "usable arena off the list", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) {
			h.nfp2lasta[h.usableArenas.nfreepools] = nil
			h.usableArenas = nil
		}, want: "usable_arenas holds 0 arenas, 1 have free pools"},
		{name: "usable_arenas out of order", setup: twoUsableArenas, damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) {
			// Swap the two arenas, links and all: only the order is wrong
			// (each finger still names the arena with its count).
			a := h.usableArenas
			c := a.nextarena
			require.NotNil(t, c)
			require.Nil(t, c.nextarena)
			require.Less(t, a.nfreepools, c.nfreepools)
			h.usableArenas, c.prevarena, c.nextarena, a.prevarena, a.nextarena = c, nil, a, c, nil
		}, want: "usable_arenas not sorted"},
		{name: "nfp2lasta", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) {
			h.nfp2lasta[h.usableArenas.nfreepools] = nil
		}, want: "nfp2lasta"},
		{name: "arena map leaf", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) {
			a := h.arenas[0].address
			(*arenaCoverage)(ptr(h.arenaMap.leaf(a, false))).tailHi = 0
		}, want: "arena map"},
		{name: "arena map mid-node count", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) { h.arenaMap.midCount++ },
			want: "nodes mapped, counted"},
		{name: "arena counter", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) { h.narenasCurrentlyAllocated++ }, want: "narenas_currently_allocated"},
		{name: "arenas mapped under KeepArenas", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) { h.ntimesArenaAllocated++ },
			want: "policy keep, yet 2 arenas were mapped and 1 remain"},
		{name: "unused slot list", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) { h.unusedArenaObjects = &h.arenas[0] }, want: "unused_arena_objects"},
		{name: "stats do not add up", damage: func(t *testing.T, h *Heap, b []unsafe.Pointer) {
			// A wrong blocks-per-pool figure, as a slip in Stats' arithmetic
			// would give; no structure of the heap disagrees with it.
			h.l.classCapacity[6]--
		}, want: "stats: the bytes add up to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHeap(t, Config{})
			setup := tc.setup
			if setup == nil {
				setup = oneArena
			}
			blocks := setup(t, h)
			require.NoError(t, h.Check())
			tc.damage(t, h, blocks)
			err := h.Check()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// oneArena builds the common heap of TestCheckDetectsCorruption.
func oneArena(t *testing.T, h *Heap) []unsafe.Pointer {
	blocks := make([]unsafe.Pointer, 40)
	for i := range blocks {
		blocks[i] = h.Malloc(100)
	}
	h.Free(blocks[1]) // a used pool with a free list of one block and a virgin rest
	h.Free(h.Malloc(500))
	require.Equal(t, []uint64{1 << 1}, h.arenas[0].freepools, "the arena's pool 1 is empty")
	return blocks
}

// twoUsableArenas builds a heap of two arenas on usable_arenas: the first
// with one free pool, the second with more.
func twoUsableArenas(t *testing.T, h *Heap) []unsafe.Pointer {
	var blocks []unsafe.Pointer
	for h.narenasCurrentlyAllocated < 2 {
		blocks = append(blocks, h.Malloc(512))
	}
	per := int(h.l.classCapacity[31])
	for _, p := range blocks[:per] { // the first pool of the first arena
		h.Free(p)
	}
	require.Equal(t, 1, h.arenas[0].nfreepools)
	return blocks
}

func poolOfBlock(h *Heap, p unsafe.Pointer) *poolHeader {
	return poolAt(uintptr(p) &^ h.l.poolMask)
}
