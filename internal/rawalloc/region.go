package rawalloc

import (
	"fmt"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// The heap's mappings: every chunk and every big block's own mapping, kept
// as address ranges in a sorted slice. Because chunks are large and big
// blocks are rare, the slice stays short, and a binary search over it is
// the cheap, exact first step of every ownership question.

// region is one mapping of the heap.
type region struct {
	start, end uintptr // [start, end), as mapped
	big        bool    // a big block's own mapping, else a chunk
	// lost marks a big mapping some of whose pages mmap.Decommit failed
	// on, so may be unusable (big.go, decommitBig); it is never cached or
	// grown into again.
	lost bool
	// used is the end of the carved part of a retired chunk, 0 for the
	// current chunk (whose carved part ends at Heap.bump); for a big
	// mapping, the end of its block's capacity, which is end unless
	// Realloc shrank the block in place (big.go, reallocBig).
	used uintptr
}

// regionOf returns the index of the mapping that contains addr, or -1.
// A binary search: there are few mappings, and it allocates nothing.
func (h *Heap) regionOf(addr uintptr) int {
	lo, hi := 0, len(h.regions)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if h.regions[mid].start <= addr {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if i := lo - 1; i >= 0 && addr < h.regions[i].end {
		return i
	}
	return -1
}

// addRegion records a new mapping, keeping h.regions sorted. the heap's lock is held.
func (h *Heap) addRegion(r region) {
	// Insert before the first region that starts above r.
	lo, hi := 0, len(h.regions)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if h.regions[mid].start < r.start {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	// The OS never hands out a range twice; a MapFunc that does is broken.
	if (lo > 0 && h.regions[lo-1].end > r.start) || (lo < len(h.regions) && h.regions[lo].start < r.end) {
		panic(fmt.Sprintf("rawalloc: MapFunc returned [%#x, %#x), which overlaps a mapping of the heap", r.start, r.end))
	}
	h.regions = append(h.regions, region{})
	copy(h.regions[lo+1:], h.regions[lo:])
	h.regions[lo] = r
}

// mapRegion asks the MapFunc for size bytes and returns the start address,
// or 0 on failure. It counts the mapping in the stats; the caller records
// the region. the heap's lock is held.
func (h *Heap) mapRegion(size uintptr) uintptr {
	fn := h.mapFn
	if fn == nil {
		fn = mapWithMmap
	}
	p := fn(size)
	if p == nil {
		return 0
	}
	base := uintptr(p)
	if base%alignBytes != 0 {
		// The block layout depends on it; a MapFunc that breaks its contract
		// is a programming error, not out of memory.
		panic(fmt.Sprintf("rawalloc: MapFunc returned %#x for %d bytes, not aligned to %d bytes", base, size, alignBytes))
	}
	h.stats.Maps++
	h.stats.MappedBytes += size
	return base
}

// mapWithMmap is the default MapFunc.
func mapWithMmap(size uintptr) unsafe.Pointer {
	p, err := mmap.Map(size)
	if err != nil {
		return nil
	}
	return p
}

// pageBytes is the operating system's page size.
var pageBytes = mmap.PageSize()

// roundUp rounds n up to a multiple of the power of two align.
func roundUp(n, align uintptr) uintptr {
	return (n + align - 1) &^ (align - 1)
}
