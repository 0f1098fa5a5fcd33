package obmalloc

import (
	"math"
	"math/bits"
	"unsafe"
)

// initialArenaObjects is INITIAL_ARENA_OBJECTS: the first size of the
// arenas vector, which then doubles.
const initialArenaObjects = 16

// arenaObject is struct arena_object: the bookkeeping for one arena, kept
// in the Go-side vector Heap.arenas (the arena's own memory holds only
// pools). A slot whose address is 0 has no arena and sits on
// unusedArenaObjects.
//
// Links are Go pointers into the vector, as in CPython. They stay valid
// because the vector only grows when no live link points into it: growth
// happens when unusedArenaObjects is empty, and then usableArenas and every
// nfp2lasta entry are nil too (Check verifies this invariant). The links a
// full arena kept from its last list are stale, as in CPython, and
// growArenas clears them in the copy, so that they do not keep the old
// vector reachable.
type arenaObject struct {
	address     uintptr  // base of the mapping; 0: slot unused
	poolAddress uintptr  // next pool to carve (pool-aligned high-water mark)
	nfreepools  int      // pools on freepools plus pools never carved
	ntotalpools int      // pools in the arena: maxPools, or one less when the base is not pool-aligned
	freepools   []uint64 // the arena's empty pools, a bit per pool (see takeFreePool)
	nextarena   *arenaObject
	prevarena   *arenaObject
}

// newArena maps a new arena and returns its object, or nil when the vector
// cannot grow, the ArenaAllocator fails, or the radix tree cannot be
// extended. It is called only when usableArenas is empty.
func (h *Heap) newArena() *arenaObject {
	if h.unusedArenaObjects == nil {
		if !h.growArenas() {
			return nil
		}
	}
	ao := h.unusedArenaObjects
	base := uintptr(h.arenaAlloc.Alloc(h.l.arenaSize))
	if base == 0 {
		return nil
	}
	if !h.arenaMap.mark(base, true) {
		h.arenaAlloc.Free(ptr(base), h.l.arenaSize)
		return nil
	}
	h.unusedArenaObjects = ao.nextarena
	ao.address = base
	ao.nextarena, ao.prevarena = nil, nil
	h.narenasCurrentlyAllocated++
	h.ntimesArenaAllocated++
	h.narenasHighwater = max(h.narenasHighwater, h.narenasCurrentlyAllocated)
	clear(ao.freepools)
	ao.nfreepools = h.l.maxPools
	ao.poolAddress = base
	if excess := base & (h.l.poolSize - 1); excess != 0 {
		// The mapping is only page-aligned: skip to the first pool
		// boundary and lose one pool's worth of bytes, as CPython does.
		ao.nfreepools--
		ao.poolAddress = base + h.l.poolSize - excess
	}
	ao.ntotalpools = ao.nfreepools
	return ao
}

// growArenas doubles the arenas vector (16 slots the first time) and chains
// the new slots into unusedArenaObjects.
func (h *Heap) growArenas() bool {
	old := len(h.arenas)
	n := initialArenaObjects
	if old > 0 {
		// CPython doubles while its uint count does not overflow (2^31
		// slots); one doubling less here keeps n an int on 32-bit
		// systems. Either way, a petabyte of arenas.
		if old > math.MaxInt32/2 {
			return false
		}
		n = 2 * old
	}
	grown := make([]arenaObject, n)
	copy(grown, h.arenas)
	for i := range grown[:old] {
		grown[i].nextarena, grown[i].prevarena = nil, nil // stale: every arena is full
	}
	h.arenas = grown
	// The new slots' freepools bitmaps, cut from one allocation.
	words := (h.l.maxPools + 63) / 64
	bitmaps := make([]uint64, (n-old)*words)
	for i := old; i < n; i++ {
		k := (i - old) * words
		h.arenas[i].freepools = bitmaps[k : k+words : k+words]
	}
	for i := old; i < n-1; i++ {
		h.arenas[i].nextarena = &h.arenas[i+1]
	}
	h.unusedArenaObjects = &h.arenas[old]
	return true
}

// arenaIndex is ao's slot number in the vector, which pool headers store
// instead of a pointer (the vector moves when it grows).
func (h *Heap) arenaIndex(ao *arenaObject) uint32 {
	return uint32((uintptr(unsafe.Pointer(ao)) - uintptr(unsafe.Pointer(&h.arenas[0]))) / unsafe.Sizeof(*ao))
}

// allocateFromNewPool serves a request of class idx whose usedpools ring is
// empty: take a pool from the head of usableArenas (the arena with the
// fewest free pools), preferring one of its cached empty pools over a
// virgin one, and make it the ring's only member. It returns 0 when no
// arena can be had.
func (h *Heap) allocateFromNewPool(idx uint32) uintptr {
	if h.usableArenas == nil {
		ao := h.newArena()
		if ao == nil {
			return 0
		}
		h.usableArenas = ao
		h.nfp2lasta[ao.nfreepools] = ao
	}
	ao := h.usableArenas
	// Taking a pool keeps ao the minimum, so the list order holds; only
	// the finger for its old and new free-pool counts can move.
	nf := ao.nfreepools
	if h.nfp2lasta[nf] == ao {
		h.nfp2lasta[nf] = nil
	}
	if nf > 1 {
		h.nfp2lasta[nf-1] = ao
	}
	var pool *poolHeader
	if p := h.takeFreePool(ao); p != 0 {
		pool = poolAt(p)
	} else {
		pool = poolAt(ao.poolAddress)
		pool.arenaindex = h.arenaIndex(ao)
		ao.poolAddress += h.l.poolSize
	}
	ao.nfreepools--
	if ao.nfreepools == 0 {
		// Wholly allocated: it leaves usableArenas and is on no list.
		h.usableArenas = ao.nextarena
		if h.usableArenas != nil {
			h.usableArenas.prevarena = nil
		}
	}
	h.linkPoolFront(pool, idx)
	pool.count = 1
	// CPython reuses the free list of a pool that last served this class
	// (szidx == size); this port carves every pool taken from freepools
	// afresh, so blocks come back in address order, as from a virgin pool.
	// Under KeepArenas a program that frees much and builds again gets all
	// its memory from such pools, and a stale free list (last freed first)
	// would scatter the new build over memory: docs/fidelity.md has the
	// figures. The counts in every stats row are the same either way.
	return h.initPool(pool, idx)
}

// freepools: CPython keeps an arena's empty pools on a list, last emptied
// first. Here they are a bitmap, bit i for the arena's pool i, and the
// lowest one is taken first, so after a large teardown a program builds
// again through its arenas in address order, as through fresh ones (the
// stats do not change: which arena serves is the same, and so is every
// count). docs/fidelity.md has the figures.

// takeFreePool takes ao's empty pool of lowest address off freepools and
// returns its address, or 0 when the arena has none.
func (h *Heap) takeFreePool(ao *arenaObject) uintptr {
	for w, word := range ao.freepools {
		if word != 0 {
			i := bits.TrailingZeros64(word)
			ao.freepools[w] = word &^ (1 << i)
			return h.firstPool(ao) + uintptr(w*64+i)*h.l.poolSize
		}
	}
	return 0
}

// freePoolIndex is pool's bit in its arena's freepools.
func (h *Heap) freePoolIndex(ao *arenaObject, pool uintptr) (word int, bit uint64) {
	i := int((pool - h.firstPool(ao)) / h.l.poolSize)
	return i / 64, 1 << (i % 64)
}

// insertToFreepool runs when a free empties a used pool: the pool leaves
// its class ring for its arena's freepools, and the arena's place in
// usableArenas is restored (cases of insert_to_freepool).
func (h *Heap) insertToFreepool(pool *poolHeader) {
	unlinkPool(pool)
	ao := &h.arenas[pool.arenaindex]
	w, bit := h.freePoolIndex(ao, pool.addr())
	ao.freepools[w] |= bit
	nf := ao.nfreepools
	// lastnf is the rightmost arena with nf free pools; if it is ao, the
	// finger passes to its left neighbour when that one has nf too.
	lastnf := h.nfp2lasta[nf]
	if lastnf == ao {
		p := ao.prevarena
		if p != nil && p.nfreepools == nf {
			h.nfp2lasta[nf] = p
		} else {
			h.nfp2lasta[nf] = nil
		}
	}
	nf++
	ao.nfreepools = nf

	if nf == ao.ntotalpools && ao.nextarena != nil && h.l.policy == ReleaseArenas {
		// Wholly free and not the last usable arena: give it back.
		h.releaseArena(ao)
		return
	}
	if nf == 1 {
		// It was full, hence on no list: it now has the fewest free
		// pools of all, so it goes to the head.
		ao.nextarena = h.usableArenas
		ao.prevarena = nil
		if h.usableArenas != nil {
			h.usableArenas.prevarena = ao
		}
		h.usableArenas = ao
		if h.nfp2lasta[1] == nil {
			h.nfp2lasta[1] = ao
		}
		return
	}
	if h.nfp2lasta[nf] == nil {
		h.nfp2lasta[nf] = ao
	}
	if ao == lastnf {
		// It was the rightmost with nf-1 free pools: still in order.
		return
	}
	// Slide ao right, to just after the last arena that still has nf-1
	// free pools.
	if ao.prevarena != nil {
		ao.prevarena.nextarena = ao.nextarena
	} else {
		h.usableArenas = ao.nextarena
	}
	ao.nextarena.prevarena = ao.prevarena
	ao.prevarena = lastnf
	ao.nextarena = lastnf.nextarena
	if ao.nextarena != nil {
		ao.nextarena.prevarena = ao
	}
	lastnf.nextarena = ao
}

// releaseArena unmaps a wholly free arena (ReleaseArenas policy only).
func (h *Heap) releaseArena(ao *arenaObject) {
	if ao.prevarena == nil {
		h.usableArenas = ao.nextarena
	} else {
		ao.prevarena.nextarena = ao.nextarena
	}
	if ao.nextarena != nil {
		ao.nextarena.prevarena = ao.prevarena
	}
	ao.nextarena = h.unusedArenaObjects
	h.unusedArenaObjects = ao
	h.arenaMap.mark(ao.address, false)
	h.arenaAlloc.Free(ptr(ao.address), h.l.arenaSize)
	ao.address = 0
	h.narenasCurrentlyAllocated--
}
