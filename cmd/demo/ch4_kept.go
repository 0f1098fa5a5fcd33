package main

import (
	"fmt"
	"runtime/debug"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// Chapter 4: freed memory goes back to the allocator. The same program
// runs twice, on a heap that keeps its arenas (this port's default) and
// on one that releases wholly free arenas
// (CPython's actual rule), with the process's RSS read from the kernel
// at each step.

// keptFigures are one run's figures.
type keptFigures struct {
	Policy obmalloc.ArenaPolicy
	// RSS in KiB before, after allocating, after freeing everything, after
	// allocating again; RSSOK is false where RSS cannot be read.
	RSS   [4]int64
	RSSOK bool
	// The heap's figures at the same three steps after the start.
	Arenas     [3]int // arenas mapped now
	Reclaimed  [3]int // arenas unmapped so far
	Total      [3]int // arenas mapped so far
	Blocks     [3]int // blocks in use
	BlockBytes uintptr
}

// keptSizes are the sizes the chapter cycles through: objects of the
// pools' commonest classes (ints, floats, strs, lists and instances, dicts,
// the values array of an instance of a much-used class).
var keptSizes = []uintptr{28, 24, 53, 56, 64, 16, 104, 200}

// rssNow is the RSS after the Go runtime has given back what it does not
// use, so that the figure moves with the arenas, not with the Go heap.
func rssNow() (int64, bool) {
	debug.FreeOSMemory()
	return residentKB()
}

// keepOrRelease runs the program once on a heap with policy.
func keepOrRelease(policy obmalloc.ArenaPolicy, n int) (keptFigures, error) {
	k := keptFigures{Policy: policy}
	h, err := obmalloc.New(obmalloc.Config{Policy: policy})
	if err != nil {
		return k, err
	}
	defer h.Close()
	live := make([]unsafe.Pointer, n) // made before the first reading, so it is in all of them
	k.RSS[0], k.RSSOK = rssNow()
	record := func(step int) {
		s := h.Stats()
		k.Arenas[step], k.Reclaimed[step], k.Total[step] = s.ArenasCurrent, s.ArenasReclaimed, s.ArenasAllocatedTotal
		k.Blocks[step] = h.AllocatedBlocks()
		if step == 0 {
			k.BlockBytes = s.BytesInAllocatedBlocks
		}
		k.RSS[step+1], _ = rssNow()
	}
	alloc := func() {
		for i := range live {
			live[i] = allocTouched(h, keptSizes[i%len(keptSizes)])
		}
	}
	alloc()
	record(0)
	for _, p := range live {
		h.Free(p)
	}
	record(1)
	alloc()
	record(2)
	for _, p := range live {
		h.Free(p)
	}
	return k, nil
}

func tellKept(t *teller, cfg storyConfig, f *storyFigures) error {
	var err error
	if f.Kept, err = keepOrRelease(obmalloc.KeepArenas, cfg.ManyObjects); err != nil {
		return err
	}
	if f.Released, err = keepOrRelease(obmalloc.ReleaseArenas, cfg.ManyObjects); err != nil {
		return err
	}
	k := f.Kept
	t.para(`When objects die, their blocks go back to their pools, and a pool with no
		block in use goes back to its arena, ready for any size class. Here the
		arena itself stays mapped. A program allocates %s (%s bytes in blocks),
		frees them all, then allocates as many again:`,
		count(cfg.ManyObjects, "object"), withCommas(uint64(k.BlockBytes)))
	writeKeptTable(t, k)
	if k.RSSOK {
		t.para(`With every object freed, RSS is %s, against %s with them all alive and %s
			at the start: the process kept the memory, and no arena was returned (%d
			reclaimed, %d still mapped). Allocating again mapped no new arena (%d mapped
			in all), and RSS moved by %s, against %s the first time: the memory was
			reused.`,
			kib(k.RSS[2]), kib(k.RSS[1]), kib(k.RSS[0]), k.Reclaimed[1], k.Arenas[1], k.Total[2],
			kibSigned(k.RSS[3]-k.RSS[2]), kibSigned(k.RSS[1]-k.RSS[0]))
	} else {
		t.para(`RSS is not available on this system (it is read from /proc/self/status,
			which only Linux has), but the heap's own figures tell the story: no arena
			was returned (%d reclaimed, %d still mapped), and allocating again mapped no
			new arena (%d mapped in all).`,
			k.Reclaimed[1], k.Arenas[1], k.Total[2])
	}
	t.para(`This port keeps every arena by design. CPython does more: since 2.5, the
		free that empties an arena's last pool gives the arena back to the system
		(free(), munmap since 3.3), except that since 3.9 it keeps the one wholly
		free arena at the end of its list, so that a loop allocating and freeing at
		an arena boundary does not map and unmap on every turn (bpo-37257). So a
		CPython program that frees everything gets its memory back; its RSS stays
		high when long-lived objects are scattered over the arenas, because one of
		them anywhere in an arena pins the whole arena, which is often what Python
		users see. obmalloc.ReleaseArenas is CPython's rule; the same program under
		it:`)
	writeKeptTable(t, f.Released)
	r := f.Released
	if r.Reclaimed[1] == 0 {
		t.para(`No arena was unmapped this time either: with so few objects the only wholly
			free arena is the one that the rule keeps.`)
	} else if r.RSSOK {
		t.para(`This time freeing everything unmapped %d of %s and RSS moved by
			%s; allocating again had to map %s anew (%d mapped in all), and RSS
			moved by %s.`,
			r.Reclaimed[1], count(r.Arenas[0], "arena"), kibSigned(r.RSS[2]-r.RSS[1]), count(r.Total[2]-r.Total[1], "arena"),
			r.Total[2], kibSigned(r.RSS[3]-r.RSS[2]))
	} else {
		t.para(`This time freeing everything unmapped %d of %s; allocating again had
			to map %s anew (%d mapped in all).`, r.Reclaimed[1], count(r.Arenas[0], "arena"),
			count(r.Total[2]-r.Total[1], "arena"), r.Total[2])
	}
	t.para(`On Windows, CPython maps each arena with VirtualAlloc(MEM_COMMIT|MEM_RESERVE)
		and releases it with VirtualFree(MEM_RELEASE) instead of mmap and munmap.
		This port's mmap package does the same there (mmap/mmap_windows.go): one
		VirtualAlloc per arena, committed at once, so the arena counts against the
		system's commit charge from the start while its pages join the working set
		only as they are touched; an arena is released only by ReleaseArenas or
		Heap.Close. Windows has no /proc/self/status, so this chapter prints "not
		available" there; Task Manager's private working set is the closest figure.`)
	return nil
}

// writeKeptTable prints one run's steps.
func writeKeptTable(t *teller, k keptFigures) {
	rss := func(i int) string {
		if !k.RSSOK {
			return "not available"
		}
		return kib(k.RSS[i])
	}
	t.printf("    %-26s %14s %14s %10s %10s %14s\n", "arenas "+k.Policy.String(), "RSS", "blocks in use", "arenas", "reclaimed", "mapped in all")
	t.printf("    %-26s %14s\n", "start", rss(0))
	for i, step := range []string{"allocated", "all freed", "allocated again"} {
		t.printf("    %-26s %14s %14s %10d %10d %14d\n", step, rss(i+1), withCommas(uint64(k.Blocks[i])), k.Arenas[i], k.Reclaimed[i], k.Total[i])
	}
	t.printf("\n")
}

// kib prints a size given in KiB, in MiB with one decimal.
func kib(v int64) string {
	return fmt.Sprintf("%.1f MiB", float64(v)/1024)
}

func kibSigned(v int64) string {
	return fmt.Sprintf("%+.1f MiB", float64(v)/1024)
}
