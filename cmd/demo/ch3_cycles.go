package main

import (
	"github.com/gopymalloc/gopymalloc/gcmodule"
	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// Chapter 3: a cycle that reference counting cannot free, the collector
// that finds it, and the automatic collections that run as containers
// are allocated. The collector is gcmodule's port of CPython 3.11's
// Modules/gcmodule.c; its DEBUG_STATS lines are printed as CPython prints
// them.

// autoCollection is one automatic collection seen by a gc callback.
type autoCollection struct {
	AtList        int    // the allocation (list number) that triggered it
	Generation    int    // generation collected
	CountsBefore  [3]int // gc.get_count() as it started
	Collected     int
	CountsAfter   [3]int
	Uncollectable int
}

func counts(c *gcmodule.Collector) [3]int {
	a, b, d := c.GetCount()
	return [3]int{a, b, d}
}

func tellCycles(t *teller, cfg storyConfig, f *storyFigures) error {
	c := gcmodule.NewCollector()
	t.para(`Counting cannot free objects that refer to each other: each keeps the
		other's count above zero after the program has dropped them both.`)
	f.CycleBlocksBefore = pymalloc.AllocatedBlocks()
	a, b := c.NewList(), c.NewList()
	if a == gcmodule.Nil || b == gcmodule.Nil {
		return errNoMemory
	}
	if err := c.ListAppend(a, b); err != nil {
		return err
	}
	if err := c.ListAppend(b, a); err != nil {
		return err
	}
	c.Decref(a) // del a
	c.Decref(b) // del b
	f.CycleRefcounts = [2]int{c.Refcount(a), c.Refcount(b)}
	f.CycleBlocksHeld = pymalloc.AllocatedBlocks() - f.CycleBlocksBefore
	t.printf("    a = []; b = []\n    a.append(b); b.append(a)\n    del a, b\n\n")
	t.para(`Nothing refers to the two lists any more, yet their counts are %d and %d,
		and they still hold %s of pymalloc's heap (each list and its item
		array). Finding such garbage is the cycle collector's work. For every
		container it tracks, it subtracts the references that come from other
		tracked containers; what is left over are references from outside, and
		whatever cannot be reached from those is garbage. gc.collect(), with
		gc.set_debug(gc.DEBUG_STATS) on:`,
		f.CycleRefcounts[0], f.CycleRefcounts[1], count(f.CycleBlocksHeld, "block"))

	c.SetOutput(t.indented(4))
	c.SetDebug(gcmodule.DebugStats)
	f.CycleCollected = c.Collect(2)
	c.SetDebug(0)
	f.CycleBlocksAfter = pymalloc.AllocatedBlocks()
	t.printf("\n")
	t.para(`gc.collect() returned %d: the two lists, freed with their item arrays.
		Blocks in use are back to %d, as before the cycle was made. (The third object
		this fresh collector counted in generation 0 is gc.garbage, the list where it
		puts what it cannot free.)`,
		f.CycleCollected, f.CycleBlocksAfter)

	return tellAutomatic(t, cfg, f)
}

// tellAutomatic shows the collections that run by themselves: every
// container allocation adds one to generation 0's count, and the one that
// takes it past threshold0 runs a collection inside the allocation
// (CPython 3.11's _PyObject_GC_Link).
func tellAutomatic(t *teller, cfg storyConfig, f *storyFigures) error {
	c := gcmodule.NewCollector()
	th0, th1, th2 := c.GetThreshold()
	f.AutoCountStart = counts(c)
	list := 0 // the list being made, seen by the callback
	c.Callbacks = append(c.Callbacks, func(phase string, info gcmodule.CallbackInfo) {
		if phase == "start" {
			f.AutoCollections = append(f.AutoCollections, autoCollection{AtList: list, Generation: info.Generation, CountsBefore: counts(c)})
			return
		}
		ac := &f.AutoCollections[len(f.AutoCollections)-1]
		ac.Collected, ac.Uncollectable, ac.CountsAfter = info.Collected, info.Uncollectable, counts(c)
	})

	t.para(`Nobody calls gc.collect() in most programs: collections run by themselves.
		The collector keeps three generations with thresholds (%d, %d, %d). The first
		count is container allocations minus deallocations since the last
		collection; when an allocation takes it past %d, that allocation collects
		generation 0, and survivors move to generation 1. Every collection of
		generation 0 adds one to the second count, and when that passes %d the next
		collection takes generation 1 as well (the third count, and generation 2,
		work the same way, with one more rule against collecting a large heap too
		often). A new collector starts at counts (%d, %d, %d): gc.garbage is a list (a
		fresh python3 has already counted its own start-up objects).
		A loop now makes %s, each containing itself, and drops each at once, garbage
		only the collector can free:`,
		th0, th1, th2, th0, th1, f.AutoCountStart[0], f.AutoCountStart[1], f.AutoCountStart[2], count(cfg.CycleLists, "list"))

	t.printf("    for i in range(%d):\n        l = []\n        l.append(l)\n        del l\n\n", cfg.CycleLists)
	for list = 1; list <= cfg.CycleLists; list++ {
		l := c.NewList()
		if l == gcmodule.Nil {
			return errNoMemory
		}
		if err := c.ListAppend(l, l); err != nil {
			return err
		}
		c.Decref(l)
		if len(f.AutoCollections) == 0 && list%100 == 0 {
			n := counts(c)
			t.printf("    after %5d lists: counts (%d, %d, %d)\n", list, n[0], n[1], n[2])
		}
	}
	// The loop is over: the collection below, which frees the lists still
	// waiting so that the chapter leaves nothing behind, is not the story's.
	c.Callbacks = nil
	defer c.Collect(2)
	t.printf("\n    %-4s %9s %11s %16s %10s %14s\n", "#", "at list", "generation", "counts before", "collected", "counts after")
	freed := 0
	for i, ac := range f.AutoCollections {
		t.printf("    %-4d %9d %11d %16s %10d %14s\n", i+1, ac.AtList, ac.Generation,
			countStr(ac.CountsBefore), ac.Collected, countStr(ac.CountsAfter))
		freed += ac.Collected
	}
	t.printf("\n")
	if len(f.AutoCollections) == 0 {
		t.para(`No collection ran: %s did not take the count past %d.`, count(cfg.CycleLists, "allocation"), th0)
		return nil
	}
	first := f.AutoCollections[0]
	left := counts(c)
	t.para(`List %d took the first count to %d, past %d: that allocation collected
		generation %d. Of the objects counted, gc.garbage is alive and the list being
		made was not yet tracked, so the collection found %s unreachable and freed them. In
		all, %s ran during the loop and freed %s; generation 0 still holds %s
		(counts now (%d, %d, %d)). This port has no free lists; CPython keeps up to
		80 freed lists for reuse, which it hands out without counting an
		allocation, so there the collections come every 780 lists rather than
		every 701.`,
		first.AtList, first.CountsBefore[0], th0, first.Generation, count(first.Collected, "list"),
		count(len(f.AutoCollections), "collection"), count(freed, "list"), count(cfg.CycleLists-freed, "list"),
		left[0], left[1], left[2])
	for _, ac := range f.AutoCollections {
		if ac.Generation == 1 {
			t.para(`Collection %d was of generation 1: the second count stood at %d, past %d.`,
				indexOf(f.AutoCollections, ac)+1, ac.CountsBefore[1], th1)
			break
		}
	}

	return nil
}

func countStr(n [3]int) string {
	return "(" + joinInts(n[:]) + ")"
}

func indexOf(acs []autoCollection, ac autoCollection) int {
	for i := range acs {
		if acs[i] == ac {
			return i
		}
	}
	return -1
}
