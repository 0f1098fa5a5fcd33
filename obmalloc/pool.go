package obmalloc

import "unsafe"

// poolHeader is struct pool_header, 48 bytes at the start of every pool,
// field for field, so block offsets and the stats' "bytes lost to pool
// headers" match CPython's.
//
// A pool holds blocks of one size class. Blocks are carved lazily:
// nextoffset is the first block never handed out, maxnextoffset the last
// offset at which a whole block still fits, and freeblock the head of a
// LIFO list of blocks that were freed, linked through their first word
// (0 when there are none; unlike CPython's, the list never holds a block
// carved ahead, see Malloc).
type poolHeader struct {
	count         uint32            // ref.count: blocks handed out and not yet freed
	_             [ptrSize - 4]byte // pads ref to pointer width, as CPython's union does
	freeblock     uintptr           // first free block, 0 when the list is empty
	nextpool      uintptr           // next pool in the usedpools ring
	prevpool      uintptr           // previous pool in the usedpools ring
	arenaindex    uint32            // index of the owning arena in Heap.arenas
	szidx         uint32            // size class (CPython's DUMMY_SIZE_IDX has no use here: see allocateFromNewPool)
	nextoffset    uint32            // bytes from the pool start to the next virgin block
	maxnextoffset uint32            // largest offset of a block that still fits
}

// Checked at compile time: the header fits in the poolHeaderSize bytes
// reserved for it, and on a 64-bit system it is exactly CPython's 48
// bytes. (On a 32-bit system it is CPython's 32 bytes there; the pools keep
// the 64-bit layout's 48, so that block offsets and stats stay those of
// the 64-bit CPython this port follows.)
var _ [poolHeaderSize - (unsafe.Sizeof(poolHeader{}) + (8-ptrSize)*4)]struct{}
var _ [unsafe.Sizeof(poolHeader{}) + (8-ptrSize)*4 - poolHeaderSize]struct{}

// Checked at compile time: nextpool is two words into the header, where
// the usedpools table's phantom headers put their slots (usedpools.go).
var _ [unsafe.Offsetof(poolHeader{}.nextpool) - 2*ptrSize]struct{}
var _ [2*ptrSize - unsafe.Offsetof(poolHeader{}.nextpool)]struct{}

// poolAt views the pool header at addr (see ptr for the invariant).
func poolAt(addr uintptr) *poolHeader { return (*poolHeader)(ptr(addr)) }

// addr is the pool's own address.
func (p *poolHeader) addr() uintptr { return uintptr(unsafe.Pointer(p)) }

// initPool prepares a pool for class idx and hands out its first block;
// the blocks after it stay untouched until Malloc carves them.
func (h *Heap) initPool(pool *poolHeader, idx uint32) uintptr {
	size := h.l.blockSize(int(idx))
	pool.szidx = idx
	pool.nextoffset = uint32(h.l.poolOverhead + size)
	pool.maxnextoffset = uint32(h.l.poolSize - size)
	pool.freeblock = 0
	return pool.addr() + h.l.poolOverhead
}
