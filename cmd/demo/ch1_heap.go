package main

import (
	"unsafe"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// Chapter 1: the private heap. A few objects of the sizes CPython asks
// for are allocated from a fresh heap, and the heap itself says where
// each one went: Heap.Block names the class, the pool and the arena.

// placedObject is one row of the chapter's table.
type placedObject struct {
	Name    string
	Request uintptr
	InPool  bool // false: the large-block allocator served it
	Block   obmalloc.BlockInfo
	Address uintptr
}

// storyObjects are the objects of the chapter, with the size of their
// allocation in CPython 3.11 on 64-bit (what sys.getsizeof reports: the
// object, plus the 16-byte GC head of containers, plus the 16-byte
// pre-header of instances of a class, whose attribute values take a block
// of their own). Small ints (-5..256) are static in 3.11 and never come
// from pymalloc, hence 1000.
var storyObjects = []struct {
	name string
	size uintptr
}{
	{"the int 1000", 28},
	{"the float 1.5", 24},
	{`the str "spam"`, 53},
	{"an empty list []", 56},
	{"the tuple (1, 2)", 56},
	{"an empty dict {}", 64},
	{"an instance of a class", 56},
	{"a str of 300 letters", 349},
	{"a 100-item list's item array", 800},
}

func tellHeap(t *teller, _ storyConfig, f *storyFigures) error {
	h, err := obmalloc.New(obmalloc.Config{})
	if err != nil {
		return err
	}
	defer h.Close()
	cfg := h.Config()
	nclasses := int(cfg.Threshold / cfg.Alignment)

	t.para(`Python objects do not live on the Go heap, nor, in CPython, directly on the
		C library's heap: the memory manager keeps a private heap. It maps memory
		from the operating system in arenas of %s, cuts each arena into pools of %s,
		and gives each pool to one size class: class i holds blocks of (i+1)*%d
		bytes, so %d classes cover every request of 1 to %d bytes. Larger requests go
		to a general-purpose allocator. Here are a few objects, allocated from a
		fresh heap with the sizes %s 3.11 asks for them, and what the heap
		says about each:`,
		sizeName(cfg.ArenaSize), sizeName(cfg.PoolSize), cfg.Alignment, nclasses, cfg.Threshold, cpython)

	t.printf("    %-28s %7s %5s %6s  %-14s %5s %7s\n", "object", "request", "class", "block", "pool", "arena", "block #")
	var ptrs []unsafe.Pointer
	for _, o := range storyObjects {
		p := h.Malloc(o.size)
		if p == nil {
			return errNoMemory
		}
		ptrs = append(ptrs, p)
		info, ok := h.Block(p)
		f.Placed = append(f.Placed, placedObject{Name: o.name, Request: o.size, InPool: ok, Block: info, Address: uintptr(p)})
		if !ok {
			t.printf("    %-28s %5d B  not from a pool (%d > %d): the large-block allocator\n",
				o.name, o.size, o.size, cfg.Threshold)
			continue
		}
		t.printf("    %-28s %5d B %5d %4d B  %#-14x %5d %7d\n",
			o.name, o.size, info.Class, info.Size, info.Pool, info.Arena, info.IndexInPool)
	}
	t.printf("\n")

	arenas := h.Arenas()
	carved, classes := 0, map[int]bool{}
	for _, a := range arenas {
		for _, p := range a.Pools {
			if p.State != obmalloc.PoolVirgin && p.State != obmalloc.PoolEmpty {
				carved++
				classes[p.Class] = true
			}
		}
	}
	a := arenas[0]
	lost := ""
	if a.Misaligned {
		lost = " (the mapping is not pool-aligned, so one pool's worth is lost to alignment)"
	}
	t.para(`The heap has mapped %s: %s at %#x, holding %s%s. It has carved
		%s, one per size class in use (%s), and left the other %d untouched.`,
		count(len(arenas), "arena"), sizeName(cfg.ArenaSize), a.Address, count(len(a.Pools), "pool"), lost,
		count(carved, "pool"), count(len(classes), "class"), a.FreePools)
	i, fl := f.Placed[0], f.Placed[1] // the int and the float: both of class 1
	if i.Block.Pool == fl.Block.Pool {
		t.para(`Objects of one class share a pool and sit side by side: the int and the
			float are blocks %d and %d of the same pool, %d bytes apart. Block 0 starts %d
			bytes into its pool; before it is the pool's header: the count of blocks in
			use, the free list, the links to the other pools of its class.`,
			i.Block.IndexInPool, fl.Block.IndexInPool, fl.Address-i.Address,
			i.Address-i.Block.Pool-uintptr(i.Block.IndexInPool)*i.Block.Size)
	}

	goVar := 0
	t.para(`The memory is outside the Go heap: the Go garbage collector never scans it and
		never moves it. The heap recognises its own blocks and nothing else:
		Owns(the int's block) = %t, Owns(a Go variable) = %t. Blocks in use: %d
		(sys.getallocatedblocks(), which counts the large blocks that the OBJ and
		MEM domains hand to the large-block allocator too).`,
		h.Owns(ptrs[0]), h.Owns(unsafe.Pointer(&goVar)), h.AllocatedBlocks())

	for _, p := range ptrs {
		h.Free(p)
	}
	return nil
}
