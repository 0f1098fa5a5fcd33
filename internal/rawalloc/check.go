package rawalloc

import (
	"fmt"
	"math/bits"
)

// Check verifies the heap's invariants and returns an error describing the
// first violation, or nil. It walks every mapping, block, free list and
// cached big mapping, so it costs time proportional to the heap; it is for
// tests and debugging. Every address it follows is first checked to lie in
// one of the heap's mappings, so a corrupt heap gives an error, not a crash.
//
// The invariants: mappings are sorted, disjoint and aligned; each chunk is
// a contiguous run of sane headers from its bitmap to its carved end, with
// a start bit exactly at each block; each class free list holds exactly the
// free blocks of its class, without cycles; each big mapping has a sane
// header and is cached exactly when free and not lost (decommitBig); and
// Stats agrees with all of it.
func (h *Heap) Check() error {
	h.lock()
	defer h.unlock()

	var want Stats // recomputed from the heap itself
	var freeByClass [numClasses]int
	bigFreeMappings := 0
	for i, r := range h.regions {
		if r.start%alignBytes != 0 || r.end <= r.start {
			return fmt.Errorf("rawalloc: mapping %d [%#x, %#x) is empty or misaligned", i, r.start, r.end)
		}
		if i > 0 && h.regions[i-1].end > r.start {
			return fmt.Errorf("rawalloc: mappings [%#x, %#x) and [%#x, %#x) are out of order or overlap", h.regions[i-1].start, h.regions[i-1].end, r.start, r.end)
		}
		want.Maps++
		want.MappedBytes += r.end - r.start
		if r.big {
			data := r.start + headerBytes
			if r.used <= data || r.used > r.end {
				return fmt.Errorf("rawalloc: big block %#x: its capacity ends at %#x, outside its mapping [%#x, %#x)", data, r.used, r.start, r.end)
			}
			hd := headerOf(data)
			capacity := r.used - data
			if !saneBigHeader(hd, capacity) {
				return fmt.Errorf("rawalloc: big block %#x: header corrupt (capacity %d, state %#x)", data, hd.capacity, hd.state)
			}
			if hd.state&flagLive == 0 && !r.lost && r.used != r.end {
				return fmt.Errorf("rawalloc: free big block %#x is cached without its whole mapping (capacity ends at %#x, the mapping at %#x)", data, r.used, r.end)
			}
			switch {
			case hd.state&flagLive != 0:
				want.LiveBlocks++
				want.LiveBytes += capacity
			case !r.lost: // a free lost mapping is in no figure but MappedBytes
				bigFreeMappings++
				want.FreeBytes += capacity
			}
			continue
		}
		if err := h.checkChunk(r, &want, &freeByClass); err != nil {
			return err
		}
	}
	if h.cur != 0 {
		if i := h.regionOf(h.cur); i < 0 || h.regions[i].big || h.regions[i].start != h.cur || h.regions[i].end != h.limit {
			return fmt.Errorf("rawalloc: current chunk %#x (limit %#x) is not a chunk of the heap", h.cur, h.limit)
		}
	}
	if err := h.checkFreeLists(&freeByClass); err != nil {
		return err
	}
	if err := h.checkBigCache(bigFreeMappings); err != nil {
		return err
	}
	if h.stats != want {
		return fmt.Errorf("rawalloc: stats %+v do not add up: the heap holds %+v", h.stats, want)
	}
	return nil
}

// checkChunk walks the blocks of chunk r, adding them to want and
// freeByClass.
func (h *Heap) checkChunk(r region, want *Stats, freeByClass *[numClasses]int) error {
	size := r.end - r.start
	if size < minChunkBytes {
		return fmt.Errorf("rawalloc: chunk %#x: %d bytes, less than %d", r.start, size, minChunkBytes)
	}
	end := r.used
	if r.start == h.cur {
		if r.used != 0 || h.bump > h.limit {
			return fmt.Errorf("rawalloc: current chunk %#x: used %#x, bump %#x beyond limit %#x", r.start, r.used, h.bump, h.limit)
		}
		end = h.bump
	} else if end > r.end || r.end-end >= headerBytes+classBytes[0] {
		return fmt.Errorf("rawalloc: retired chunk %#x: carved part ends at %#x, not within a block of its end %#x", r.start, end, r.end)
	}
	blocks := 0
	at := r.start + bitmapBytes(size)
	for at < end {
		data := at + headerBytes
		if data > end {
			return fmt.Errorf("rawalloc: chunk %#x: header at %#x runs past the carved end %#x", r.start, at, end)
		}
		hd := headerOf(data)
		if !saneClassHeader(hd) {
			return fmt.Errorf("rawalloc: chunk %#x: block %#x: header corrupt (capacity %d, state %#x)", r.start, data, hd.capacity, hd.state)
		}
		if !isBlockStart(r.start, data) {
			return fmt.Errorf("rawalloc: chunk %#x: block %#x has no start bit", r.start, data)
		}
		capacity := uintptr(hd.capacity)
		if hd.state&flagLive != 0 {
			want.LiveBlocks++
			want.LiveBytes += capacity
		} else {
			freeByClass[hd.state&classMask]++
			want.FreeBytes += capacity
		}
		blocks++
		at = data + capacity
	}
	if at != end {
		return fmt.Errorf("rawalloc: chunk %#x: last block ends at %#x, past the carved end %#x", r.start, at, end)
	}
	// Every start bit must belong to a block found by the walk.
	marked := 0
	for w := r.start; w < r.start+bitmapBytes(size); w += wordBytes {
		marked += bits.OnesCount(uint(*wordAt(w)))
	}
	if marked != blocks {
		return fmt.Errorf("rawalloc: chunk %#x: %d start bits for %d blocks", r.start, marked, blocks)
	}
	return nil
}

// checkFreeLists verifies that each class's free list holds exactly the
// free blocks of that class that the chunk walk found.
func (h *Heap) checkFreeLists(freeByClass *[numClasses]int) error {
	for c := range numClasses {
		if h.freeCount[c] != freeByClass[c] {
			return fmt.Errorf("rawalloc: class %d (%d bytes): free list counts %d blocks, the chunks hold %d free", c, classBytes[c], h.freeCount[c], freeByClass[c])
		}
		n := 0
		for data := h.freeHead[c]; data != 0; data = *wordAt(data) {
			if n == h.freeCount[c] {
				return fmt.Errorf("rawalloc: class %d (%d bytes): free list longer than its count %d (a cycle or a stray link)", c, classBytes[c], h.freeCount[c])
			}
			if !h.isChunkBlock(data) {
				return fmt.Errorf("rawalloc: class %d (%d bytes): free list entry %d is %#x, not a block of a chunk", c, classBytes[c], n, data)
			}
			if !h.linkOK(data, *wordAt(data)) {
				return fmt.Errorf("rawalloc: class %d (%d bytes): free list entry %#x: its link does not match its check word", c, classBytes[c], data)
			}
			if hd := headerOf(data); hd.state != classState(c, false) {
				return fmt.Errorf("rawalloc: class %d (%d bytes): free list entry %#x has state %#x, not a free block of the class", c, classBytes[c], data, hd.state)
			}
			n++
		}
		if n != h.freeCount[c] {
			return fmt.Errorf("rawalloc: class %d (%d bytes): free list holds %d blocks, its count says %d", c, classBytes[c], n, h.freeCount[c])
		}
	}
	return nil
}

// checkBigCache verifies that the cache holds exactly the free big
// mappings, sorted, with the committed total right.
func (h *Heap) checkBigCache(freeMappings int) error {
	if len(h.bigFree) != freeMappings {
		return fmt.Errorf("rawalloc: big-block cache holds %d mappings, %d big blocks are free", len(h.bigFree), freeMappings)
	}
	var committed uintptr
	for k, e := range h.bigFree {
		if k > 0 {
			p := h.bigFree[k-1]
			if p.size > e.size || (p.size == e.size && p.base >= e.base) {
				return fmt.Errorf("rawalloc: big-block cache is not sorted at entry %d (%#x, %d bytes)", k, e.base, e.size)
			}
		}
		i := h.regionOf(e.base)
		if i < 0 || !h.regions[i].big || h.regions[i].lost || h.regions[i].start != e.base || h.regions[i].end-e.base != e.size {
			return fmt.Errorf("rawalloc: big-block cache entry %#x (%d bytes) is not a big mapping of the heap", e.base, e.size)
		}
		if headerOf(e.base+headerBytes).state&flagLive != 0 {
			return fmt.Errorf("rawalloc: big-block cache entry %#x holds a live block", e.base)
		}
		if e.committed > e.size {
			return fmt.Errorf("rawalloc: big-block cache entry %#x counts %d bytes committed of its %d", e.base, e.committed, e.size)
		}
		committed += e.committed
	}
	if committed != h.bigCommitted {
		return fmt.Errorf("rawalloc: big-block cache: committed mappings total %d bytes, the heap counts %d", committed, h.bigCommitted)
	}
	return nil
}
