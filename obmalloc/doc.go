// Package obmalloc is the engine of gopymalloc: CPython 3.11's small-object
// allocator (Objects/obmalloc.c) in Go, with its memory outside the Go
// heap.
//
// # The design in one picture
//
// Memory comes from the OS in arenas (1 MiB). An arena is cut into pools
// (16 KiB). A pool holds blocks of one size class; class i holds blocks of
// (i+1)*16 bytes, so 32 classes cover requests of 1..512 bytes. Larger
// requests, and requests of 0 bytes, go to a large-block allocator.
//
//	Heap
//	 ├─ usedpools[32]   ring per class of pools with free blocks ──┐
//	 ├─ arenas[]        vector of arena objects (16, then doubling) │
//	 │   usable_arenas  those with a free pool, fewest free first   │
//	 │   nfp2lasta[]    last usable arena with k free pools         │
//	 └─ arena map       radix tree: is this address in an arena?    │
//	                                                                 v
//	arena (1 MiB, mmap) ┌──────┬──────┬──────┬─────┬──────┐
//	                    │ pool │ pool │ pool │ ... │ pool │  63 or 64 pools
//	                    └──────┴──────┴──────┴─────┴──────┘
//	pool (16 KiB)       ┌────────┬───────┬───────┬─────┬─────────────┐
//	                    │ header │ block │ block │ ... │ never carved│
//	                    └────────┴───────┴───────┴─────┴─────────────┘
//	                     48 bytes  free blocks are linked through their
//	                               first word; virgin ones are carved on demand
//
// Malloc(n) computes the class with one shift and pops the free list of the
// first pool in that class's ring. When the ring is empty it takes a pool
// from the arena with the fewest free pools (so busy arenas fill up and
// quiet ones can drain), preferring the lowest pool that was used before
// over a virgin one, and maps a new arena only when no arena has a free
// pool.
// Free(p) asks the arena map whether p is in an arena, finds the pool by
// rounding p down to the pool size, and pushes the block on the pool's
// list; a pool that was full rejoins the front of its ring, and a pool
// that becomes empty moves to its arena's free pools.
//
// # What an empty arena does
//
// By default (KeepArenas) an arena is never unmapped: its empty pools
// serve later requests of any class, and the process's resident memory
// does not fall when objects die, which is what Python users often see of
// a long-running process (there because long-lived objects pin arenas).
// ReleaseArenas reproduces what CPython 3.11 really does: it unmaps an
// arena as soon as all its pools are free, unless it is the last arena in
// usable_arenas.
//
// # Fidelity
//
// The structures carry CPython's names: the pool header (ref.count,
// freeblock, nextpool, prevpool, arenaindex, szidx, nextoffset,
// maxnextoffset), usedpools with its pointer-pair trick, freepools,
// usable_arenas, nfp2lasta, unused_arena_objects, the arenas vector and
// address_in_range. Given the same sequence of requests, the size-class
// rows of WriteDebugMallocStats are identical to CPython's
// sys._debugmallocstats(), whatever addresses the OS hands out. Config
// chooses other layouts for experiments (8-byte alignment, Python 3.9's
// 256 KiB arenas and 4 KiB pools), on 3.11's engine: the stats dump of
// every layout still prints 3.11's arena-map lines, a radix tree that no
// 3.9 had (docs/experiments.md, "Caveats"). Config.Arenas chooses the
// memory under the arenas: MmapArenas (the default, one mmap per arena as
// CPython's _PyObject_ArenaMmap), PrefaultArenas (prefault.go, also what
// Config.Prefault gives a heap: the next arenas' pages made resident
// ahead of need by a goroutine on another processor, so the allocating
// goroutine takes no page faults in them) or HugePageArenas (transparent
// huge pages, an opt-in experiment; hugepages.go).
//
// Where the port departs from obmalloc.c it is for speed, with the arena
// that serves each request and the stats unchanged (docs/fidelity.md has
// each, with its figures), though not always the pool within it: a virgin block is handed out straight from nextoffset instead
// of being linked in ahead; a pool taken back from freepools is carved
// afresh; freepools is a bitmap and its lowest pool goes first; the arena
// map caches the bottom node of its last arena.
//
// # Go rules
//
// Blocks, pool headers, the usedpools table and the radix tree live in
// memory from the mmap package, which the Go garbage collector never scans:
// never store a Go pointer in a block. Links inside that memory are
// uintptr addresses; addr.go is the one place that turns an address into a
// pointer. A Heap belongs to one goroutine at a time, as CPython's
// allocator is protected by the GIL; the pymalloc package wraps a Heap for
// concurrent use.
package obmalloc
