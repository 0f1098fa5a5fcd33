package pymalloc

import (
	"sync/atomic"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// Per-processor block caches, the sharded heap's fast path.
//
// Once the default heap is sharded (several goroutines met on its lock),
// each processor (the runtime's P) also gets a small cache of free pool
// blocks per size class, as tcmalloc's and jemalloc's per-thread caches.
// Free puts a block in the current processor's cache; Malloc and Calloc
// take the block most recently put there. Neither takes a lock: the
// goroutine is pinned to its processor (runtime.procPin) for the few
// loads and stores, so no other goroutine can run there meanwhile, and it
// never blocks while pinned. Only when the cache is empty (Malloc) or
// full (Free) does the call go on to the shard, under its lock.
//
//	Malloc(n) ─pin─> cache[P][class(n)] ─empty─> shard of P, locked
//	Free(p) ──owners[p]──pin─> cache[P][class(p)] ─full─> owner shard, locked
//
// A cached block is free for the program and in use for its shard, so
// Stats, AllocatedBlocks and WriteDebugMallocStats move cached blocks
// from "in use" to "available"; a pool that holds only cached blocks
// still counts as a pool in use. A heap that is not sharded has no
// caches: a program that allocates from one goroutine keeps CPython's
// heap exactly.
//
// The caches live outside the Go heap (one mapping per processor, made at
// its first use), like the blocks. Each holds at most cacheDepth blocks
// per class, 1,024 blocks in all. A processor whose id is maxCaches or
// more, or whose cache could not be mapped, has none and takes the
// shards' path, one block per lock, as before caches. When GOMAXPROCS
// falls, the caches of the processors that go away keep their blocks
// (counted as free) until a processor with that id runs again.

// cacheDepth is how many free blocks of one class a processor's cache
// holds.
const cacheDepth = 32

// cacheBatch is how many blocks move between a cache and the shards at
// once: a Malloc that finds its class empty takes that many more from the
// shard under the same lock, and a Free that finds it full hands back its
// older half.
const cacheBatch = cacheDepth / 2

// cacheClasses is the number of size classes of the default heap.
const cacheClasses = obmalloc.DefaultThreshold / obmalloc.DefaultAlignment

// blockCache is one processor's cache: n[c] blocks of class c, the most
// recently freed last. Only a goroutine pinned to the processor touches
// it, except the statistics, which read the counts.
type blockCache struct {
	n      [cacheClasses]uint32
	blocks [cacheClasses][cacheDepth]uintptr
}

// maxCaches bounds the processors that get a cache.
const maxCaches = 256

// noCache in a processor's slot says its cache could not be mapped; the
// mapping is not tried again.
const noCache = 1

// caches holds each processor's cache address, 0 until its first use.
type caches [maxCaches]atomic.Uintptr

// of returns processor pid's cache, or nil.
func (cs *caches) of(pid int) *blockCache {
	if uint(pid) >= maxCaches {
		return nil
	}
	v := cs[pid].Load()
	if v <= noCache {
		// Tested on the integer: a pointer made from an address is
		// taken to be non-nil by the compiler.
		return nil
	}
	// The cache is a mapping of its own, which outlives the heap: the
	// address stays valid.
	return (*blockCache)(ptrAt(v))
}

// make gives processor pid a cache, unless it has one or has no slot.
// The goroutine is not pinned: mapping may block.
func (cs *caches) make(pid int) {
	if uint(pid) >= maxCaches || cs[pid].Load() != 0 {
		return
	}
	m, err := mmap.Map(unsafe.Sizeof(blockCache{}))
	if err != nil {
		cs[pid].CompareAndSwap(0, noCache)
		return
	}
	if !cs[pid].CompareAndSwap(0, uintptr(m)) {
		_ = mmap.Unmap(m, unsafe.Sizeof(blockCache{}))
	}
}

// get takes a cached block for a request of n bytes (1..512). It returns
// nil when there is none, with haveCache false when the processor has no
// cache to refill.
func (cs *caches) get(n uintptr) (p unsafe.Pointer, haveCache bool) {
	c := (n - 1) / obmalloc.DefaultAlignment
	pid := runtimeProcPin()
	bc := cs.of(pid)
	if bc == nil {
		runtimeProcUnpin()
		cs.make(pid)
		return nil, false
	}
	k := bc.n[c]
	if k == 0 {
		runtimeProcUnpin()
		return nil, true
	}
	k--
	bc.n[c] = k
	b := bc.blocks[c][k]
	runtimeProcUnpin()
	return ptrAt(b), true
}

// put caches the freed block p of class c and reports whether it did:
// not when the processor has no cache yet (it gets one) or when the
// class is full.
func (cs *caches) put(p unsafe.Pointer, c int) bool {
	pid := runtimeProcPin()
	bc := cs.of(pid)
	if bc == nil {
		runtimeProcUnpin()
		cs.make(pid)
		return false
	}
	k := bc.n[c]
	// Only the block freed last is compared: scanning the class's blocks
	// for every Free cost more than the rest of the call (two goroutines'
	// churn pair went from 11.0 to 19.2 ns). The debug hooks catch every
	// double free.
	if k > 0 && bc.blocks[c][k-1] == uintptr(p) {
		runtimeProcUnpin()
		panic(obmalloc.Fault{Call: "Free", Addr: uintptr(p), Problem: "double free: the block was the last one freed on this processor"})
	}
	if k == cacheDepth {
		runtimeProcUnpin()
		return false
	}
	bc.blocks[c][k] = uintptr(p)
	bc.n[c] = k + 1
	runtimeProcUnpin()
	return true
}

// putSpilling caches p as put does, first moving the older half of a full
// class out to spill, and returns how many blocks it moved there for the
// caller to free (0 when the class was not full: the goroutine may be on
// another processor than put's), or -1 when the processor has no cache
// and p was not cached.
func (cs *caches) putSpilling(p unsafe.Pointer, c int, spill *[cacheBatch]uintptr) int {
	pid := runtimeProcPin()
	bc := cs.of(pid)
	if bc == nil {
		runtimeProcUnpin()
		return -1
	}
	k, spilled := bc.n[c], 0
	if k == cacheDepth {
		spilled = copy(spill[:], bc.blocks[c][:cacheBatch])
		copy(bc.blocks[c][:], bc.blocks[c][cacheBatch:])
		k -= cacheBatch
	}
	bc.blocks[c][k] = uintptr(p)
	bc.n[c] = k + 1
	runtimeProcUnpin()
	return spilled
}

// putBatch caches the blocks of class c that fit and returns the others.
func (cs *caches) putBatch(c int, blocks []uintptr) (rest []uintptr) {
	pid := runtimeProcPin()
	bc := cs.of(pid)
	if bc == nil {
		runtimeProcUnpin()
		return blocks
	}
	k := bc.n[c]
	m := copy(bc.blocks[c][k:], blocks)
	bc.n[c] = k + uint32(m)
	runtimeProcUnpin()
	return blocks[m:]
}

// counts adds up the blocks every cache holds, per class. The counts are
// read while their processors may change them (with plain stores: a
// word-sized read sees one of the values written), so they are exact only
// when no goroutine allocates meanwhile.
func (cs *caches) counts() (perClass [cacheClasses]int, total int) {
	for i := range cs {
		bc := cs.of(i)
		if bc == nil {
			continue
		}
		for c := range bc.n {
			k := int(atomic.LoadUint32(&bc.n[c]))
			perClass[c] += k
			total += k
		}
	}
	return perClass, total
}

// uncountCached moves the cached blocks in s from in use to available.
func (cs *caches) uncountCached(s *obmalloc.Stats) {
	perClass, _ := cs.counts()
	for c, k := range perClass {
		if k == 0 || c >= len(s.Classes) {
			continue
		}
		row := &s.Classes[c]
		// While others allocate, a block may be seen cached here and not
		// yet handed out in the shard's figures, read a moment before.
		k = min(k, row.BlocksInUse)
		row.BlocksInUse -= k
		row.AvailBlocks += k
		s.BytesInAllocatedBlocks -= uintptr(k) * row.Size
		s.BytesInAvailableBlocks += uintptr(k) * row.Size
	}
}
