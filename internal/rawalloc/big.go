package rawalloc

import "github.com/gopymalloc/gopymalloc/mmap"

// bigCacheCommittedBytes bounds the pages that freed big mappings keep
// while they wait in the cache. Under it, reusing a cached mapping costs no
// system call and no page fault; over it, a newly freed mapping gives its
// pages back to the OS (all but the header's) and keeps only its address
// range.
const bigCacheCommittedBytes = 64 << 20

// bigEntry is a freed big block's mapping waiting in the cache.
type bigEntry struct {
	base, size uintptr // the mapping, [base, base+size)
	committed  bool    // its pages were left in place (not decommitted)
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
	h.addRegion(region{start: base, end: base + need, big: true})
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
	if e.committed {
		h.bigCommitted -= e.size
	}
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
	// classify checked the header against the mapping: the mapping is the
	// header and the capacity after it.
	b.hd.state = bigState(false)
	h.stats.LiveBlocks--
	h.stats.LiveBytes -= b.capacity()
	i := h.regionOf(b.data)
	if h.regions[i].lost {
		return
	}
	e := bigEntry{base: b.data - headerBytes, size: headerBytes + b.capacity(), committed: true}
	if h.bigCommitted+e.size > bigCacheCommittedBytes && e.size > pageBytes && e.base%pageBytes == 0 {
		if !h.decommitBig(i, e.base+pageBytes, e.base+e.size) {
			return
		}
		e.committed = false
	}
	if e.committed {
		h.bigCommitted += e.size
	}
	k := h.bigFit(e.size)
	for k < len(h.bigFree) && h.bigFree[k].size == e.size && h.bigFree[k].base < e.base {
		k++
	}
	h.bigFree = append(h.bigFree, bigEntry{})
	copy(h.bigFree[k+1:], h.bigFree[k:])
	h.bigFree[k] = e
	h.stats.FreeBytes += e.size - headerBytes
}

// growBig grows the live big block b to hold n bytes by moving its mapping
// with mmap.Remap, which on linux moves page tables instead of copying
// bytes: a buffer that CPython grows by reallocs of a few percent at a
// time (as its string and list builders do) then costs a system call per
// growth, not a copy of everything so far. It returns the block's new data
// address, or 0 when the mapping cannot be moved (another system, a
// MapFunc whose memory mmap did not map, or a lost mapping); the caller
// then copies. the heap's lock is
// held.
func (h *Heap) growBig(b blockRef, n uintptr) uintptr {
	if h.mapFn != nil {
		return 0
	}
	i := h.regionOf(b.data)
	if h.regions[i].lost {
		return 0
	}
	base, size := b.data-headerBytes, headerBytes+b.capacity()
	need := bigNeed(n)
	p, err := mmap.Remap(ptr(base), size, need)
	if err != nil {
		return 0
	}
	h.regions = append(h.regions[:i], h.regions[i+1:]...)
	h.addRegion(region{start: uintptr(p), end: uintptr(p) + need, big: true})
	data := uintptr(p) + headerBytes
	headerOf(data).capacity = uint64(need - headerBytes)
	h.stats.MappedBytes += need - size
	h.stats.LiveBytes += need - size
	return data
}
