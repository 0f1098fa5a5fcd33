package obmalloc

import "unsafe"

// Off-heap addresses. Arenas, pools, blocks, the usedpools table and the
// radix-tree nodes all live in memory mapped by the mmap package, which
// the Go runtime neither manages nor moves. The engine therefore keeps
// every link as a plain uintptr (no Go pointer is ever stored off-heap, and
// no write barrier runs on the hot path) and turns an address into a
// pointer only here, at the moment of the access.

// ptr returns addr as a pointer. Invariant: addr is 0 or lies inside a
// region obtained from mmap (or from the configured ArenaAllocator) that is
// still mapped; such memory is invisible to the Go garbage collector, so a
// pointer to it can neither keep a Go object alive nor dangle into one.
func ptr(addr uintptr) unsafe.Pointer { return unsafe.Add(nil, addr) }

// word reads the pointer-sized word at addr (a free block's link, a
// usedpools slot, a radix-tree entry).
func word(addr uintptr) uintptr { return *(*uintptr)(ptr(addr)) }

// setWord writes the pointer-sized word at addr.
func setWord(addr, v uintptr) { *(*uintptr)(ptr(addr)) = v }

// bytesAt views n bytes at addr as a slice for copying and clearing.
func bytesAt(addr, n uintptr) []byte { return unsafe.Slice((*byte)(ptr(addr)), n) }
