package rawalloc

import "github.com/gopymalloc/gopymalloc/mmap"

// bigCacheCommittedBytes bounds the pages that freed big mappings keep
// while they wait in the cache. Under it, reusing a cached mapping costs no
// system call and no page fault; over it, a newly freed mapping gives its
// pages back to the OS (all but the header's) and keeps only its address
// range. A variable so that tests can lower it: FuzzHeap's blocks would
// never add up to 64 MiB, and past the budget is where a failed decommit
// loses a mapping.
var bigCacheCommittedBytes uintptr = 64 << 20

// bigEntry is a freed big block's mapping waiting in the cache.
type bigEntry struct {
	base, size uintptr // the mapping, [base, base+size)
	// committed is how many bytes from base its pages still hold against
	// the budget: the whole mapping, the part a block shrunk in place had
	// kept (its tail was decommitted then), or 0 once the mapping was
	// decommitted past its header's page.
	committed uintptr
}

// bigNeed is the size of the mapping for a big block of n bytes: header
// and data rounded up to whole pages.
func bigNeed(n uintptr) uintptr {
	return roundUp(headerBytes+n, pageBytes)
}

// allocBig returns a live big block of at least n bytes and whether it is
// freshly mapped (so zero), or 0 when nothing can be mapped. It reuses the
// smallest cached mapping that fits if that is at most twice the need;
// when mapping fails, any cached mapping that fits is better than failing.
// the heap's lock is held.
func (h *Heap) allocBig(call string, n uintptr) (uintptr, bool) {
	need := bigNeed(n)
	i := h.bigFit(need)
	if i < len(h.bigFree) && h.bigFree[i].size/2 <= need {
		return h.takeBig(call, i), false
	}
	base := h.mapRegion(need)
	if base == 0 {
		if i < len(h.bigFree) {
			return h.takeBig(call, i), false
		}
		return 0, false
	}
	h.addRegion(region{start: base, end: base + need, big: true, used: base + need})
	data := base + headerBytes
	hd := headerOf(data)
	hd.capacity = uint64(need - headerBytes)
	hd.state = bigState(true)
	h.stats.LiveBlocks++
	h.stats.LiveBytes += need - headerBytes
	return data, true
}

// bigFit returns the index of the smallest cached mapping of at least need
// bytes, or len(h.bigFree) if there is none.
func (h *Heap) bigFit(need uintptr) int {
	lo, hi := 0, len(h.bigFree)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if h.bigFree[mid].size < need {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// takeBig removes cached mapping i from the cache and makes its block live.
func (h *Heap) takeBig(call string, i int) uintptr {
	e := h.bigFree[i]
	data := e.base + headerBytes
	// Written through a dangling pointer since it was freed, the header
	// would be blamed on the block's next owner: refuse it now.
	if hd := headerOf(data); !saneBigHeader(hd, e.size-headerBytes) || hd.state&flagLive != 0 {
		panic(Fault{Call: call, Addr: data, Problem: problemFreeList})
	}
	h.bigFree = append(h.bigFree[:i], h.bigFree[i+1:]...)
	h.bigCommitted -= e.committed
	headerOf(data).state = bigState(true)
	capacity := e.size - headerBytes
	h.stats.FreeBytes -= capacity
	h.stats.LiveBlocks++
	h.stats.LiveBytes += capacity
	return data
}

// decommitPages is mmap.Decommit; tests make it fail.
var decommitPages = mmap.Decommit

// decommitBig gives back the pages [from, to) of the big mapping
// h.regions[i], and reports whether the system did. After a failure the
// pages may be unusable (on windows they can be left decommitted, and any
// access would crash the process), so the mapping is marked lost: it is
// never cached or grown into again, and stays mapped, counted in
// MappedBytes only, until Close. A live block keeps working in the pages
// before from.
func (h *Heap) decommitBig(i int, from, to uintptr) bool {
	if decommitPages(ptr(from), to-from) != nil {
		h.regions[i].lost = true
		return false
	}
	return true
}

// freeBig marks the live big block b free and caches its mapping, sorted
// by size and then address. Past the committed budget its pages after the
// first (the header's) are decommitted; if that fails the mapping is lost
// (decommitBig) instead of cached.
func (h *Heap) freeBig(b blockRef) {
	b.hd.state = bigState(false)
	h.stats.LiveBlocks--
	h.stats.LiveBytes -= b.capacity()
	i := b.region
	r := &h.regions[i]
	if r.lost {
		return
	}
	// A block that Realloc shrank in place holds only its pages up to
	// r.used; the tail past them was decommitted then.
	e := bigEntry{base: r.start, size: r.end - r.start, committed: r.used - r.start}
	if r.used != r.end {
		// It gets its whole mapping back: the cache deals in mappings.
		b.hd.capacity = uint64(r.end - b.data)
		r.used = r.end
	}
	if h.bigCommitted+e.committed > bigCacheCommittedBytes && e.committed > pageBytes && e.base%pageBytes == 0 {
		if !h.decommitBig(i, e.base+pageBytes, e.base+e.committed) {
			return
		}
		e.committed = 0
	}
	h.bigCommitted += e.committed
	k := h.bigFit(e.size)
	for k < len(h.bigFree) && h.bigFree[k].size == e.size && h.bigFree[k].base < e.base {
		k++
	}
	h.bigFree = append(h.bigFree, bigEntry{})
	copy(h.bigFree[k+1:], h.bigFree[k:])
	h.bigFree[k] = e
	h.stats.FreeBytes += e.size - headerBytes
}

// reallocBig resizes the live big block b to hold n bytes without copying
// its data, when Realloc's policy (blockRef.fits) does not keep it as it
// is. It returns the block's (possibly new) data address, or 0 when the
// caller must move the block (allocate, copy, free).
//
// Shrinking below half the capacity to a size above the classes keeps the
// address and copies nothing: the pages past the new capacity are given
// back with mmap.Decommit but stay in the block's mapping, so the heap
// still unmaps nothing (doc.go); the block gets them back when it grows
// again or is freed. A mapping that does not start on a page (a MapFunc's)
// cannot give pages back, and a block shrunk to a class size moves to a
// class block (copying at most 256 KiB), which hands its whole mapping to
// the cache for the next big request. If the decommit fails the block is
// still shrunk, and its mapping is lost (decommitBig).
//
// Growing within the mapping (a block shrunk before) takes back the pages
// it needs at no system call. Growing past it moves the mapping with
// mmap.Remap, which on linux moves page tables instead of copying bytes:
// a buffer that CPython grows by reallocs of a few percent at a time (as
// its string and list builders do) then costs a system call per growth,
// not a copy of everything so far. Where it cannot (another system, a
// MapFunc whose memory mmap did not map, a lost mapping) the caller
// copies. The heap's lock is held.
func (h *Heap) reallocBig(b blockRef, n uintptr) uintptr {
	i := b.region
	r := h.regions[i]
	end := r.start + bigNeed(n)
	switch {
	case n < b.capacity():
		if n <= maxClassBytes || r.start%pageBytes != 0 {
			return 0
		}
		h.decommitBig(i, end, r.used) // on failure the mapping is lost, not the block
	case end <= r.end && !r.lost:
		// The pages from r.used to end were decommitted by a shrink and
		// fault in afresh.
	default:
		return h.remapBig(i, end-r.start)
	}
	h.setBigEnd(i, b.data, end)
	return b.data
}

// setBigEnd makes the live block at data, of the big mapping h.regions[i],
// end at end (inside the mapping), in its header, region and the stats.
func (h *Heap) setBigEnd(i int, data, end uintptr) {
	hd := headerOf(data)
	h.stats.LiveBytes = h.stats.LiveBytes - uintptr(hd.capacity) + (end - data)
	hd.capacity = uint64(end - data)
	h.regions[i].used = end
}

// remapBig moves the mapping h.regions[i] of a live big block to one of
// need bytes with mmap.Remap and returns the block's new data address, or
// 0 when the mapping cannot be moved. The heap's lock is held.
func (h *Heap) remapBig(i int, need uintptr) uintptr {
	r := h.regions[i]
	if h.mapFn != nil || r.lost {
		return 0
	}
	p, err := mmap.Remap(ptr(r.start), r.end-r.start, need)
	if err != nil {
		return 0
	}
	h.regions = append(h.regions[:i], h.regions[i+1:]...)
	start := uintptr(p)
	h.addRegion(region{start: start, end: start + need, big: true, used: start + need})
	h.stats.MappedBytes += need - (r.end - r.start)
	data := start + headerBytes
	h.setBigEnd(h.regionOf(data), data, start+need)
	return data
}
