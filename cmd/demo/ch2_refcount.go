package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gopymalloc/gopymalloc/gcmodule"
	"github.com/gopymalloc/gopymalloc/obmalloc"
	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// Chapter 2: reference counting, with the classic getDays example. The
// objects are gcmodule's, allocated through pymalloc's OBJ and MEM
// domains as CPython's are, so pymalloc's own figures (blocks in use,
// per size class) show them being born and freed.

var errNoMemory = errors.New("out of memory")

// dayNames are what getDays puts in its list.
var dayNames = []string{"Monday", "Tuesday", "Wednesday"}

// getDays is
//
//	def getDays():
//	    days = ["Monday", "Tuesday", "Wednesday"]
//	    return days
//
// in Go: the list is built holding the only reference to each string,
// and the reference held by the local name days becomes the caller's.
// inside runs while the call is still going, to look at the counts.
func getDays(c *gcmodule.Collector, inside func(days gcmodule.Object)) (gcmodule.Object, error) {
	days := c.NewList()
	if days == gcmodule.Nil {
		return days, errNoMemory
	}
	for _, name := range dayNames {
		s := c.NewStr(name)
		if s == gcmodule.Nil {
			c.Decref(days)
			return gcmodule.Nil, errNoMemory
		}
		err := c.ListAppend(days, s) // the list takes a reference...
		c.Decref(s)                  // ...and the temporary drops its own
		if err != nil {
			c.Decref(days)
			return gcmodule.Nil, err
		}
	}
	inside(days)
	return days, nil
}

func tellRefcount(t *teller, _ storyConfig, f *storyFigures) error {
	c := gcmodule.NewCollector()
	t.para(`Every object carries a reference count: how many references point to it.
		Storing a reference adds one, dropping one subtracts one, and the object is
		freed the moment its count reaches zero, with no collector involved. The
		classic example:`)
	t.printf("    def getDays():\n        days = [%q, %q, %q]\n        return days\n\n", dayNames[0], dayNames[1], dayNames[2])

	pymalloc.FlushQuarantine() // see below
	before := pymalloc.Stats()
	f.BlocksBeforeCall = pymalloc.AllocatedBlocks()
	var inside obmalloc.Stats
	days, err := getDays(c, func(days gcmodule.Object) {
		f.DaysRefcountInside = c.Refcount(days)
		for i := range c.ListLen(days) {
			f.DayStrRefcounts = append(f.DayStrRefcounts, c.Refcount(c.ListGetItem(days, i)))
		}
		f.BlocksInsideCall = pymalloc.AllocatedBlocks()
		inside = pymalloc.Stats()
	})
	if err != nil {
		return err
	}
	t.para(`While the call runs, the list's count is %d: the local name days is its one
		reference. Each string's count is %s: the list holds them. The call took %s
		from pymalloc's heap (%d in use before, %d during): the list, the array
		of its item pointers and the three strings; by size, %s. (In CPython the three
		literals are constants of the function's code, made once and never freed, so
		they have more references and a call takes only the list and its item array;
		this demo builds them at each call so that their counts can be watched. The
		sizes are this port's objects: "Monday" is a 55-byte str in %s.)`,
		f.DaysRefcountInside, joinInts(f.DayStrRefcounts), count(f.BlocksInsideCall-f.BlocksBeforeCall, "block"),
		f.BlocksBeforeCall, f.BlocksInsideCall, classDiff(before, inside), cpython)

	// getDays() with the result ignored: the caller's reference is dropped
	// at once.
	c.Decref(days)
	// Under GOPYMALLOC=debug the freed blocks wait in the hooks' quarantine
	// before going back to their pools.
	pymalloc.FlushQuarantine()
	f.BlocksAfterCall = pymalloc.AllocatedBlocks()
	f.ClassRowsRestored = sameRows(before, pymalloc.Stats())
	t.para(`When getDays() returns and nobody keeps the result, the list's count falls
		from 1 to 0 and it is freed on the spot; freeing it drops its references to
		the strings, whose counts fall to 0 in turn. Blocks in use: %d, as before
		the call. Every block went back to its pool: the per-class rows of the heap's
		statistics are the same as before the call (%t).`,
		f.BlocksAfterCall, f.ClassRowsRestored)

	t.para(`A caller that keeps the result keeps the list alive:`)
	week, err := getDays(c, func(gcmodule.Object) {})
	if err != nil {
		return err
	}
	f.KeptRefcounts = append(f.KeptRefcounts, c.Refcount(week))
	t.printf("    week = getDays()      refcount = %d\n", c.Refcount(week))
	c.Incref(week) // weekdays = week
	weekdays := week
	f.KeptRefcounts = append(f.KeptRefcounts, c.Refcount(week))
	t.printf("    weekdays = week       refcount = %d\n", c.Refcount(week))
	c.Decref(week) // del week
	f.KeptRefcounts = append(f.KeptRefcounts, c.Refcount(weekdays))
	t.printf("    del week              refcount = %d (weekdays still refers to it)\n", c.Refcount(weekdays))
	blocks := pymalloc.AllocatedBlocks()
	c.Decref(weekdays) // del weekdays
	f.BlocksAfterKept = pymalloc.AllocatedBlocks()
	t.printf("    del weekdays          refcount = 0: freed; blocks in use %d -> %d\n\n", blocks, f.BlocksAfterKept)
	return nil
}

// classDiff says how many blocks of each size appeared (or, negative,
// went) between two statistics: "3 of 32 bytes, 1 of 48 bytes".
func classDiff(before, after obmalloc.Stats) string {
	var parts []string
	for i, c := range after.Classes {
		d := c.BlocksInUse - before.Classes[i].BlocksInUse
		if d == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%d of %d bytes", d, c.Size))
	}
	if n := after.RawAllocatedBlocks - before.RawAllocatedBlocks; n != 0 {
		parts = append(parts, fmt.Sprintf("%d from the large-block allocator", n))
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}

// sameRows reports whether two statistics have the same per-class rows
// (pools, blocks in use, blocks available).
func sameRows(a, b obmalloc.Stats) bool {
	if len(a.Classes) != len(b.Classes) {
		return false
	}
	for i := range a.Classes {
		if a.Classes[i] != b.Classes[i] {
			return false
		}
	}
	return true
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}
