package obmalloc

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// HugePageArenas is an ArenaAllocator for experiments with the memory under
// the arenas: instead of one mmap per arena (MmapArenas, CPython's way), it
// maps reservations of ChunkSize bytes, carves arenas out of them one after
// the other from a 2 MiB boundary, and asks the kernel to back the
// reservations with transparent huge pages (mmap.AdviseHugePages):
//
//	reservation (64 MiB, from one mmap) ─ starts on a 2 MiB boundary
//	┌────────┬────────┬────────┬────────┬───────────────────┐
//	│ arena  │ arena  │ arena  │ arena  │ not yet handed out│
//	└────────┴────────┴────────┴────────┴───────────────────┘
//	 └── one 2 MiB huge page ─┘
//
// A first touch then faults in 2 MiB at once instead of 4 KiB, and a TLB
// entry covers two arenas. What that buys and costs on the replayed
// traces is in docs/experiments.md: fewer page faults and TLB misses, but
// each fault zeroes 2 MiB, RSS grows by whole huge pages, and the time of
// a run varies more. Arenas are aligned to their size (up to 2 MiB), so an
// arena of the default layout holds 64 pools where one from MmapArenas
// usually holds 63: the arena-alignment lines of the stats differ from
// CPython's (docs/fidelity.md), the size-class rows do not.
//
// Where the system has no transparent huge pages (all but linux, or a
// kernel built without them) the advice is skipped and the arenas are
// ordinary pages carved the same way. Free decommits an arena
// (mmap.Decommit), so the release policy still returns its memory, and
// keeps its address for the next Alloc of the same size; reservations
// themselves are never unmapped, like the large-block allocator's memory.
//
// The zero value is ready to use; one HugePageArenas may serve several
// heaps at once (its methods lock).
type HugePageArenas struct {
	// ChunkSize is the bytes of each reservation, rounded up to a
	// multiple of 2 MiB; 0 means 64 MiB. An arena larger than it gets a
	// reservation of its own size.
	ChunkSize uintptr

	mu        sync.Mutex
	next, end uintptr               // the unused part of the current reservation
	free      map[uintptr][]uintptr // decommitted arenas by size, for reuse
	reserved  uintptr               // bytes of all reservations
	advised   bool                  // the last reservation took the advice
	adviceErr error                 // why it did not, if it did not
}

const (
	hugePageBytes         = 2 << 20  // transparent huge page size on amd64 and arm64 linux
	defaultHugeChunkBytes = 64 << 20 // bytes per reservation when ChunkSize is 0
)

// Alloc returns size bytes (a power of two, as Config requires of
// ArenaSize) aligned to min(size, 2 MiB), or nil when no reservation can
// be mapped.
func (a *HugePageArenas) Alloc(size uintptr) unsafe.Pointer {
	a.mu.Lock()
	defer a.mu.Unlock()
	if slots := a.free[size]; len(slots) > 0 {
		p := slots[len(slots)-1]
		a.free[size] = slots[:len(slots)-1]
		if !mmap.DecommitZeroes() {
			// The ArenaAllocator contract promises zeroed memory.
			clear(unsafe.Slice((*byte)(ptr(p)), size))
		}
		return ptr(p)
	}
	align := min(size, hugePageBytes)
	start := (a.next + align - 1) &^ (align - 1)
	if a.next == 0 || start+size > a.end || start < a.next {
		if !a.reserve(size) {
			return nil
		}
		start = a.next
	}
	a.next = start + size
	return ptr(start)
}

// reserve maps a new reservation big enough for an arena of size bytes
// and makes it the current one; the rest of the old one is left unused.
func (a *HugePageArenas) reserve(size uintptr) bool {
	chunk := a.ChunkSize
	if chunk == 0 {
		chunk = defaultHugeChunkBytes
	}
	chunk = max(chunk, size)
	chunk = (chunk + hugePageBytes - 1) &^ (hugePageBytes - 1)
	if chunk == 0 { // rounding wrapped around
		return false
	}
	// One huge page more than needed, so that a 2 MiB boundary falls
	// within the first 2 MiB; the unaligned head and tail are never
	// touched and so never become resident.
	p, err := mmap.Map(chunk + hugePageBytes)
	if err != nil {
		return false
	}
	base := (uintptr(p) + hugePageBytes - 1) &^ (hugePageBytes - 1)
	err = mmap.AdviseHugePages(ptr(base), chunk)
	a.advised = err == nil
	a.adviceErr = err
	a.next, a.end = base, base+chunk
	a.reserved += chunk + hugePageBytes
	return true
}

// Free decommits the arena and keeps it for the next Alloc of its size.
func (a *HugePageArenas) Free(p unsafe.Pointer, size uintptr) {
	if err := mmap.Decommit(p, size); err != nil {
		panic(fmt.Sprintf("obmalloc: HugePageArenas: freeing arena %p: %v", p, err))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.free == nil {
		a.free = make(map[uintptr][]uintptr)
	}
	a.free[size] = append(a.free[size], uintptr(p))
}

// Advised reports whether the kernel accepted the huge-page advice for the
// latest reservation, and if not, why (nil before the first reservation).
func (a *HugePageArenas) Advised() (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.advised, a.adviceErr
}

// Reserved returns the bytes of address space the reservations take,
// which is not memory in use: only the arenas' touched pages are resident.
func (a *HugePageArenas) Reserved() uintptr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reserved
}
