package obmalloc

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// HugePageArenas is an ArenaAllocator for experiments with the memory under
// the arenas: instead of one mmap per arena (MmapArenas, CPython's way), it
// maps reservations of ChunkSize bytes, carves arenas out of them one after
// the other from a huge-page boundary, and asks the kernel to back the
// reservations with transparent huge pages (mmap.AdviseHugePages):
//
//	reservation (64 MiB, from one mmap), starting on a huge-page boundary
//	┌────────┬────────┬────────┬────────┬───────────────────┐
//	│ arena  │ arena  │ arena  │ arena  │ not yet handed out│
//	└────────┴────────┴────────┴────────┴───────────────────┘
//	 └─ one 2 MiB huge page ──┘
//
// A first touch then faults in a huge page (2 MiB on amd64) instead of
// 4 KiB, and one TLB entry covers two arenas. What that buys and costs on
// the replayed traces is in docs/experiments.md: fewer page faults and TLB
// misses, but memory is held in huge-page steps and the time of a run
// varies more. Arenas are aligned to their size (up to a huge page), so an
// arena of the default layout holds 64 pools where one from MmapArenas
// usually holds 63: the arena-alignment lines of the stats differ from
// CPython's (docs/fidelity.md), the size-class rows do not.
//
// Free keeps the arena for the next Alloc of its size. Its memory goes
// back to the system (mmap.Decommit) a whole huge page at a time, once no
// arena in that huge page is handed out: decommitting part of a huge page
// would split it into small pages for good. An arena handed out again
// before that is cleared, as the ArenaAllocator contract promises zeroed
// memory. Reservations stay mapped until Close. A decommit the system
// refuses may leave its range unusable, so the arenas in it are never
// handed out again (LostBytes counts them).
//
// Where the system has no transparent huge pages (all but linux, or a
// kernel built without them) the advice is skipped and the arenas are
// ordinary pages carved the same way (on windows a reservation is
// committed memory, charged in full against the commit limit).
//
// The zero value is ready to use; one HugePageArenas may serve several
// heaps at once (its methods lock). Alloc and Free panic with a Fault
// (Call "HugePageArenas.Alloc" or "HugePageArenas.Free") on a size that is
// not a power of two of at least a page, and on a pointer that is not an
// arena it handed out with that size (a foreign pointer, a wrong size, a
// second Free).
type HugePageArenas struct {
	// ChunkSize is the bytes of each reservation, rounded up to whole
	// huge pages; 0 means 64 MiB. An arena larger than it gets a
	// reservation of its own size. A size the system cannot map makes
	// Alloc return nil.
	ChunkSize uintptr

	mu        sync.Mutex
	huge      uintptr               // huge-page size in use, set with the maps below
	next, end uintptr               // the unused part of the current reservation
	live      map[uintptr]uintptr   // arenas handed out: address -> size
	free      map[uintptr][]uintptr // arenas freed, by size, for reuse
	inUse     map[uintptr]uintptr   // per huge page (by address): bytes of its arenas handed out
	dirty     map[uintptr]bool      // freed arenas whose memory was not decommitted since
	maps      []reservation
	advised   bool    // the last reservation took the advice
	adviceErr error   // why it did not, if it did not
	lost      uintptr // bytes whose decommit failed, never handed out again
	lostErr   error   // the latest such failure
}

type reservation struct{ addr, size uintptr }

const (
	defaultHugePageBytes  = 2 << 20  // the alignment where the system reports no huge-page size
	defaultHugeChunkBytes = 64 << 20 // bytes per reservation when ChunkSize is 0
)

// Alloc returns size bytes (a power of two of at least a page, as Config
// requires of ArenaSize) aligned to min(size, the huge-page size), zeroed,
// or nil when no reservation can be mapped.
func (a *HugePageArenas) Alloc(size uintptr) unsafe.Pointer {
	if size < mmap.PageSize() || size&(size-1) != 0 {
		panic(Fault{Call: "HugePageArenas.Alloc", Addr: size, Problem: fmt.Sprintf("the size (%d) must be a power of two of at least the page size %d", size, mmap.PageSize())})
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.live == nil {
		a.huge = mmap.HugePageSize()
		if a.huge == 0 {
			a.huge = defaultHugePageBytes
		}
		a.live = make(map[uintptr]uintptr)
		a.free = make(map[uintptr][]uintptr)
		a.inUse = make(map[uintptr]uintptr)
		a.dirty = make(map[uintptr]bool)
	}
	if slots := a.free[size]; len(slots) > 0 {
		p := slots[len(slots)-1]
		a.free[size] = slots[:len(slots)-1]
		if a.dirty[p] || !mmap.DecommitZeroes() {
			clear(unsafe.Slice((*byte)(ptr(p)), size))
			delete(a.dirty, p)
		}
		a.handOut(p, size)
		return ptr(p)
	}
	chunk := a.chunkBytes()
	if size > chunk {
		// Bigger than a reservation: one of its own, leaving the current
		// reservation current.
		base, ok := a.reserve((size + a.huge - 1) &^ (a.huge - 1))
		if !ok {
			return nil
		}
		a.handOut(base, size)
		return ptr(base)
	}
	align := min(size, a.huge)
	start := (a.next + align - 1) &^ (align - 1)
	if a.next == 0 || start+size > a.end || start < a.next {
		base, ok := a.reserve(chunk)
		if !ok {
			return nil
		}
		a.end, start = base+chunk, base
	}
	a.next = start + size
	a.handOut(start, size)
	return ptr(start)
}

// chunkBytes is the size of a reservation, in whole huge pages.
func (a *HugePageArenas) chunkBytes() uintptr {
	chunk := a.ChunkSize
	if chunk == 0 {
		chunk = defaultHugeChunkBytes
	}
	chunk = max(chunk, a.huge)
	if chunk > ^uintptr(0)-(a.huge-1) {
		// Rounding up would wrap around to 0 (and each arena would get a
		// reservation of its own). The largest whole number of huge
		// pages is as impossible to map: reserve refuses it, its slack
		// wrapping around.
		return ^uintptr(0) &^ (a.huge - 1)
	}
	return (chunk + a.huge - 1) &^ (a.huge - 1)
}

// handOut records arena p of size bytes as handed out.
func (a *HugePageArenas) handOut(p, size uintptr) {
	a.live[p] = size
	if size < a.huge {
		a.inUse[p&^(a.huge-1)] += size
	}
}

// reserve maps a reservation of chunk bytes (whole huge pages) and returns
// its huge-page-aligned start.
func (a *HugePageArenas) reserve(chunk uintptr) (base uintptr, ok bool) {
	if chunk == 0 || chunk+a.huge < chunk { // the rounding or the slack wrapped around
		return 0, false
	}
	// One huge page more than needed, so that a huge-page boundary falls
	// within the first huge page; the unaligned head and tail are never
	// touched and so never become resident.
	p, err := mmap.Map(chunk + a.huge)
	if err != nil {
		return 0, false
	}
	base = (uintptr(p) + a.huge - 1) &^ (a.huge - 1)
	err = mmap.AdviseHugePages(ptr(base), chunk)
	a.advised = err == nil
	a.adviceErr = err
	a.maps = append(a.maps, reservation{uintptr(p), chunk + a.huge})
	return base, true
}

// Free takes back an arena that Alloc handed out with this size and keeps
// it for the next Alloc of its size; the memory is decommitted once its
// whole huge page is free.
func (a *HugePageArenas) Free(p unsafe.Pointer, size uintptr) {
	addr := uintptr(p)
	a.mu.Lock()
	defer a.mu.Unlock()
	got, ok := a.live[addr]
	switch {
	case !ok:
		panic(Fault{Call: "HugePageArenas.Free", Addr: addr, Problem: fmt.Sprintf("not an arena this allocator has handed out (a foreign pointer, or freed already; size %d)", size)})
	case got != size:
		panic(Fault{Call: "HugePageArenas.Free", Addr: addr, Problem: fmt.Sprintf("freed with size %d, but the arena was handed out with size %d", size, got)})
	}
	delete(a.live, addr)
	if size >= a.huge {
		// Whole huge pages: give them back now, and list the arena only
		// if that worked.
		if a.decommit(addr, size) {
			a.free[size] = append(a.free[size], addr)
		}
		return
	}
	a.free[size] = append(a.free[size], addr)
	a.dirty[addr] = true
	page := addr &^ (a.huge - 1)
	if a.inUse[page] -= size; a.inUse[page] == 0 {
		delete(a.inUse, page)
		ok := a.decommit(page, a.huge)
		for q := page; q < page+a.huge; q += mmap.PageSize() {
			delete(a.dirty, q)
		}
		if !ok {
			a.dropFree(page, a.huge)
			if a.next >= page && a.next < page+a.huge {
				// The reservation is being carved there: carve on from
				// the next huge page (Alloc reserves anew if none is
				// left).
				a.next = page + a.huge
			}
		}
	}
}

// decommitPages is mmap.Decommit; tests make it fail.
var decommitPages = mmap.Decommit

// decommit returns [p, p+size) to the system and reports whether it did;
// the caller holds a.mu. After a failure the range may be unusable (on
// windows it can be left decommitted, and a touch would crash the
// process), so the caller hands none of it out again: it stays reserved,
// lost, until Close, and LostBytes counts it.
func (a *HugePageArenas) decommit(p, size uintptr) bool {
	if err := decommitPages(ptr(p), size); err != nil {
		a.lost += size
		a.lostErr = fmt.Errorf("obmalloc: HugePageArenas.Free: decommitting %d bytes at %#x: %w", size, p, err)
		return false
	}
	return true
}

// dropFree takes the freed arenas in [lo, lo+n) off the free lists.
func (a *HugePageArenas) dropFree(lo, n uintptr) {
	for size, slots := range a.free {
		a.free[size] = slices.DeleteFunc(slots, func(p uintptr) bool { return p >= lo && p < lo+n })
	}
}

// LostBytes returns the bytes of arenas that Free could not give back to
// the system and that are therefore never handed out again (they stay
// reserved until Close), and the error of the latest such failure; 0 and
// nil when every decommit worked.
func (a *HugePageArenas) LostBytes() (uintptr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lost, a.lostErr
}

// Close unmaps every reservation, which makes the allocator as new. It
// refuses while arenas are still handed out (their heaps must be closed
// first).
func (a *HugePageArenas) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := len(a.live); n > 0 {
		return fmt.Errorf("obmalloc: HugePageArenas.Close: %d arenas are still handed out", n)
	}
	var errs []error
	for _, r := range a.maps {
		errs = append(errs, mmap.Unmap(ptr(r.addr), r.size))
	}
	a.huge, a.next, a.end = 0, 0, 0
	a.live, a.free, a.inUse, a.dirty, a.maps = nil, nil, nil, nil, nil
	a.advised, a.adviceErr = false, nil
	a.lost, a.lostErr = 0, nil
	return errors.Join(errs...)
}

// Advised reports whether the system accepted the huge-page advice for the
// latest reservation, and if not, why (false and nil before the first
// reservation). Accepted advice is not a promise: with transparent huge
// pages set to "never" in /sys/kernel/mm/transparent_hugepage/enabled, or
// no huge page free, the kernel maps small pages all the same.
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
	var n uintptr
	for _, r := range a.maps {
		n += r.size
	}
	return n
}
