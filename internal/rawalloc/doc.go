// Package rawalloc is the large-block allocator of gopymalloc: the
// replacement for the C library's malloc that CPython reaches through
// PyMem_RawMalloc and through obmalloc for requests of 0 bytes or above the
// small-object threshold. It serves the RAW domain of pymalloc and the large
// requests of the obmalloc engine, with memory from the mmap package only.
//
// # Design
//
// A Heap hands out blocks of two kinds, chosen by the size asked for:
//
//	request n          kind           where the block lives
//	0 .. 256 KiB       class block    carved from a shared chunk, size-class capacity
//	above 256 KiB      big block      a mapping of its own, page-rounded
//
// Every block has a 16-byte header just before its data, so the data is
// 16-byte aligned whenever the header is:
//
//	header (16 bytes)                                   data
//	+----------------------+---------------------------+------------------
//	| capacity (bytes)     | magic | flags | class     | capacity bytes ...
//	+----------------------+---------------------------+------------------
//	                                                    ^ pointer returned
//
// The state word holds a 48-bit magic, a live flag, a big flag and the size
// class, so Free can tell a live block from a freed one (double free) and
// from a corrupted header.
//
// Size classes (sizeclass.go). Capacities run 16, 32, ... 128 bytes in
// steps of 16, then four geometric steps per power of two (160, 192, 224,
// 256, 320, ... 229376, 262144), 52 classes in all, every capacity a
// multiple of 16. Rounding a request up to its class wastes less than a
// quarter of the request (9 % on average for sizes spread evenly over
// 513 bytes .. 256 KiB), and a freed block is reused by any later request
// of the same class.
//
// Chunks (chunk.go). Class blocks are carved by bump allocation from the
// current chunk, a mapping of 1 MiB to 16 MiB (each new chunk is a quarter
// of what the chunks already hold, so a busy heap makes few mappings).
// Blocks of all classes share a chunk; nothing is written to memory before
// a block is carved from it, so untouched chunk space costs no physical
// memory. A chunk starts with a bitmap holding one bit per 16-byte granule,
// set where a block's data starts:
//
//	chunk: | start bitmap | hdr|data | hdr|data ...... | hdr|data | untouched ... |
//	                        ^ carved blocks (any class)             ^ bump     end ^
//
// The bitmap lives inside the mapping, so it is outside the Go heap too.
// When the current chunk cannot hold a block, a new chunk is mapped and the
// old chunk's tail is carved into free blocks of the largest classes that
// fit, so at most 16 bytes of a chunk are lost. Freed class blocks go on a LIFO free list
// per class, linked through the first word of their data (an address stored
// as a uintptr, never a Go pointer), with the link xored with a key of the
// heap in the second word as a check. Blocks never change class and are
// never merged or split: memory freed in one class is reused by that class.
//
// Big blocks (big.go). A request above 256 KiB gets its own mapping of
// 16+n bytes rounded up to whole pages, header at its start. A freed big
// block is kept in a cache sorted by size and reused by the next big request
// for which it is the smallest cached mapping that fits and is at most twice
// what that request needs (so a cached mapping never wastes more than half
// of itself). While the cached mappings' committed pages total at most
// 64 MiB (a block that Realloc shrank in place counts only the pages it
// kept) they stay committed, so reuse costs neither a system call nor page
// faults;
// beyond that, the pages after the first (the header's) of a newly freed
// big mapping are handed back with mmap.Decommit, which keeps the address
// range mapped and lets the operating system take the physical memory.
// A mapping whose decommit fails is lost instead of cached: its pages may
// be unusable (windows can leave them decommitted, and any access would
// crash the process), so it is never handed out or grown into again; it
// stays mapped until Close.
//
// Populating ahead (ahead.go), an opt-in (EnablePopulateAhead). The pages
// of fresh chunk space fault in at their first touch, one by one, in the
// allocating goroutine. Where the system can populate a range in one call
// (linux 5.14 and later) and GOMAXPROCS is above 1, a worker goroutine can
// keep the current chunk resident up to 1 MiB beyond the bump pointer
// instead, so carving and copying into fresh blocks take no page faults;
// the cost is up to that much resident memory not yet carved. Close stops
// the worker.
//
// Like the obmalloc arenas, a Heap keeps everything it maps: it never
// unmaps on its own, Stats.MappedBytes never decreases, and freed memory is
// reused; Close unmaps everything (for replays and tests). Physical memory
// is what it gives back, with mmap.Decommit: the pages of freed big
// blocks past the cache's budget, and the tail of a big block that Realloc
// shrinks (below).
//
// # Calloc and Realloc
//
// Calloc clears only reused memory: a block carved from untouched chunk
// space or a freshly mapped big block is already zero. Realloc keeps a
// block in place when the new size fits its capacity and does not leave
// too much of it unused (a class block: the new size's class is the
// block's, or the new size is more than 3/4 of the capacity, 4n > 3c; a
// big block: at least half). Otherwise a class block moves: Realloc
// allocates, copies and frees.
//
// A big block shrunk below half its capacity to a size still above the
// classes stays at its address and nothing is copied: its capacity drops
// to the new size rounded up to whole pages, and the pages after it are
// decommitted (their physical memory goes back to the system) but stay in
// the block's mapping. glibc shrinks a chunk of its own mapping with
// mremap, which unmaps the tail; here that would break the promise above
// that a Heap unmaps nothing (MappedBytes would fall) for no gain in
// physical memory, and decommitting works on every system, where mremap
// is linux's alone. The tail costs only address space, and comes back into
// use: a later growth of the block within its mapping takes pages from it
// with no system call, and a freed block's whole mapping goes to the cache.
// A big block shrunk to a class size moves to a class block instead
// (copying at most 256 KiB), so that its mapping serves the next big
// request.
//
// A big block that grows past its mapping is first moved with mmap.Remap
// (mremap on linux: no copy); otherwise Realloc allocates, copies and
// frees. A failed Realloc returns nil and leaves the block as it was. Only
// a growth can fail: a shrink with no memory to move the block to leaves
// it where it is, as glibc's realloc does.
//
// # Ownership and misuse
//
// The Heap keeps the [start, end) range of each of its mappings in a slice
// sorted by address (there are few of them: chunks are large). An address
// is first looked up there by binary search; no memory is read until the
// address is known to lie in one of the heap's own mappings. Inside a chunk
// the start bitmap says exactly whether a block starts at the address, so
// an interior pointer is recognised even if the bytes before it happen to
// look like a header; only then is the header read. Owns answers from this
// without side effects. Free, Realloc and UsableSize panic with a Fault that
// names the call, the address and what was wrong: no mapping of the heap
// contains the address, the address is inside a mapping but not the start
// of a block, the block's header is corrupt, or the block is already free.
// A nil pointer is never misuse, as in C: Free(nil) does nothing,
// Realloc(nil, n) is Malloc(n) and UsableSize(nil) is 0.
//
// A write through a dangling pointer into a freed class block can overwrite
// its free-list link (CPython's pymalloc would follow it). Malloc refuses a
// free-list entry whose header is not that of a free block of the class,
// or whose link does not match its check word, before following the link;
// Check walks every chunk and free list and finds the same. A cached big
// mapping whose header was overwritten is refused when it would be reused.
//
// # Concurrency and cost
//
// A Heap from New is safe for concurrent use: one sync.Mutex guards it,
// and is the only synchronisation; one from NewPrivate takes no lock and
// belongs to one goroutine at a time (an obmalloc.Heap's own). Malloc and Free of a class size take the lock, do a
// handful of loads and stores and a binary search over the mappings, and do
// not allocate on the Go heap; a system call happens only when a chunk or a
// big block is mapped or remapped, or when a freed big block is
// decommitted, and, with
// populating ahead, a carve that passes the middle of the populated range
// wakes the worker (a channel send that does not block).
package rawalloc
