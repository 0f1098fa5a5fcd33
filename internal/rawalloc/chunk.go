package rawalloc

import (
	"math/bits"
	"unsafe"
)

// Chunks are the mappings that class blocks are carved from.
const (
	// minChunkBytes is the size of the first chunk and the least of any.
	minChunkBytes = 1 << 20
	// maxChunkBytes caps the growth of chunk sizes, so that one more chunk
	// never maps much more than is likely to be used.
	maxChunkBytes = 16 << 20
	// chunkGrowthDivisor: a new chunk is 1/chunkGrowthDivisor of the bytes
	// already in chunks (within the bounds above, in whole MiB), so the
	// number of chunks grows with the logarithm of the heap until the cap.
	chunkGrowthDivisor = 4
	// wordBytes is the size of a bitmap word.
	wordBytes = bits.UintSize / 8
)

// nextChunkBytes is the size of the chunk to map next.
func (h *Heap) nextChunkBytes() uintptr {
	size := roundUp(h.chunkBytes/chunkGrowthDivisor, minChunkBytes)
	return min(max(size, minChunkBytes), maxChunkBytes)
}

// bitmapBytes is the room at the start of a chunk of size bytes for its
// start bitmap: one bit per 16-byte granule, rounded up to keep the first
// header aligned.
func bitmapBytes(size uintptr) uintptr {
	return roundUp(size/alignBytes/8, alignBytes)
}

// startBit locates the bit of the start bitmap of the chunk at chunk that
// says whether a block's data starts at data (inside that chunk).
func startBit(chunk, data uintptr) (word *uintptr, mask uintptr) {
	g := (data - chunk) / alignBytes
	return wordAt(chunk + g/bits.UintSize*wordBytes), 1 << (g % bits.UintSize)
}

// isBlockStart reports whether a block's data starts at data, an aligned
// address inside the chunk at chunk.
func isBlockStart(chunk, data uintptr) bool {
	w, m := startBit(chunk, data)
	return *w&m != 0
}

// allocClass returns a live block of class c and whether it is fresh
// (never touched, so zero), or 0 when no chunk can be mapped. the heap's lock is held.
func (h *Heap) allocClass(call string, c int) (uintptr, bool) {
	capacity := classBytes[c]
	if data := h.freeHead[c]; data != 0 {
		// A header that is not a free block of c means the heap was
		// written through a dangling or overflowing pointer: handing the
		// block out would spread the damage. So does a link that does not
		// match its check word (pushFree): it is not followed, since the
		// next pop would read a header wherever it points.
		hd := headerOf(data)
		next := *wordAt(data)
		if hd.state != classState(c, false) || hd.capacity != uint64(capacity) || !h.linkOK(data, next) {
			panic(Fault{Call: call, Addr: data, Problem: problemFreeList})
		}
		h.freeHead[c] = next
		h.freeCount[c]--
		hd.state = classState(c, true)
		h.stats.FreeBytes -= capacity
		h.stats.LiveBlocks++
		h.stats.LiveBytes += capacity
		return data, false
	}
	if h.limit-h.bump < headerBytes+capacity && !h.newChunk() {
		return 0, false
	}
	if h.bump+headerBytes+capacity > h.aheadNext {
		h.populateAhead()
	}
	data := h.carve(c, true)
	h.stats.LiveBlocks++
	h.stats.LiveBytes += capacity
	return data, true
}

// linkKey is the heap's key for its free-list check words: its address,
// spread (a Heap is not copied once used).
func (h *Heap) linkKey() uintptr {
	return uintptr(uint64(uintptr(unsafe.Pointer(h))) * linkSpread)
}

// linkSpread is 2^64 / golden ratio, a multiplier that spreads addresses.
// A constant, so that the multiply takes it as an immediate.
const linkSpread uint64 = 0x9e3779b97f4a7c15

// isChunkBlock reports whether a block's data starts at data in one of
// the heap's chunks (classify's test, without reading the header).
func (h *Heap) isChunkBlock(data uintptr) bool {
	i := h.regionOf(data)
	return i >= 0 && !h.regions[i].big && data%alignBytes == 0 && isBlockStart(h.regions[i].start, data)
}

// freeClass puts the live class block b on its class's free list.
func (h *Heap) freeClass(b blockRef) {
	c := b.class()
	b.hd.state = classState(c, false)
	h.pushFree(c, b.data)
	h.stats.LiveBlocks--
	h.stats.LiveBytes -= classBytes[c]
	h.stats.FreeBytes += classBytes[c]
}

// pushFree links the free block data of class c at the head of its list:
// the link in its first word, and in its second (every capacity holds
// two words) the link xored with the heap's key, which a write through a
// dangling pointer is most unlikely to keep consistent.
func (h *Heap) pushFree(c int, data uintptr) {
	*wordAt(data + wordBytes) = h.freeHead[c] ^ h.linkKey()
	*wordAt(data) = h.freeHead[c]
	h.freeHead[c] = data
	h.freeCount[c]++
}

// linkOK reports whether next, the link read from the free block data,
// matches the check word pushFree wrote beside it.
func (h *Heap) linkOK(data, next uintptr) bool {
	return next^*wordAt(data + wordBytes) == h.linkKey()
}

// carve cuts a block of class c at the bump pointer of the current chunk,
// which has room for it, writes its header and marks its start.
func (h *Heap) carve(c int, live bool) uintptr {
	data := h.bump + headerBytes
	h.bump = data + classBytes[c]
	hd := headerOf(data)
	hd.capacity = uint64(classBytes[c])
	hd.state = classState(c, live)
	w, m := startBit(h.cur, data)
	*w |= m
	return data
}

// newChunk maps a new chunk and makes it current, or reports false if no
// memory can be mapped (the heap is then unchanged). When the preferred
// size fails, the least chunk size is tried before giving up.
func (h *Heap) newChunk() bool {
	size := h.nextChunkBytes()
	base := h.mapRegion(size)
	if base == 0 && size > minChunkBytes {
		size = minChunkBytes
		base = h.mapRegion(size)
	}
	if base == 0 {
		return false
	}
	h.retireChunk()
	h.addRegion(region{start: base, end: base + size})
	h.cur, h.bump, h.limit = base, base+bitmapBytes(size), base+size
	h.aheadNext, h.aheadEnd = 0, 0
	h.chunkBytes += size
	return true
}

// retireChunk carves what is left of the current chunk into free blocks of
// the largest classes that fit (at most 16 bytes stay unused) and records
// where its carved part ends.
func (h *Heap) retireChunk() {
	if h.cur == 0 {
		return
	}
	for h.limit-h.bump >= headerBytes+classBytes[0] {
		c := classAtMost(h.limit - h.bump - headerBytes)
		data := h.carve(c, false)
		h.pushFree(c, data)
		h.stats.FreeBytes += classBytes[c]
	}
	h.regions[h.regionOf(h.cur)].used = h.bump
}
