package obmalloc

import (
	"fmt"
	"math/bits"
)

// Check verifies the heap's invariants and returns an error describing the
// first one broken, or nil. It walks every structure (rings, free lists,
// arenas, the arena map), so it costs time proportional to the heap; tests
// call it after every step of random sequences.
//
// What it checks:
//   - every pool in a usedpools ring has that class, 0 < count < capacity,
//     consistent links, and every such pool is in its ring;
//   - every carved pool's count agrees with its free list and carving
//     offset: the list holds exactly carved − count distinct blocks, each
//     a block boundary below nextoffset; a full pool has an empty list;
//   - each arena's freepools holds exactly its empty carved pools, and
//     nfreepools = those + the pools never carved;
//   - usable_arenas is doubly linked, sorted by nfreepools, holds exactly
//     the arenas with a free pool, and nfp2lasta[k] is the last arena of
//     the list with k free pools;
//   - unused_arena_objects holds exactly the slots without an arena;
//   - the arena map marks exactly the mapped arenas;
//   - the stats identities hold (the bytes add up to the arenas' size).
func (h *Heap) Check() error {
	if h.closed {
		return fmt.Errorf("obmalloc: Check: heap is closed")
	}
	for _, f := range []func() error{h.checkArenas, h.checkArenaMap, h.checkRings, h.checkUsableArenas, h.checkStats} {
		if err := f(); err != nil {
			return fmt.Errorf("obmalloc: Check: %w", err)
		}
	}
	return nil
}

// checkArenas checks every arena slot, its pools and their free lists.
func (h *Heap) checkArenas() error {
	current, unused := 0, 0
	for ao := h.unusedArenaObjects; ao != nil; ao = ao.nextarena {
		if ao.address != 0 {
			return fmt.Errorf("unused_arena_objects holds slot %d, which has arena %#x", h.arenaIndex(ao), ao.address)
		}
		if unused++; unused > len(h.arenas) {
			return fmt.Errorf("unused_arena_objects has a cycle")
		}
	}
	for i := range h.arenas {
		ao := &h.arenas[i]
		if ao.address == 0 {
			continue
		}
		current++
		if err := h.checkArena(i, ao); err != nil {
			return err
		}
	}
	if current+unused != len(h.arenas) {
		return fmt.Errorf("%d arenas mapped and %d slots unused, but the vector has %d slots", current, unused, len(h.arenas))
	}
	if current != h.narenasCurrentlyAllocated {
		return fmt.Errorf("%d arenas mapped but narenas_currently_allocated = %d", current, h.narenasCurrentlyAllocated)
	}
	if h.narenasHighwater < current || h.ntimesArenaAllocated < h.narenasHighwater {
		return fmt.Errorf("arena counters out of order: current %d, highwater %d, total %d", current, h.narenasHighwater, h.ntimesArenaAllocated)
	}
	if h.l.policy == KeepArenas && h.ntimesArenaAllocated != current {
		return fmt.Errorf("policy keep, yet %d arenas were mapped and %d remain", h.ntimesArenaAllocated, current)
	}
	return nil
}

func (h *Heap) checkArena(i int, ao *arenaObject) error {
	first := h.firstPool(ao)
	wantTotal := h.l.maxPools
	if first != ao.address {
		wantTotal--
	}
	if ao.ntotalpools != wantTotal {
		return fmt.Errorf("arena %d at %#x: ntotalpools %d, want %d", i, ao.address, ao.ntotalpools, wantTotal)
	}
	end := first + uintptr(wantTotal)*h.l.poolSize
	if ao.poolAddress < first || ao.poolAddress > end || (ao.poolAddress-first)%h.l.poolSize != 0 {
		return fmt.Errorf("arena %d at %#x: pool_address %#x outside [%#x, %#x]", i, ao.address, ao.poolAddress, first, end)
	}
	empty := 0
	for p := first; p < ao.poolAddress; p += h.l.poolSize {
		pool := poolAt(p)
		if pool.arenaindex != uint32(i) {
			return fmt.Errorf("pool %#x: arenaindex %d, but it lies in arena %d", p, pool.arenaindex, i)
		}
		if pool.count == 0 {
			empty++
			continue
		}
		if err := h.checkPool(pool); err != nil {
			return err
		}
	}
	listed := 0
	for w, word := range ao.freepools {
		for ; word != 0; word &= word - 1 {
			p := first + uintptr(w*64+bits.TrailingZeros64(word))*h.l.poolSize
			if p >= ao.poolAddress {
				return fmt.Errorf("arena %d: freepools holds %#x, which is not a carved pool of the arena", i, p)
			}
			if c := poolAt(p).count; c != 0 {
				return fmt.Errorf("arena %d: pool %#x on freepools has %d blocks in use", i, p, c)
			}
			listed++
		}
	}
	if listed != empty {
		return fmt.Errorf("arena %d: %d empty pools but %d on freepools", i, empty, listed)
	}
	virgin := int((end - ao.poolAddress) / h.l.poolSize)
	if ao.nfreepools != empty+virgin {
		return fmt.Errorf("arena %d: nfreepools %d, want %d empty + %d never carved", i, ao.nfreepools, empty, virgin)
	}
	return nil
}

// checkPool checks a pool with blocks in use: class, offsets, free list.
func (h *Heap) checkPool(pool *poolHeader) error {
	p := pool.addr()
	if int(pool.szidx) >= h.l.nclasses {
		return fmt.Errorf("pool %#x: szidx %d, only %d classes", p, pool.szidx, h.l.nclasses)
	}
	size := h.l.blockSize(int(pool.szidx))
	capacity := h.l.classCapacity[pool.szidx]
	if pool.count > capacity {
		return fmt.Errorf("pool %#x: count %d above capacity %d", p, pool.count, capacity)
	}
	if uintptr(pool.maxnextoffset) != h.l.poolSize-size {
		return fmt.Errorf("pool %#x: maxnextoffset %d, want %d", p, pool.maxnextoffset, h.l.poolSize-size)
	}
	next := uintptr(pool.nextoffset)
	if next < h.l.poolOverhead+size || (next-h.l.poolOverhead)%size != 0 || next > h.l.poolSize-size+size {
		return fmt.Errorf("pool %#x: nextoffset %d is not a block boundary of class %d", p, next, pool.szidx)
	}
	carved := uint32((next - h.l.poolOverhead) / size)
	if pool.count > carved {
		return fmt.Errorf("pool %#x: count %d but only %d blocks carved", p, pool.count, carved)
	}
	n := uint32(0)
	for b := pool.freeblock; b != 0; b = word(b) {
		off := b - p
		if b < p || off >= next || off < h.l.poolOverhead || (off-h.l.poolOverhead)%size != 0 {
			return fmt.Errorf("pool %#x: free list holds %#x, not a carved block", p, b)
		}
		if n++; n > carved-pool.count {
			return fmt.Errorf("pool %#x: free list longer than the %d free carved blocks (cycle or double free)", p, carved-pool.count)
		}
	}
	if n != carved-pool.count {
		return fmt.Errorf("pool %#x: %d carved, %d in use, but %d on the free list", p, carved, pool.count, n)
	}
	if full := pool.count == capacity; full != (pool.freeblock == 0 && pool.nextoffset > pool.maxnextoffset) {
		return fmt.Errorf("pool %#x: count %d of %d but freeblock %#x", p, pool.count, capacity, pool.freeblock)
	}
	return nil
}

// checkRings checks the usedpools rings and that they hold exactly the
// pools that are neither empty nor full.
func (h *Heap) checkRings() error {
	inRing := 0
	for i := 0; i < h.l.nclasses; i++ {
		head := h.phantom(uint32(i))
		prev := head
		for p := poolAt(head).nextpool; p != head; p = poolAt(p).nextpool {
			pool := poolAt(p)
			if !h.arenaMap.isUsed(p) || p&(h.l.poolSize-1) != 0 {
				return fmt.Errorf("usedpools[%d] holds %#x, not a pool of the heap", i, p)
			}
			if pool.prevpool != prev {
				return fmt.Errorf("usedpools[%d]: pool %#x has prevpool %#x, want %#x", i, p, pool.prevpool, prev)
			}
			if pool.szidx != uint32(i) || pool.count == 0 || pool.count >= h.l.classCapacity[i] {
				return fmt.Errorf("usedpools[%d] holds pool %#x of class %d with %d blocks in use", i, p, pool.szidx, pool.count)
			}
			prev = p
			if inRing++; inRing > len(h.arenas)*h.l.maxPools {
				return fmt.Errorf("usedpools[%d] has a cycle", i)
			}
		}
		if poolAt(head).prevpool != prev {
			return fmt.Errorf("usedpools[%d]: the head's prevpool is %#x, want the last pool %#x", i, poolAt(head).prevpool, prev)
		}
	}
	partial := 0
	h.eachArena(func(ao *arenaObject) {
		h.eachCarvedPool(ao, func(pool *poolHeader) {
			if pool.count > 0 && pool.count < h.l.classCapacity[pool.szidx] {
				partial++
			}
		})
	})
	if partial != inRing {
		return fmt.Errorf("%d pools are partly used but the usedpools rings hold %d", partial, inRing)
	}
	return nil
}

// checkUsableArenas checks the sorted list and its nfp2lasta fingers.
func (h *Heap) checkUsableArenas() error {
	want := 0
	h.eachArena(func(ao *arenaObject) {
		if ao.nfreepools > 0 {
			want++
		}
	})
	last := make([]*arenaObject, len(h.nfp2lasta))
	n := 0
	var prev *arenaObject
	for ao := h.usableArenas; ao != nil; ao = ao.nextarena {
		if ao.address == 0 || ao.nfreepools == 0 {
			return fmt.Errorf("usable_arenas holds arena slot %d with address %#x and %d free pools", h.arenaIndex(ao), ao.address, ao.nfreepools)
		}
		if ao.prevarena != prev {
			return fmt.Errorf("usable_arenas: arena slot %d has a wrong prevarena", h.arenaIndex(ao))
		}
		if prev != nil && prev.nfreepools > ao.nfreepools {
			return fmt.Errorf("usable_arenas not sorted: %d free pools before %d", prev.nfreepools, ao.nfreepools)
		}
		last[ao.nfreepools] = ao
		prev = ao
		if n++; n > want {
			return fmt.Errorf("usable_arenas holds more than the %d arenas with free pools (cycle?)", want)
		}
	}
	if n != want {
		return fmt.Errorf("usable_arenas holds %d arenas, %d have free pools", n, want)
	}
	for k := range last {
		if h.nfp2lasta[k] != last[k] {
			return fmt.Errorf("nfp2lasta[%d] is wrong: want the last usable arena with %d free pools", k, k)
		}
	}
	return nil
}

// checkArenaMap walks every leaf of every bottom node and checks that the
// arenas the leaves describe are exactly the mapped ones, and that each
// node is reachable from the root where its address bits say.
func (h *Heap) checkArenaMap() error {
	m := &h.arenaMap
	mapped := map[uintptr]bool{}
	h.eachArena(func(ao *arenaObject) { mapped[ao.address] = true })
	seen := map[uintptr]bool{}
	slotSize := m.arenaMask + 1
	mids, bots := 0, 0
	for _, n := range m.nodes {
		mid := m.child(m.root + (n.prefix>>m.topShift)*ptrSize)
		if !n.bot {
			mids++
			if mid != n.addr {
				return fmt.Errorf("arena map: mid node %#x for %#x is not in the root", n.addr, n.prefix)
			}
			continue
		}
		bots++
		if m.child(mid+(n.prefix>>m.midShift&m.midMask)*ptrSize) != n.addr {
			return fmt.Errorf("arena map: bottom node %#x for %#x is not in its mid node", n.addr, n.prefix)
		}
		for bi := uintptr(0); bi <= m.botMask; bi++ {
			leaf := (*arenaCoverage)(ptr(n.addr + bi*leafSize))
			slot := n.prefix | bi<<m.arenaBits
			switch {
			case leaf.tailHi == -1:
				seen[slot] = true
			case leaf.tailHi != 0:
				seen[slot+uintptr(leaf.tailHi)] = true
			}
			if leaf.tailLo != 0 && !mapped[slot-slotSize+uintptr(leaf.tailLo)] {
				return fmt.Errorf("arena map: slot %#x is covered below offset %#x but no arena starts at %#x",
					slot, leaf.tailLo, slot-slotSize+uintptr(leaf.tailLo))
			}
		}
	}
	if m.hotKey != ^uintptr(0) {
		k := m.hotKey
		mid := m.child(m.root + (k>>m.topShift)*ptrSize)
		if b := m.child(mid + (k>>m.midShift&m.midMask)*ptrSize); b != m.hotBot {
			return fmt.Errorf("arena map: the cached bottom node for %#x is %#x, the tree holds %#x", k, m.hotBot, b)
		}
	}
	if mids != m.midCount || bots != m.botCount {
		return fmt.Errorf("arena map: %d mid and %d bottom nodes mapped, counted %d and %d", mids, bots, m.midCount, m.botCount)
	}
	for a := range seen {
		if !mapped[a] {
			return fmt.Errorf("arena map marks an arena at %#x that is not mapped", a)
		}
	}
	for a := range mapped {
		if !seen[a] || !m.isUsed(a) || !m.isUsed(a+slotSize-1) {
			return fmt.Errorf("arena %#x is mapped but the arena map does not cover it", a)
		}
	}
	return nil
}

// checkStats checks the identities that hold in every CPython dump.
func (h *Heap) checkStats() error {
	s := h.Stats()
	sum := s.BytesInAllocatedBlocks + s.BytesInAvailableBlocks + uintptr(s.UnusedPools)*s.PoolSize +
		s.BytesLostToPoolHeaders + s.BytesLostToQuantization + s.BytesLostToArenaAlignment
	if sum != s.ArenaBytes() {
		return fmt.Errorf("stats: the bytes add up to %d, the arenas hold %d", sum, s.ArenaBytes())
	}
	pools := s.UnusedPools
	for _, c := range s.Classes {
		pools += c.Pools
	}
	if want := s.ArenasCurrent*h.l.maxPools - int(s.BytesLostToArenaAlignment/s.PoolSize); pools != want {
		return fmt.Errorf("stats: %d pools counted, the arenas hold %d", pools, want)
	}
	if s.ArenasReclaimed != s.ArenasAllocatedTotal-s.ArenasCurrent {
		return fmt.Errorf("stats: reclaimed %d != total %d - current %d", s.ArenasReclaimed, s.ArenasAllocatedTotal, s.ArenasCurrent)
	}
	return nil
}
