package main

import (
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// Chapter 5: the statistics, in the layout of CPython 3.11's
// sys._debugmallocstats(), for a heap after a small workload, with the
// identities that make the dump readable checked on the spot.

func tellStats(t *teller, cfg storyConfig, f *storyFigures) error {
	h, err := obmalloc.New(obmalloc.Config{})
	if err != nil {
		return err
	}
	defer h.Close()
	live := runWorkload(h, cfg.WorkloadObjects)
	f.DumpLiveOfProgram = len(live)
	t.para(`CPython prints its allocator's state with sys._debugmallocstats() (or, with
		PYTHONMALLOCSTATS set, at each new arena and at exit). Here is the same dump,
		byte for byte in the layout of its allocator section, for a heap after a small
		program: %s built, two in three freed at random, %s more built (%s
		live).`,
		count(cfg.WorkloadObjects, "object"), withCommas(uint64(cfg.WorkloadObjects/4)), withCommas(uint64(len(live))))
	if err := h.WriteDebugMallocStats(t.indented(4)); err != nil {
		return err
	}
	t.printf("\n")

	s := h.Stats()
	f.DumpArenas = s.ArenasCurrent
	f.DumpBlocksInUse = h.AllocatedBlocks()
	cap := func(c obmalloc.ClassStats) int { return int((s.PoolSize - poolOverhead(h)) / c.Size) }
	f.DumpRowsAddUp = true
	var example *obmalloc.ClassStats
	for i, c := range s.Classes {
		if c.Pools == 0 {
			continue
		}
		if c.BlocksInUse+c.AvailBlocks != c.Pools*cap(c) {
			f.DumpRowsAddUp = false
		}
		if example == nil || c.Pools > example.Pools {
			example = &s.Classes[i]
		}
	}
	sum := s.BytesInAllocatedBlocks + s.BytesInAvailableBlocks + uintptr(s.UnusedPools)*s.PoolSize +
		s.BytesLostToPoolHeaders + s.BytesLostToQuantization + s.BytesLostToArenaAlignment
	f.DumpBytesAddUp = sum == uintptr(s.ArenasCurrent)*s.ArenaSize
	if example != nil {
		t.para(`Each row is a size class with a pool in use. Class %d (%d-byte blocks) has
			%s, %s in use and %s available: %s in all, %s of %s each, since a
			%d-byte pool holds %s of %d bytes after its %d-byte header. Every row adds
			up the same way (%t). Blocks in use here: %s of the %s of the whole heap (sys.getallocatedblocks(), which counts the large
			blocks of the OBJ and MEM domains too).`,
			example.Class, example.Size, count(example.Pools, "pool"), count(example.BlocksInUse, "block"),
			withCommas(uint64(example.AvailBlocks)), withCommas(uint64(example.BlocksInUse+example.AvailBlocks)),
			count(example.Pools, "pool"), count(cap(*example), "block"), s.PoolSize, count(cap(*example), "block"),
			example.Size, poolOverhead(h), f.DumpRowsAddUp, withCommas(uint64(blocksInPools(s))),
			count(f.DumpBlocksInUse, "block"))
	}
	t.para(`Below the rows, the arena lines: %s mapped, %d reclaimed. Then where
		the arenas' bytes go: the six lines from "bytes in allocated blocks" to "lost
		to arena alignment" add up to the %s × %s = %s bytes (%t). The "unused
		pools" are the empty and never-carved ones, free for any class. The last lines
		are the radix tree that tells, for any address, whether it lies in an arena
		(CPython's address_in_range).`,
		count(s.ArenasCurrent, "arena"), s.ArenasReclaimed, count(s.ArenasCurrent, "arena"), sizeName(s.ArenaSize),
		withCommas(uint64(sum)), f.DumpBytesAddUp)
	t.para(`The same dump of any heap: go run ./cmd/demo stats (-trace FILE for a real
		CPython program's allocations); a picture of it: go run ./cmd/demo heapmap -o
		heap.svg.`)
	for _, p := range live {
		h.Free(p)
	}
	return nil
}

// poolOverhead is where a pool's first block starts: the 48-byte header
// rounded up to the heap's alignment (POOL_OVERHEAD).
func poolOverhead(h *obmalloc.Heap) uintptr {
	a := h.Config().Alignment
	return (48 + a - 1) &^ (a - 1)
}

// blocksInPools is the number of blocks in use in the pools.
func blocksInPools(s obmalloc.Stats) int {
	n := 0
	for _, c := range s.Classes {
		n += c.BlocksInUse
	}
	return n
}
