package obmalloc

// ClassStats is one row of the size-class table.
type ClassStats struct {
	Class       int     // size-class index
	Size        uintptr // block size in bytes
	Pools       int     // pools of this class with at least one block in use
	BlocksInUse int     // blocks handed out
	AvailBlocks int     // free blocks in those pools (carved or not)
}

// Stats is what _PyObject_DebugMallocStats computes, as numbers. Sizes
// are in bytes.
type Stats struct {
	Threshold uintptr // small-request threshold
	PoolSize  uintptr // the layout's pool size
	ArenaSize uintptr // the layout's arena size

	// Classes has one entry per size class, empty ones included.
	Classes []ClassStats

	ArenasAllocatedTotal int // arenas mapped since the heap was made
	ArenasReclaimed      int // arenas unmapped (ReleaseArenas only)
	ArenasHighwater      int // most arenas mapped at once
	ArenasCurrent        int // arenas mapped now

	BytesInAllocatedBlocks    uintptr // Σ blocks in use × size
	BytesInAvailableBlocks    uintptr // Σ free blocks of non-empty pools × size
	UnusedPools               int     // empty pools plus pools never carved
	BytesLostToPoolHeaders    uintptr // non-empty pools × POOL_OVERHEAD
	BytesLostToQuantization   uintptr // Σ non-empty pools × the unusable tail of a pool
	BytesLostToArenaAlignment uintptr // PoolSize × arenas whose base is not pool-aligned

	ArenaMapMidNodes  int     // mid nodes of the radix tree mapped (kept until Close)
	ArenaMapBotNodes  int     // bottom nodes mapped (kept until Close)
	ArenaMapRootBytes uintptr // size of the root node
	ArenaMapMidBytes  uintptr // per mid node
	ArenaMapBotBytes  uintptr // per bottom node

	// RawAllocatedBlocks counts blocks obtained from the large allocator
	// and not freed (size 0, large requests, fallbacks).
	RawAllocatedBlocks int
}

// ArenaBytes is the memory mapped for arenas now; it always equals the
// sum of the six "bytes" figures (allocated, available, unused pools,
// headers, quantization, alignment).
func (s *Stats) ArenaBytes() uintptr { return uintptr(s.ArenasCurrent) * s.ArenaSize }

// AllocatedBlocks is sys.getallocatedblocks(): blocks in pools plus
// blocks from the large allocator.
func (s *Stats) AllocatedBlocks() int {
	n := s.RawAllocatedBlocks
	for _, c := range s.Classes {
		n += c.BlocksInUse
	}
	return n
}

// Add adds t, the statistics of another heap of the same layout, to s,
// as for one heap made of several (pymalloc's sharded default heap): each
// class row, block, byte and arena count adds up. ArenasHighwater becomes
// the sum of the highwater marks, which may exceed the most arenas the
// heaps ever held at once. Adding to a zero Stats copies t.
func (s *Stats) Add(t Stats) {
	if s.Classes == nil {
		*s = t
		s.Classes = append([]ClassStats(nil), t.Classes...)
		return
	}
	for i, c := range t.Classes {
		s.Classes[i].Pools += c.Pools
		s.Classes[i].BlocksInUse += c.BlocksInUse
		s.Classes[i].AvailBlocks += c.AvailBlocks
	}
	s.ArenasAllocatedTotal += t.ArenasAllocatedTotal
	s.ArenasReclaimed += t.ArenasReclaimed
	s.ArenasHighwater += t.ArenasHighwater
	s.ArenasCurrent += t.ArenasCurrent
	s.BytesInAllocatedBlocks += t.BytesInAllocatedBlocks
	s.BytesInAvailableBlocks += t.BytesInAvailableBlocks
	s.UnusedPools += t.UnusedPools
	s.BytesLostToPoolHeaders += t.BytesLostToPoolHeaders
	s.BytesLostToQuantization += t.BytesLostToQuantization
	s.BytesLostToArenaAlignment += t.BytesLostToArenaAlignment
	s.ArenaMapMidNodes += t.ArenaMapMidNodes
	s.ArenaMapBotNodes += t.ArenaMapBotNodes
	s.ArenaMapRootBytes += t.ArenaMapRootBytes
	s.RawAllocatedBlocks += t.RawAllocatedBlocks
}

// ArenaMapBytes is the memory of the radix tree.
func (s *Stats) ArenaMapBytes() uintptr {
	return s.ArenaMapRootBytes + uintptr(s.ArenaMapMidNodes)*s.ArenaMapMidBytes + uintptr(s.ArenaMapBotNodes)*s.ArenaMapBotBytes
}

// Stats walks every carved pool of every arena, as CPython's dump does.
func (h *Heap) Stats() Stats {
	s := Stats{
		Threshold:            h.l.threshold,
		PoolSize:             h.l.poolSize,
		ArenaSize:            h.l.arenaSize,
		Classes:              make([]ClassStats, h.l.nclasses),
		ArenasAllocatedTotal: h.ntimesArenaAllocated,
		ArenasReclaimed:      h.ntimesArenaAllocated - h.narenasCurrentlyAllocated,
		ArenasHighwater:      h.narenasHighwater,
		ArenaMapMidNodes:     h.arenaMap.midCount,
		ArenaMapBotNodes:     h.arenaMap.botCount,
		ArenaMapRootBytes:    h.arenaMap.rootBytes,
		ArenaMapMidBytes:     h.arenaMap.midBytes,
		ArenaMapBotBytes:     h.arenaMap.botBytes,
		RawAllocatedBlocks:   h.rawAllocatedBlocks,
	}
	for i := range s.Classes {
		s.Classes[i] = ClassStats{Class: i, Size: h.l.blockSize(i)}
	}
	h.eachArena(func(ao *arenaObject) {
		s.ArenasCurrent++
		s.UnusedPools += ao.nfreepools
		if ao.address&(h.l.poolSize-1) != 0 {
			s.BytesLostToArenaAlignment += h.l.poolSize
		}
		h.eachCarvedPool(ao, func(pool *poolHeader) {
			if pool.count == 0 {
				return // empty: on freepools, counted among the unused
			}
			c := &s.Classes[pool.szidx]
			c.Pools++
			c.BlocksInUse += int(pool.count)
			c.AvailBlocks += int(h.l.classCapacity[pool.szidx] - pool.count)
		})
	})
	for _, c := range s.Classes {
		s.BytesInAllocatedBlocks += uintptr(c.BlocksInUse) * c.Size
		s.BytesInAvailableBlocks += uintptr(c.AvailBlocks) * c.Size
		s.BytesLostToPoolHeaders += uintptr(c.Pools) * h.l.poolOverhead
		s.BytesLostToQuantization += uintptr(c.Pools) * ((h.l.poolSize - h.l.poolOverhead) % c.Size)
	}
	return s
}

// AllocatedBlocks is sys.getallocatedblocks() for this heap.
func (h *Heap) AllocatedBlocks() int {
	n := h.rawAllocatedBlocks
	h.eachArena(func(ao *arenaObject) {
		h.eachCarvedPool(ao, func(pool *poolHeader) { n += int(pool.count) })
	})
	return n
}

// eachArena calls f for every slot that holds a mapped arena.
func (h *Heap) eachArena(f func(*arenaObject)) {
	for i := range h.arenas {
		if h.arenas[i].address != 0 {
			f(&h.arenas[i])
		}
	}
}

// eachCarvedPool calls f for every pool of ao below its high-water mark.
func (h *Heap) eachCarvedPool(ao *arenaObject, f func(*poolHeader)) {
	for p := h.firstPool(ao); p < ao.poolAddress; p += h.l.poolSize {
		f(poolAt(p))
	}
}

// firstPool is the first pool boundary at or above the arena's base.
func (h *Heap) firstPool(ao *arenaObject) uintptr {
	return (ao.address + h.l.poolSize - 1) &^ (h.l.poolSize - 1)
}
