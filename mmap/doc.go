// Package mmap is the only part of gopymalloc that asks the operating
// system for memory. Everything above it (the pymalloc arenas, the
// large-block allocator, the radix tree that answers address_in_range)
// gets whole regions from here and carves them itself.
//
//	obmalloc arenas ─┐   Map / Unmap / Decommit     mmap(2), munmap(2), madvise(2),
//	large blocks ────┼─> Remap (grow a big block) ──> mremap(2) (linux)
//	radix-tree nodes ┘   Populate(Zeroed), AdviseHugePages
//	                                                VirtualAlloc / VirtualFree (windows)
//
// Regions come back zeroed, readable and writable, aligned to the page
// size and outside the Go heap: the Go garbage collector neither scans nor
// moves them, so they must never hold Go pointers (a pointer stored there
// does not keep its target alive). The functions are safe for concurrent
// use; the operating system serialises them.
//
// Like CPython's _PyObject_ArenaMmap, Map asks for exactly the size given
// and accepts whatever page-aligned address the system picks; callers that
// need a stronger alignment handle it themselves, as obmalloc does when an
// arena does not start on a pool boundary. AdviseHugePages and HugePageSize
// serve obmalloc.HugePageArenas, the opt-in that puts arenas on
// transparent huge pages (linux).
package mmap
