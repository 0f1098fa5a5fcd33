package obmalloc

import (
	"fmt"
	"unsafe"
)

// Inspection: where blocks live and what each arena holds, for tools and
// for the demo's picture of the heap. These walk the heap's structures
// without changing them; like every Heap method they must not run
// concurrently with other calls.

// PoolState is the state of one pool slot of an arena.
type PoolState int

const (
	PoolVirgin PoolState = iota // never carved: beyond the arena's pool_address
	PoolEmpty                   // carved, no block in use: on the arena's freepools
	PoolUsed                    // some blocks in use: in its class's usedpools ring
	PoolFull                    // every block in use: on no list
)

var poolStateNames = [...]string{"virgin", "empty", "used", "full"}

// String names the state; a value outside the four is PoolState(N).
func (s PoolState) String() string {
	if s >= 0 && int(s) < len(poolStateNames) {
		return poolStateNames[s]
	}
	return fmt.Sprintf("PoolState(%d)", int(s))
}

// PoolInfo describes one pool.
type PoolInfo struct {
	Address  uintptr   // the pool's first byte, where its header starts
	State    PoolState // which list, if any, holds the pool
	Class    int       // size class; -1 for virgin and empty pools
	Size     uintptr   // block size in bytes; 0 for virgin and empty pools
	Used     int       // blocks in use
	Capacity int       // blocks the pool holds in its class; 0 for virgin and empty pools
}

// ArenaInfo describes one mapped arena and every pool in it, in address
// order.
type ArenaInfo struct {
	Index      int        // slot in the arenas vector
	Address    uintptr    // base of the mapping
	Misaligned bool       // the base is not pool-aligned, so the arena has one pool less
	FreePools  int        // nfreepools: empty plus virgin pools
	Pools      []PoolInfo // every pool slot, carved or not, in address order
}

// Arenas returns every mapped arena, in the order of the arenas vector.
func (h *Heap) Arenas() []ArenaInfo {
	var out []ArenaInfo
	h.eachArena(func(ao *arenaObject) {
		a := ArenaInfo{
			Index:      int(h.arenaIndex(ao)),
			Address:    ao.address,
			Misaligned: h.firstPool(ao) != ao.address,
			FreePools:  ao.nfreepools,
		}
		first := h.firstPool(ao)
		for i := range ao.ntotalpools {
			p := first + uintptr(i)*h.l.poolSize
			a.Pools = append(a.Pools, h.poolInfo(ao, p))
		}
		out = append(out, a)
	})
	return out
}

func (h *Heap) poolInfo(ao *arenaObject, p uintptr) PoolInfo {
	info := PoolInfo{Address: p, Class: -1}
	if p >= ao.poolAddress {
		return info // virgin: its header was never written
	}
	pool := poolAt(p)
	if pool.count == 0 {
		info.State = PoolEmpty
		return info
	}
	c := int(pool.szidx)
	info.Class, info.Size = c, h.l.blockSize(c)
	info.Used, info.Capacity = int(pool.count), int(h.l.classCapacity[c])
	info.State = PoolUsed
	if pool.count == h.l.classCapacity[c] {
		info.State = PoolFull
	}
	return info
}

// BlockInfo says where a block of the heap lives.
type BlockInfo struct {
	Class       int     // size class
	Size        uintptr // the block's size in bytes (its class's)
	Pool        uintptr // address of its pool
	Arena       int     // slot of its arena in the arenas vector
	ArenaBase   uintptr // base address of that arena
	IndexInPool int     // its position among the pool's blocks
}

// Block reports where p lives, or ok == false when p is not the start of
// a block carved in one of the heap's pools (a large block, a foreign
// pointer, an interior pointer or a pointer into a pool header).
func (h *Heap) Block(p unsafe.Pointer) (info BlockInfo, ok bool) {
	a := uintptr(p)
	if !h.arenaMap.isUsed(a) {
		return BlockInfo{}, false
	}
	pa := a &^ h.l.poolMask
	ao := h.arenaContaining(a)
	if ao == nil || pa < h.firstPool(ao) || pa >= ao.poolAddress {
		return BlockInfo{}, false
	}
	pool := poolAt(pa)
	if pool.count == 0 || int(pool.szidx) >= h.l.nclasses {
		return BlockInfo{}, false
	}
	size := h.l.blockSize(int(pool.szidx))
	off := a - pa
	if off < h.l.poolOverhead || (off-h.l.poolOverhead)%size != 0 || off >= uintptr(pool.nextoffset) {
		return BlockInfo{}, false
	}
	return BlockInfo{
		Class:       int(pool.szidx),
		Size:        size,
		Pool:        pa,
		Arena:       int(pool.arenaindex),
		ArenaBase:   ao.address,
		IndexInPool: int((off - h.l.poolOverhead) / size),
	}, true
}

// arenaContaining finds the arena object whose mapping holds a.
func (h *Heap) arenaContaining(a uintptr) *arenaObject {
	var found *arenaObject
	h.eachArena(func(ao *arenaObject) {
		if a-ao.address < h.l.arenaSize {
			found = ao
		}
	})
	return found
}

// LiveClassOf returns the size class of p, a pool block that the caller
// holds, without the Heap: it reads p's pool header and nothing else. It
// is for code beside a Heap that other goroutines use under a lock, which
// needs a block's class before it takes that lock, for instance to file a
// freed block in a per-class cache (pymalloc's per-processor caches do).
//
// It answers only for a heap with the default Alignment, Threshold and
// PoolSize (it has no Heap to learn another layout from), and only for p
// in a pool: a block that Malloc, Calloc or Realloc returned for 1..512
// bytes and that lies in one of the heap's arenas (Heap.Owns), or an
// address inside such a block. Any other p reads memory that may not be a
// pool header, or not mapped at all.
//
// ok is false when p cannot be a block in use: it points into its pool's
// header, or its pool has no block in use (p was freed already, another
// block of the pool was freed twice, or p never came from the heap). ok
// is true for a block freed once in a pool that still has others in use:
// the pool header cannot tell it from a live one.
//
// LiveClassOf takes no lock, so it may run while another goroutine calls
// the heap, provided the caller holds p (allocated and not yet freed): a
// pool's class cannot change while one of its blocks is in use, and its
// count stays at least one. Its reads race with the owner's writes of the
// same header words; a word-sized read sees one of the values written,
// and the race detector does not watch memory outside the Go heap.
func LiveClassOf(p unsafe.Pointer) (class int, ok bool) {
	a := uintptr(p)
	pool := poolAt(a &^ (DefaultPoolSize - 1))
	if a&(DefaultPoolSize-1) < defaultPoolOverhead || pool.count == 0 || pool.szidx >= DefaultThreshold/DefaultAlignment {
		return 0, false
	}
	return int(pool.szidx), true
}

// defaultPoolOverhead is POOL_OVERHEAD in the default layout, in bytes.
const defaultPoolOverhead = (poolHeaderSize + DefaultAlignment - 1) &^ (DefaultAlignment - 1)

// LiveBlockOf is LiveClassOf, and also reports whether p is where a block
// of its pool's class starts rather than an address inside one, with the
// same conditions and the same lock-free reads: p must lie in a pool block
// the caller holds. It lets a caller refuse an interior pointer before
// handing it to Free, which takes any address past the header of a pool
// with blocks in use for a block and would corrupt the pool (pymalloc's
// FreeSlice refuses a slice re-sliced from its start this way).
func LiveBlockOf(p unsafe.Pointer) (class int, start, ok bool) {
	if class, ok = LiveClassOf(p); !ok {
		return 0, false, false
	}
	off := uintptr(p)&(DefaultPoolSize-1) - defaultPoolOverhead
	return class, off%(uintptr(class+1)*DefaultAlignment) == 0, true
}

// HasRoom reports whether a request of n bytes would be served from the
// pools without mapping an arena: n is within the threshold and its class
// has a pool with a free block, or an arena already mapped has an empty
// pool. pymalloc's sharded heap asks it before taking another shard's
// pools, so that a shard without room is not made to try to map an arena
// and fall back on the large-block allocator for nothing.
func (h *Heap) HasRoom(n uintptr) bool {
	if h.closed || n-1 >= h.l.threshold {
		return false
	}
	ph := h.phantom(uint32(h.l.sizeClass(n)))
	return poolAt(ph).nextpool != ph || h.usableArenas != nil
}
