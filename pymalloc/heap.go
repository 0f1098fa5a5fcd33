package pymalloc

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// sharedHeap is the default heap behind MEM and OBJ. It starts as one
// obmalloc.Heap under one mutex, CPython's single heap under the GIL, so a
// program that allocates from one goroutine sees exactly CPython's heap.
// The first time an allocation finds that mutex held, the heap turns
// sharded, for good: from then on each allocation takes the shard of the
// processor (the runtime's P) its goroutine runs on, each shard an
// obmalloc.Heap with its own mutex, created on first use. Goroutines on
// different processors then rarely meet on a lock. A block goes back to
// the shard that owns it, which Free finds in the arenaOwners table
// without taking a lock; blocks of the large allocator, which all shards
// share and which has its own lock, can be freed from any shard.
//
//	Malloc ──> shard of the current P (the next free one if busy)
//	Free(p) ─> owners[p] ─> that shard's mutex ─> obmalloc.Heap.Free
type sharedHeap struct {
	sharded  atomic.Bool
	mask     uint32        // shards in use are shards[:mask+1]
	_        [128 - 8]byte // read by every call: a line of its own
	shards   [maxShards]shard
	ownersMu sync.Mutex // serialises the writers of owners (the shards' arena hooks)
	owners   arenaOwners
	caches   caches // per-processor caches of free blocks (pcache.go)
}

// shard is one heap and its lock, padded to its own cache lines so two
// cores working on two shards do not share a line. h is set, under mu,
// by the first caller that locks the shard.
type shard struct {
	mu sync.Mutex
	h  *obmalloc.Heap
	_  [128 - 16]byte
}

// maxShards bounds the shards: GOMAXPROCS or the number of CPUs at
// start-up, whichever is larger (a program may raise GOMAXPROCS later),
// rounded up to a power of two, at most this. Shards get their heap only
// when first used.
const maxShards = 64

var defaultHeap = newSharedHeap(max(runtime.GOMAXPROCS(0), runtime.NumCPU()))

// arenaPolicy is the default heap's arena policy, from ArenasEnvVar; an
// unknown value stops the program in init.
var arenaPolicy, arenaPolicyErr = policyFromEnv(os.Getenv(ArenasEnvVar))

// ArenaPolicy returns the default heap's arena policy: obmalloc.KeepArenas
// unless ArenasEnvVar chose obmalloc.ReleaseArenas at start-up. Every shard
// of the heap applies it.
func ArenaPolicy() obmalloc.ArenaPolicy { return arenaPolicy }

func newSharedHeap(procs int) *sharedHeap {
	d := &sharedHeap{}
	d.owners.init()
	n := min(maxShards, 1<<bits.Len(uint(procs-1)))
	d.mask = uint32(n - 1)
	d.shards[0].h = d.newShardHeap(0)
	return d
}

func (d *sharedHeap) newShardHeap(i uint32) *obmalloc.Heap {
	h, err := obmalloc.New(obmalloc.Config{Arenas: shardArenas{d, int(i)}, Large: rawDomain{}, Policy: arenaPolicy})
	if err != nil {
		panic(fmt.Sprintf("pymalloc: creating the default heap: %v", err))
	}
	return h
}

// lockSharded locks the shard an allocation takes once the heap is
// sharded (or finds it so now): the current processor's, or the next one
// not busy, or else waits for the processor's own.
func (d *sharedHeap) lockSharded() *shard {
	if !d.sharded.Load() {
		d.sharded.Store(true)
	}
	home := uint32(procID()) & d.mask
	for k := range d.mask + 1 {
		i := (home + k) & d.mask
		if s := &d.shards[i]; s.mu.TryLock() {
			d.ensureHeap(s, i)
			return s
		}
	}
	s := &d.shards[home]
	s.mu.Lock()
	d.ensureHeap(s, home)
	return s
}

// ensureHeap gives locked shard i its heap on first use.
func (d *sharedHeap) ensureHeap(s *shard, i uint32) {
	if s.h == nil {
		s.h = d.newShardHeap(i)
	}
}

// Malloc and Calloc take shard 0 while the heap is not sharded and they
// find it free; Free and Realloc go to shard 0 until the heap is sharded
// (until then every pool block is shard 0's), and to the owner after. A
// pointer in no shard's arenas (a large block, or one the heap never
// handed out) goes to shard 0, whose Free passes it to the large
// allocator.
// These paths are written out so that the common case makes no call
// besides the heap's.

func (d *sharedHeap) Malloc(n uintptr) unsafe.Pointer {
	s := &d.shards[0]
	if d.sharded.Load() {
		if n-1 < obmalloc.DefaultThreshold {
			p, haveCache := d.caches.get(n)
			if p != nil {
				return p
			}
			if haveCache {
				return d.mallocRefill(n)
			}
		}
		s = d.lockSharded()
		if n-1 < obmalloc.DefaultThreshold {
			return d.smallFromShards(s, n, false)
		}
	} else if !s.mu.TryLock() {
		s = d.lockSharded()
	}
	p := s.h.Malloc(n)
	s.mu.Unlock()
	return p
}

// smallFromShards serves a small request (zeroed if zero) from the
// locked shard s, which it unlocks, or elsewhere (see elsewhere) when s
// cannot serve it from its pools.
func (d *sharedHeap) smallFromShards(s *shard, n uintptr, zero bool) unsafe.Pointer {
	p := smallAlloc(s.h, n, zero)
	owned := p != nil && s.h.Owns(p)
	s.mu.Unlock()
	if owned {
		return p
	}
	return d.elsewhere(s, p, n, zero)
}

// smallAlloc is h.Malloc(n), or h.Calloc(1, n) if zero.
func smallAlloc(h *obmalloc.Heap, n uintptr, zero bool) unsafe.Pointer {
	if zero {
		return h.Calloc(1, n)
	}
	return h.Malloc(n)
}

// elsewhere serves a small request that shard s could not serve from its
// pools (it could map no arena: p is the large allocator's block it fell
// back on, or nil) from another shard's pools, as CPython's one heap
// would have found them; only if none has room does p stand. A shard
// without room is not asked, so it neither tries to map an arena nor
// makes and drops a large block, which a RAW tracer would see.
func (d *sharedHeap) elsewhere(s *shard, p unsafe.Pointer, n uintptr, zero bool) unsafe.Pointer {
	for i := range d.mask + 1 {
		o := &d.shards[i]
		if o == s {
			continue
		}
		o.mu.Lock()
		var q unsafe.Pointer
		if o.h != nil && o.h.HasRoom(n) {
			q = smallAlloc(o.h, n, zero) // from its pools: HasRoom says so
		}
		o.mu.Unlock()
		if q != nil {
			if p != nil {
				s.mu.Lock()
				s.h.Free(p)
				s.mu.Unlock()
			}
			return q
		}
	}
	return p
}

func (d *sharedHeap) Calloc(nelem, elsize uintptr) unsafe.Pointer {
	s := &d.shards[0]
	if d.sharded.Load() {
		hi, n := bits.Mul64(uint64(nelem), uint64(elsize))
		small := hi == 0 && n-1 < obmalloc.DefaultThreshold
		if small {
			if p, _ := d.caches.get(uintptr(n)); p != nil {
				clear(unsafe.Slice((*byte)(p), n)) // a cached block holds old data
				return p
			}
		}
		s = d.lockSharded()
		if small {
			return d.smallFromShards(s, uintptr(n), true)
		}
	} else if !s.mu.TryLock() {
		s = d.lockSharded()
	}
	p := s.h.Calloc(nelem, elsize)
	s.mu.Unlock()
	return p
}

func (d *sharedHeap) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	s := &d.shards[0]
	if d.sharded.Load() {
		s = &d.shards[max(d.owners.owner(uintptr(p)), 0)]
	}
	s.mu.Lock()
	defer s.mu.Unlock() // Realloc may panic on a foreign pointer
	return s.h.Realloc(p, n)
}

func (d *sharedHeap) Free(p unsafe.Pointer) {
	s := &d.shards[0]
	if d.sharded.Load() {
		if d.owners.poolHeaderInside(uintptr(p)) {
			if c, ok := obmalloc.LiveClassOf(p); ok && (d.caches.put(p, c) || d.freeSpilling(p, c)) {
				return
			}
		}
		s = &d.shards[max(d.owners.owner(uintptr(p)), 0)]
	}
	s.mu.Lock()
	defer s.mu.Unlock() // Free panics on a foreign pointer
	s.h.Free(p)
}

// mallocRefill serves a small request whose class the processor's cache
// lacks: from the shard, with cacheBatch more blocks of the class taken
// under the same lock for the cache.
func (d *sharedHeap) mallocRefill(n uintptr) unsafe.Pointer {
	c := int((n - 1) / obmalloc.DefaultAlignment)
	var batch [cacheBatch]uintptr
	got := 0
	s := d.lockSharded()
	p := s.h.Malloc(n)
	if p == nil || !s.h.Owns(p) {
		s.mu.Unlock()
		return d.elsewhere(s, p, n, false)
	}
	size := uintptr(c+1) * obmalloc.DefaultAlignment
	for got < cacheBatch {
		q := s.h.Malloc(size)
		if q != nil && !s.h.Owns(q) {
			s.h.Free(q) // no arena to be had: the large allocator's
			q = nil
		}
		if q == nil {
			break
		}
		batch[got] = uintptr(q)
		got++
	}
	s.mu.Unlock()
	if rest := d.caches.putBatch(c, batch[:got]); len(rest) > 0 {
		d.freeBatch(rest)
	}
	return p
}

// freeSpilling caches the freed block p of class c after put found the
// class full, handing the cache's older half back to the shards, and
// reports whether p was cached.
func (d *sharedHeap) freeSpilling(p unsafe.Pointer, c int) bool {
	var spill [cacheBatch]uintptr
	k := d.caches.putSpilling(p, c, &spill)
	if k > 0 {
		d.freeBatch(spill[:k])
	}
	return k >= 0
}

// freeBatch frees pool blocks that a cache gave up, each to its owner,
// taking each owner's lock once for a run of its blocks. A block whose
// pool has no block in use is left alone, the rest of the batch is freed,
// and then the fault is reported, from whichever call made the cache give
// the block up. That block need not be the one freed twice: a double free
// of a pool-mate handed back before it can have emptied the pool, so the
// problem names both cases and the hooks that tell them apart.
func (d *sharedHeap) freeBatch(blocks []uintptr) {
	bad := uintptr(0)
	for len(blocks) > 0 {
		n, b := d.freeRun(blocks)
		blocks, bad = blocks[n:], cmp.Or(bad, b)
	}
	if bad != 0 {
		panic(spillFault(bad))
	}
}

// spillFault is freeBatch's fault for bad, a block whose pool had no block
// in use when a cache handed it back.
func spillFault(bad uintptr) obmalloc.Fault {
	return obmalloc.Fault{Call: "Free", Addr: bad, Problem: fmt.Sprintf("the pool holding this address (%#x) had no block in use "+
		"when a processor's cache handed the block back to it, during a later call: this block, or another block of the same pool "+
		"freed before it, was freed twice or never returned by Malloc; run with GOPYMALLOC=debug to find the first bad free",
		bad&^(obmalloc.DefaultPoolSize-1))}
}

// freeRun frees the leading blocks that have the first one's owner, under
// its lock, and returns how many it went through and the first one it
// left alone because its pool had no block in use.
func (d *sharedHeap) freeRun(blocks []uintptr) (n int, bad uintptr) {
	o := d.owners.owner(blocks[0])
	s := &d.shards[o]
	s.mu.Lock()
	defer s.mu.Unlock()
	for n = 0; n < len(blocks) && (n == 0 || d.owners.owner(blocks[n]) == o); n++ {
		if _, ok := obmalloc.LiveClassOf(ptrAt(blocks[n])); !ok {
			bad = cmp.Or(bad, blocks[n])
			continue
		}
		s.h.Free(ptrAt(blocks[n]))
	}
	return n, bad
}

// each runs f on every shard's heap in turn, each under its lock.
func (d *sharedHeap) each(f func(i int, h *obmalloc.Heap)) {
	for i := range d.mask + 1 {
		s := &d.shards[i]
		s.mu.Lock()
		func() {
			defer s.mu.Unlock()
			if s.h != nil {
				f(int(i), s.h)
			}
		}()
	}
}

// shardArenas maps a shard's arenas through whatever SetArenaAllocator
// installed and records them in the owners table.
type shardArenas struct {
	d     *sharedHeap
	shard int
}

func (a shardArenas) Alloc(size uintptr) unsafe.Pointer {
	p := arenaAllocator.Load().a.Alloc(size)
	if p == nil {
		return nil
	}
	a.d.ownersMu.Lock()
	ok := a.d.owners.set(uintptr(p), a.shard)
	a.d.ownersMu.Unlock()
	if !ok {
		// Above the owners table's reach: refuse the arena, as if the
		// allocator had failed.
		arenaAllocator.Load().a.Free(p, size)
		return nil
	}
	return p
}

func (a shardArenas) Free(p unsafe.Pointer, size uintptr) {
	a.d.ownersMu.Lock()
	a.d.owners.set(uintptr(p), -1)
	a.d.ownersMu.Unlock()
	arenaAllocator.Load().a.Free(p, size)
}

var arenaAllocator atomic.Pointer[arenaHolder]

type arenaHolder struct{ a ArenaAllocator }

func init() {
	// GOPYMALLOC_HUGEPAGES (env.go) chooses the arenas' memory before the
	// first arena is mapped; GOPYMALLOC_ARENAS was read with defaultHeap.
	a, err := arenasFromEnv(os.Getenv(HugePagesEnvVar))
	for _, err := range []error{err, arenaPolicyErr} {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	arenaAllocator.Store(&arenaHolder{a})
}

// GetArenaAllocator returns the allocator that maps the default heap's
// arenas (PyObject_GetArenaAllocator); by default, mmap.
func GetArenaAllocator() ArenaAllocator { return arenaAllocator.Load().a }

// SetArenaAllocator makes a map the default heap's future arenas and
// unmap all of them (PyObject_SetArenaAllocator); a replacement installed
// after arenas were mapped must be able to free them, usually by wrapping
// the previous one.
func SetArenaAllocator(a ArenaAllocator) {
	if a == nil {
		panic("pymalloc: SetArenaAllocator(nil): the allocator must not be nil")
	}
	arenaAllocator.Store(&arenaHolder{a})
}

// Stats returns the default heap's statistics. Once the heap is sharded,
// they are the sums over its shards: each class row, block and byte count
// and arena count adds up, and ArenasHighwater is the sum of the shards'
// highwater marks, which may exceed the most arenas ever mapped at once.
func Stats() obmalloc.Stats { return defaultHeap.stats() }

func (d *sharedHeap) stats() obmalloc.Stats {
	var s obmalloc.Stats
	d.each(func(_ int, h *obmalloc.Heap) { s.Add(h.Stats()) })
	d.caches.uncountCached(&s)
	return s
}

// Block reports where p lives in the default heap, the heap of the OBJ and
// MEM domains: its size class, pool and arena (obmalloc.Heap.Block). It
// reports ok == false for anything that is not the start of a pool block
// of that heap: a large block, a foreign pointer, or a block the debug
// hooks handed out (their data starts inside the heap's block). Once the
// heap is sharded, Arena is a slot of the owning shard's arenas vector.
func Block(p unsafe.Pointer) (info obmalloc.BlockInfo, ok bool) {
	d := defaultHeap
	i := d.owners.owner(uintptr(p))
	if i < 0 {
		return obmalloc.BlockInfo{}, false
	}
	s := &d.shards[i]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h.Block(p)
}

// AllocatedBlocks is sys.getallocatedblocks(): the blocks the default heap
// has handed out and not taken back, pool and large ones. Blocks the
// program freed that wait in the debug hooks' quarantine are not counted,
// so a leak check reads the same with and without the hooks. It counts
// the default heap only: under GOPYMALLOC=malloc or malloc_debug, or with
// another allocator set on the MEM and OBJ domains, it reads 0 whatever
// is live, as CPython's does under PYTHONMALLOC=malloc.
func AllocatedBlocks() int {
	q := debug.quarantinedIn(defaultHeap)
	return defaultHeap.allocatedBlocks() - q
}

// WriteDebugMallocStats writes the default heap's statistics in the
// layout of the pymalloc section of CPython 3.11's sys._debugmallocstats().
// Once the heap is sharded (goroutines met on its lock), blocks held in
// the per-processor caches count as available, not in use, so a class can
// show pools with 0 blocks in use, a row CPython never prints: the pools
// stay allocated until a cache hands its blocks back (see the package
// doc, "Concurrency and its cost").
//
// As _PyObject_DebugMallocStats, it writes nothing when pymalloc does not
// serve the OBJ domain: under GOPYMALLOC=malloc, with another allocator
// set, and also while tracing, whose hook sits on top as tracemalloc's
// does (CPython 3.11 prints no pymalloc section under -X tracemalloc
// either). The debug hooks do not count: pymalloc is still below them.
// Stats answers in every case.
func WriteDebugMallocStats(w io.Writer) error {
	if !pymallocEnabled() {
		return nil
	}
	s := Stats()
	return s.WriteDebugMallocStats(w)
}

// pymallocEnabled is _PyMem_PymallocEnabled: the OBJ domain's allocator is
// the default heap, or the package's debug hooks on it.
func pymallocEnabled() bool {
	a, _ := belowHooks(obj())
	return a == Allocator(defaultHeap)
}

// Check runs the invariant checker (obmalloc.Heap.Check) on the default
// heap, shard by shard, and checks that the owners table agrees with
// every shard's arenas.
func Check() error { return defaultHeap.check() }

func (d *sharedHeap) check() error {
	var errs []error
	d.each(func(i int, h *obmalloc.Heap) {
		err := h.Check()
		if err == nil {
			err = d.checkOwners(i, h)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("shard %d: %w", i, err))
		}
	})
	return errors.Join(errs...)
}

// checkOwners checks that the owners table gives shard i every byte of
// h's arenas, the first and the last included.
func (d *sharedHeap) checkOwners(i int, h *obmalloc.Heap) error {
	for _, a := range h.Arenas() {
		for _, p := range []uintptr{a.Address, a.Address + obmalloc.DefaultArenaSize - 1} {
			if got := d.owners.owner(p); got != i {
				return fmt.Errorf("owners table: %#x of arena %#x belongs to shard %d, want %d", p, a.Address, got, i)
			}
		}
	}
	return nil
}

// Owns reports whether p is a block of the default heap: where a block of
// a pool in use starts, in one of its arenas, or a block the heap obtained
// from the RAW domain. The debug hooks pass down to the heap, unchecked,
// only the blocks it owns: an address inside a block, or in a pool with
// no block in use, is not one (it would be taken for a block).
func (d *sharedHeap) Owns(p unsafe.Pointer) bool {
	if d.owners.owner(uintptr(p)) >= 0 {
		start, _ := d.liveBlockAt(p)
		return start
	}
	o, ok := heapRaw().(owner)
	return ok && o.Owns(p)
}

// liveBlockAt is obmalloc.LiveBlockOf's start and ok for p, asked only
// where the owners table says p's pool header is arena memory; anywhere
// else (outside the arenas, or in an arena's partial pool before its
// first boundary) it reads nothing and answers false, false.
func (d *sharedHeap) liveBlockAt(p unsafe.Pointer) (start, ok bool) {
	if !d.owners.poolHeaderInside(uintptr(p)) {
		return false, false
	}
	_, start, ok = obmalloc.LiveBlockOf(p)
	return start, ok
}

// allocatedBlocks counts the blocks handed out and not freed: the
// shards' count less the blocks waiting in the processors' caches, class
// by class (stats). It is exact when no goroutine allocates meanwhile;
// while some do, a block the shards handed to a cache after they were
// read may be taken off too, so a class may read a little low, never
// below zero.
func (d *sharedHeap) allocatedBlocks() int {
	s := d.stats()
	return s.AllocatedBlocks()
}

// shardBlocks counts the blocks the shards have handed out, to the
// program or to a processor's cache.
func (d *sharedHeap) shardBlocks() int {
	n := 0
	d.each(func(_ int, h *obmalloc.Heap) { n += h.AllocatedBlocks() })
	return n
}
