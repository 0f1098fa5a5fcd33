package pymalloc

import (
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/arenatest"
	"github.com/gopymalloc/gopymalloc/mmap"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// onOneProcessor runs f with GOMAXPROCS 1 on a sharded heap of its own, so
// that every call meets the same processor's cache.
func onOneProcessor(t *testing.T, f func(d *sharedHeap)) {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	d := newSharedHeap(2)
	d.sharded.Store(true)
	// The first call on a processor makes its cache.
	d.Free(d.Malloc(8))
	f(d)
}

// arenaBytesAddUp checks the identity of the stats' byte figures.
func arenaBytesAddUp(t *testing.T, s obmalloc.Stats) {
	t.Helper()
	sum := s.BytesInAllocatedBlocks + s.BytesInAvailableBlocks + uintptr(s.UnusedPools)*s.PoolSize +
		s.BytesLostToPoolHeaders + s.BytesLostToQuantization + s.BytesLostToArenaAlignment
	assert.Equal(t, s.ArenaBytes(), sum, "the byte figures add up to the arenas")
}

func TestCacheHandsBackTheLastFreedBlock(t *testing.T) {
	onOneProcessor(t, func(d *sharedHeap) {
		p := d.Malloc(100)
		d.Free(p)
		assert.Equal(t, p, d.Malloc(100), "same class: the block just freed")
		assert.NotEqual(t, p, d.Malloc(100), "handed out once only")
	})
}

func TestCacheRefillsAndCounts(t *testing.T) {
	onOneProcessor(t, func(d *sharedHeap) {
		const size = 100 // class 6
		class := (size - 1) / obmalloc.DefaultAlignment
		before, shardBefore := d.allocatedBlocks(), d.shardBlocks()
		p := d.Malloc(size) // the class's cache is empty: a refill
		bc := d.caches.of(0)
		require.NotNil(t, bc)
		assert.EqualValues(t, cacheBatch, bc.n[class], "the refill cached a batch")
		assert.Equal(t, before+1, d.allocatedBlocks(), "cached blocks are not counted as allocated")
		assert.Equal(t, shardBefore+1+cacheBatch, d.shardBlocks(), "the shard handed them out")
		s := d.stats()
		assert.Equal(t, 1, s.Classes[class].BlocksInUse)
		arenaBytesAddUp(t, s)

		// The cached blocks are distinct live blocks of the class.
		seen := map[uintptr]bool{uintptr(p): true}
		for _, b := range bc.blocks[class][:bc.n[class]] {
			assert.False(t, seen[b], "block %#x cached twice", b)
			seen[b] = true
			c, ok := obmalloc.LiveClassOf(ptrAt(b))
			assert.True(t, ok)
			assert.Equal(t, class, c)
		}
		d.Free(p)
		require.NoError(t, d.check())
		assert.Equal(t, before, d.allocatedBlocks())
	})
}

func TestCacheSpillsItsOlderHalf(t *testing.T) {
	onOneProcessor(t, func(d *sharedHeap) {
		const size, n = 500, 200 // class 31
		class := (size - 1) / obmalloc.DefaultAlignment
		before, shardBefore := d.allocatedBlocks(), d.shardBlocks()
		blocks := make([]unsafe.Pointer, n)
		for i := range blocks {
			blocks[i] = d.Malloc(size)
		}
		for _, p := range blocks {
			d.Free(p)
		}
		bc := d.caches.of(0)
		assert.Greater(t, int(bc.n[class]), cacheBatch, "a spill keeps the newer half")
		assert.Equal(t, blocks[n-1], ptrAt(bc.blocks[class][bc.n[class]-1]), "the newest block stays on top")
		assert.Equal(t, before, d.allocatedBlocks())
		assert.LessOrEqual(t, d.shardBlocks()-shardBefore, cacheDepth, "the rest went back to the shard")
		require.NoError(t, d.check())
		arenaBytesAddUp(t, d.stats())
	})
}

func TestCacheCallocClears(t *testing.T) {
	onOneProcessor(t, func(d *sharedHeap) {
		p := d.Malloc(64)
		b := unsafe.Slice((*byte)(p), 64)
		for i := range b {
			b[i] = 0xff
		}
		d.Free(p)
		q := d.Calloc(4, 16)
		require.Equal(t, p, q, "from the cache")
		assert.Equal(t, make([]byte, 64), unsafe.Slice((*byte)(q), 64))
		d.Free(q)
	})
}

func TestCacheMisuse(t *testing.T) {
	onOneProcessor(t, func(d *sharedHeap) {
		// Only a block freed twice in a row is caught here (the debug
		// hooks catch the rest).
		p := d.Malloc(48)
		d.Free(p)
		assert.PanicsWithValue(t, obmalloc.Fault{Call: "Free", Addr: uintptr(p), Problem: "double free: the block was the last one freed on this processor"},
			func() { d.Free(p) })
		assert.NotEqual(t, d.Malloc(48), d.Malloc(48), "the cache held the block once")

		// Into a pool header: not cached, refused by the shard.
		q := d.Malloc(48)
		header := unsafe.Add(nil, uintptr(q)&^(obmalloc.DefaultPoolSize-1)+8)
		assert.PanicsWithError(t, fmt.Sprintf("obmalloc: Free(%#x): the address is inside the pool's header, not a block (pool %#x)",
			uintptr(header), uintptr(q)&^(obmalloc.DefaultPoolSize-1)), func() { d.Free(header) })
		d.Free(q)
		require.NoError(t, d.check(), "the heap is usable after the panics")
	})
}

// An address in the partial pool before the first pool boundary of an
// arena that is not pool-aligned: neither the cache, the shard nor Owns
// reads its would-be pool header, which lies before the arena (unmapped
// here).
func TestCacheRefusesThePartialPoolOfAMisalignedArena(t *testing.T) {
	prev := GetArenaAllocator()
	SetArenaAllocator(&arenatest.HeadlessArenas{PoolSize: obmalloc.DefaultPoolSize, HeadBytes: 4096})
	defer SetArenaAllocator(prev)
	onOneProcessor(t, func(d *sharedHeap) {
		p := d.Malloc(32)
		info, ok := d.shards[0].h.Block(p)
		require.True(t, ok)
		require.NotZero(t, info.ArenaBase%obmalloc.DefaultPoolSize, "the arena is misaligned")
		bad := info.ArenaBase + 64
		assert.PanicsWithValue(t, obmalloc.Fault{Call: "Free", Addr: bad,
			Problem: "the address is in the partial pool before the arena's first pool boundary, where no block lies"},
			func() { d.Free(ptrAt(bad)) })
		// Nor does Owns, which answers no.
		assert.False(t, d.Owns(ptrAt(bad)))
		start, ok := d.liveBlockAt(ptrAt(bad))
		assert.False(t, start, "liveBlockAt's start")
		assert.False(t, ok, "liveBlockAt's ok")
		d.Free(p)
		require.NoError(t, d.check())
	})
}

// decoyHeadArenas maps every arena headBytes past a pool boundary, as
// arenatest.HeadlessArenas does, but keeps the partial pool before the
// arena mapped, so that a test can write a pool header there: code that
// reads the would-be pool header of an address in the arena's first,
// partial pool then finds a pool in use instead of faulting or finding
// zeros.
type decoyHeadArenas struct {
	headBytes uintptr
	mu        sync.Mutex
	maps      map[uintptr]uintptr // arena -> its mapping
}

func (a *decoyHeadArenas) Alloc(size uintptr) unsafe.Pointer {
	const pool = obmalloc.DefaultPoolSize
	a.mu.Lock()
	defer a.mu.Unlock()
	m, err := mmap.Map(size + 2*pool)
	if err != nil {
		return nil
	}
	base := (uintptr(m)+pool-1)&^(pool-1) + a.headBytes
	a.maps[base] = uintptr(m)
	return unsafe.Add(m, base-uintptr(m))
}

func (a *decoyHeadArenas) Free(p unsafe.Pointer, size uintptr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.maps[uintptr(p)]
	delete(a.maps, uintptr(p))
	_ = mmap.Unmap(ptrAt(m), size+2*obmalloc.DefaultPoolSize)
}

// Owns answers no for an address in the partial pool before an arena's
// first pool boundary without reading the would-be header there, which
// lies before the arena: here it is mapped and holds a copy of a live
// pool's header, which LiveBlockOf would take for a block in use.
func TestOwnsReadsNoHeaderBeforeTheArena(t *testing.T) {
	prev := GetArenaAllocator()
	SetArenaAllocator(&decoyHeadArenas{headBytes: 4096, maps: map[uintptr]uintptr{}})
	defer SetArenaAllocator(prev)
	onOneProcessor(t, func(d *sharedHeap) {
		const pool = obmalloc.DefaultPoolSize
		p := d.Malloc(32)
		info, ok := d.shards[0].h.Block(p)
		require.True(t, ok)
		require.NotZero(t, info.ArenaBase%pool, "the arena is misaligned")
		boundary := info.ArenaBase &^ (pool - 1)
		// The decoy: p's pool header, copied to the pool boundary before
		// the arena. (A byte loop: copy between these two unsafe.Slices
		// crashes the go1.26.8 compiler, "disjointTypes: one of arguments
		// is not a pointer".)
		header := uintptr(p) &^ (pool - 1)
		for i := range uintptr(64) {
			*(*byte)(ptrAt(boundary + i)) = *(*byte)(ptrAt(header + i))
		}
		// Where the decoy has a block of p's class start, in the partial
		// pool.
		bad := boundary + uintptr(p)&(pool-1)
		for bad < info.ArenaBase {
			bad += 32
		}
		for bad >= boundary+pool {
			bad -= 32
		}
		_, start, ok := obmalloc.LiveBlockOf(ptrAt(bad))
		require.True(t, start && ok, "LiveBlockOf takes the decoy for a block in use")
		assert.False(t, d.Owns(ptrAt(bad)))
		start, ok = d.liveBlockAt(ptrAt(bad))
		assert.False(t, start, "liveBlockAt's start")
		assert.False(t, ok, "liveBlockAt's ok")
		d.Free(p)
		require.NoError(t, d.check())
	})
}

// Goroutines allocate, stamp every byte of each block with an owner tag,
// hand half of their blocks to a neighbour to free, and check every stamp
// before freeing: a block handed out twice at once would be caught by a
// stamp overwritten under its owner (run with -race in CI).
func TestCacheNeverHandsOutABlockTwice(t *testing.T) {
	d := newSharedHeap(4)
	d.sharded.Store(true)
	const workers, rounds, batch = 4, 300, 64
	before := d.allocatedBlocks()
	type stamped struct {
		p   unsafe.Pointer
		n   uintptr
		tag byte
	}
	check := func(b stamped) {
		for i, v := range unsafe.Slice((*byte)(b.p), b.n) {
			if v != b.tag {
				panic(fmt.Sprintf("block %p byte %d is %d, want %d: handed out twice", b.p, i, v, b.tag))
			}
		}
	}
	handoff := make([]chan []stamped, workers)
	for i := range handoff {
		handoff[i] = make(chan []stamped, rounds)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			defer close(handoff[(w+1)%workers])
			for r := range rounds {
				tag := byte(w*rounds + r)
				var mine, theirs []stamped
				for i := range batch {
					n := uintptr(1 + (w*7+r*13+i*31)%512)
					p := d.Malloc(n)
					b := unsafe.Slice((*byte)(p), n)
					for j := range b {
						b[j] = tag
					}
					if i%2 == 0 {
						mine = append(mine, stamped{p, n, tag})
					} else {
						theirs = append(theirs, stamped{p, n, tag})
					}
				}
				handoff[(w+1)%workers] <- theirs
				for _, b := range mine {
					check(b)
					d.Free(b.p)
				}
			}
		})
	}
	for w := range workers {
		wg.Go(func() {
			for bs := range handoff[w] {
				for _, b := range bs {
					check(b)
					d.Free(b.p)
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, d.check())
	assert.Equal(t, before, d.allocatedBlocks())
	arenaBytesAddUp(t, d.stats())
}

// A processor without a cache (its id beyond maxCaches, or its cache not
// mapped) takes the shards' path, one block per lock, with no refill.
func TestCacheMissingTakesTheShardPath(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	d := newSharedHeap(2)
	d.sharded.Store(true)
	d.caches[0].Store(noCache)
	require.Nil(t, d.caches.of(0))
	blocks := make([]unsafe.Pointer, 100)
	for i := range blocks {
		blocks[i] = d.Malloc(uintptr(1 + i*5))
	}
	assert.Equal(t, 100, d.allocatedBlocks())
	assert.Equal(t, 100, d.shardBlocks(), "nothing was taken for a cache")
	for _, p := range blocks {
		d.Free(p)
	}
	assert.Zero(t, d.shardBlocks(), "every block went back to its shard")
	require.NoError(t, d.check())
}

// Without arenas a small request falls back to the large allocator; the
// refill then takes nothing for the cache.
func TestCacheRefillWithoutArenas(t *testing.T) {
	prev := GetArenaAllocator()
	SetArenaAllocator(failingArenas{})
	defer SetArenaAllocator(prev)
	onOneProcessor(t, func(d *sharedHeap) {
		before := d.shardBlocks()
		p := d.Malloc(100)
		require.NotNil(t, p)
		o := d.owners.owner(uintptr(p))
		assert.Equal(t, -1, o, "a large block")
		assert.Zero(t, d.caches.of(0).n[(100-1)/obmalloc.DefaultAlignment])
		assert.Equal(t, before+1, d.shardBlocks())
		d.Free(p)
		assert.Equal(t, before, d.shardBlocks())
		require.NoError(t, d.check())
	})
}

// Blocks cached on a processor that goes away when GOMAXPROCS falls stay
// counted as free, and the heap goes on working.
func TestCacheSurvivesGOMAXPROCSChanges(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	d := newSharedHeap(4)
	d.sharded.Store(true)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			var ps []unsafe.Pointer
			for i := range 2000 {
				ps = append(ps, d.Malloc(uintptr(1+i%512)))
			}
			for _, p := range ps {
				d.Free(p)
			}
		})
	}
	wg.Wait()
	_, cached := d.caches.counts()
	require.Positive(t, cached, "the frees filled caches")
	assert.Zero(t, d.allocatedBlocks())
	runtime.GOMAXPROCS(1)
	assert.Zero(t, d.allocatedBlocks(), "cached blocks of removed processors count as free")
	p := d.Malloc(64)
	assert.Equal(t, 1, d.allocatedBlocks())
	d.Free(p)
	runtime.GOMAXPROCS(3)
	assert.Zero(t, d.allocatedBlocks())
	require.NoError(t, d.check())
	arenaBytesAddUp(t, d.stats())
}

// While another goroutine allocates, the count is approximate, and never
// below zero.
func TestAllocatedBlocksWhileOthersAllocate(t *testing.T) {
	d := newSharedHeap(2)
	d.sharded.Store(true)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		var ps [100]unsafe.Pointer
		for !stop.Load() {
			for i := range ps {
				ps[i] = d.Malloc(16)
			}
			for _, p := range ps {
				d.Free(p)
			}
		}
	})
	low := 0
	for range 20000 {
		low = min(low, d.allocatedBlocks())
	}
	stop.Store(true)
	wg.Wait()
	// Reads while the goroutine runs mix moments (the shards are read one
	// after the other, then the caches), so they may be off either way;
	// never negative, and exact once the goroutine is done.
	assert.GreaterOrEqual(t, low, 0)
	assert.Zero(t, d.allocatedBlocks())
}

// A double free that the cache cannot see (not twice in a row) reaches
// the pool when the cache spills the two copies: the pool of the block,
// emptied by the first, refuses the second. The fault names the block and
// says when it was found, and the rest of that spill is freed all the
// same, so no block is lost.
func TestCacheSpillReportsADoubleFreeAndFreesTheRest(t *testing.T) {
	onOneProcessor(t, func(d *sharedHeap) {
		before := d.allocatedBlocks()
		// p and its pool-mates, another block, p again, then the rest.
		pool, _, faults := freeWithAPoolFreedTwice(t, d, func(pool, others []unsafe.Pointer) []unsafe.Pointer {
			return slices.Concat(pool, others[:1], pool[:1], others[1:])
		})
		require.Len(t, faults, 1)
		assert.Equal(t, spillFault(uintptr(pool[0])), faults[0])
		// Cached blocks count as free: every block is back but for none.
		assert.Equal(t, before, d.allocatedBlocks(), "no block of the spill is lost")
		require.NoError(t, d.check())
	})
}

// When the double free comes before the pool's last blocks, the spill
// finds the pool empty at one of those, a block freed once: the fault
// names it, and its problem must not call it the culprit.
func TestCacheSpillFaultDoesNotBlameTheBlock(t *testing.T) {
	onOneProcessor(t, func(d *sharedHeap) {
		// p, another block, p again, then p's pool-mates and the rest.
		pool, _, faults := freeWithAPoolFreedTwice(t, d, func(pool, others []unsafe.Pointer) []unsafe.Pointer {
			return slices.Concat(pool[:1], others[:1], pool[:1], pool[1:], others[1:])
		})
		require.Len(t, faults, 1)
		innocent := pool[len(pool)-1]
		assert.Equal(t, spillFault(uintptr(innocent)), faults[0])
	})
}

// The spill's fault names the pool as well as the block, says what went
// wrong and how to find the first bad free.
func TestSpillFault(t *testing.T) {
	const pool = 0x40a4c000
	// A block's address, and one inside a block: Free takes any address
	// past a pool's header into the cache, and the fault names it as the
	// program passed it.
	for _, bad := range []uintptr{pool + 0x1230, pool + 0x1234, pool + obmalloc.DefaultPoolSize - 1} {
		f := spillFault(bad)
		assert.Equal(t, "Free", f.Call)
		assert.Equal(t, bad, f.Addr)
		assert.Contains(t, f.Problem, "the pool holding this address (0x40a4c000) had no block in use")
		assert.Contains(t, f.Problem, "was freed twice or never returned by Malloc")
		assert.Contains(t, f.Problem, "run with GOPYMALLOC=debug")
	}
}

// freeWithAPoolFreedTwice allocates six pools' worth of 512-byte blocks
// on d, finds a pool whose 31 blocks are all among them, frees the
// sequence order(pool, others) returns (others: the blocks of other
// pools) one call at a time, and returns the Faults those calls raised.
func freeWithAPoolFreedTwice(t *testing.T, d *sharedHeap, order func(pool, others []unsafe.Pointer) []unsafe.Pointer) (pool, others []unsafe.Pointer, faults []obmalloc.Fault) {
	t.Helper()
	const size = 512 // 31 blocks a pool
	var all []unsafe.Pointer
	byPool := map[uintptr][]unsafe.Pointer{}
	for range 31 * 6 {
		p := d.Malloc(size)
		all = append(all, p)
		pool := uintptr(p) &^ (obmalloc.DefaultPoolSize - 1)
		byPool[pool] = append(byPool[pool], p)
	}
	for _, bs := range byPool {
		if len(bs) == 31 {
			pool = bs
			break
		}
	}
	require.NotNil(t, pool, "a pool of 31 blocks, all ours")
	for _, b := range all {
		if !slices.Contains(pool, b) {
			others = append(others, b)
		}
	}
	for _, b := range order(pool, others) {
		if f, caught := catchAs[obmalloc.Fault](func() { d.Free(b) }); caught {
			faults = append(faults, f)
		}
	}
	return pool, others, faults
}

// switchableArenas and switchableRaw fail every request while fail is set.
type switchableArenas struct {
	fail atomic.Bool
	ArenaAllocator
}

func (f *switchableArenas) Alloc(n uintptr) unsafe.Pointer {
	if f.fail.Load() {
		return nil
	}
	return f.ArenaAllocator.Alloc(n)
}

type switchableRaw struct {
	fail atomic.Bool
	Allocator
}

func (f *switchableRaw) Malloc(n uintptr) unsafe.Pointer {
	if f.fail.Load() {
		return nil
	}
	return f.Allocator.Malloc(n)
}

// When its own shard can map no arena, a small request is served from
// another shard's pools, as CPython's one heap would serve it: Malloc
// returns nil only once no shard has room for the class.
func TestSmallRequestTakesAnotherShardsPools(t *testing.T) {
	arenas := &switchableArenas{ArenaAllocator: GetArenaAllocator()}
	raw := &switchableRaw{Allocator: GetAllocator(DomainRaw)}
	SetArenaAllocator(arenas)
	SetAllocator(DomainRaw, raw)
	defer SetArenaAllocator(arenas.ArenaAllocator)
	defer SetAllocator(DomainRaw, raw.Allocator)
	onOneProcessor(t, func(d *sharedHeap) {
		d.shards[0].mu.Lock() // as if another goroutine held it a moment
		x := d.Malloc(100)    // so shard 1 serves, and maps an arena
		d.shards[0].mu.Unlock()
		d.Free(x)
		perShard := []int{}
		d.each(func(_ int, h *obmalloc.Heap) { perShard = append(perShard, h.Stats().UnusedPools) })
		require.Len(t, perShard, 2)
		require.Positive(t, perShard[1], "shard 1 has empty pools")

		arenas.fail.Store(true)
		raw.fail.Store(true)
		var live []unsafe.Pointer
		for p := d.Malloc(100); p != nil; p = d.Malloc(100) {
			live = append(live, p)
		}
		// A Calloc that misses the cache takes the other path: with shard 0
		// full, a slot freed straight into shard 1's pools serves it.
		i := slices.IndexFunc(live, func(p unsafe.Pointer) bool { return d.owners.owner(uintptr(p)) == 1 })
		require.GreaterOrEqual(t, i, 0)
		d.shards[1].mu.Lock()
		d.shards[1].h.Free(live[i])
		d.shards[1].mu.Unlock()
		z := d.Calloc(1, 100)
		require.NotNil(t, z, "shard 0 is full; shard 1's free slot serves the Calloc")
		assert.Equal(t, 1, d.owners.owner(uintptr(z)))
		live[i] = z
		// Nil only once no shard had a free 112-byte block or an empty
		// pool left (before, shard 0's running out was the end).
		d.each(func(i int, h *obmalloc.Heap) {
			st := h.Stats()
			assert.Zero(t, st.Classes[6].AvailBlocks, "shard %d: free blocks of the class", i)
			assert.Zero(t, st.UnusedPools, "shard %d: empty pools", i)
		})
		assert.Zero(t, d.stats().Classes[6].AvailBlocks, "none cached either")
		assert.Nil(t, d.Calloc(1, 100), "and then none is left")
		arenas.fail.Store(false)
		raw.fail.Store(false)
		for _, p := range live {
			d.Free(p)
		}
		require.NoError(t, d.check())
	})
}

// When its own shard can map no arena but the large allocator still has
// memory, a small request goes to another shard's pools rather than keep
// the large block its shard fell back on, and that large block is freed:
// on the path that refills the processor's cache (Malloc) and on the one
// that does not (Calloc).
func TestSmallRequestPrefersAnotherShardsPoolsToALargeBlock(t *testing.T) {
	arenas := &switchableArenas{ArenaAllocator: GetArenaAllocator()}
	SetArenaAllocator(arenas)
	defer SetArenaAllocator(arenas.ArenaAllocator)
	onOneProcessor(t, func(d *sharedHeap) {
		d.shards[0].mu.Lock() // as if another goroutine held it a moment
		x := d.Malloc(100)    // so shard 1 serves, and maps an arena
		d.shards[0].mu.Unlock()
		require.Equal(t, 1, d.owners.owner(uintptr(x)))

		arenas.fail.Store(true)
		live := []unsafe.Pointer{x}
		// Until no shard has room for the class: then a large block.
		for d.owners.owner(uintptr(live[len(live)-1])) >= 0 {
			p := d.Malloc(100)
			require.NotNil(t, p)
			live = append(live, p)
		}
		inShard1 := func() unsafe.Pointer {
			i := slices.IndexFunc(live, func(p unsafe.Pointer) bool { return d.owners.owner(uintptr(p)) == 1 })
			require.GreaterOrEqual(t, i, 0)
			p := live[i]
			live = slices.Delete(live, i, i+1)
			return p
		}
		for _, tc := range []struct {
			name  string
			alloc func() unsafe.Pointer
		}{
			{"Malloc", func() unsafe.Pointer { return d.Malloc(100) }},
			{"Calloc", func() unsafe.Pointer { return d.Calloc(1, 100) }},
		} {
			name, alloc := tc.name, tc.alloc
			// A slot of shard 1, freed straight into its pools.
			p := inShard1()
			d.shards[1].mu.Lock()
			d.shards[1].h.Free(p)
			d.shards[1].mu.Unlock()
			raw := d.stats().RawAllocatedBlocks
			q := alloc()
			require.NotNil(t, q, name)
			assert.Equal(t, 1, d.owners.owner(uintptr(q)), "%s: served from shard 1's pools", name)
			assert.Equal(t, raw, d.stats().RawAllocatedBlocks, "%s: the large block shard 0 fell back on is freed", name)
			live = append(live, q)
		}
		arenas.fail.Store(false)
		for _, p := range live {
			d.Free(p)
		}
		require.NoError(t, d.check())
	})
}

// A Calloc whose byte count overflows fails, even when what is left of
// the product after the overflow is a small request: the sharded heap
// sorts requests into small and large before any heap sees them.
func TestCallocOverflowWrappingToASmallSize(t *testing.T) {
	if bits.UintSize < 64 {
		t.Skip("the products overflow 64 bits")
	}
	cases := []struct{ nelem, elsize uint64 }{
		{1<<63 + 1, 2},   // 2^64 + 2
		{2, 1<<63 + 8},   // 2^64 + 16
		{1<<62 + 1, 4},   // 2^64 + 4
		{1<<56 + 2, 256}, // 2^64 + 512
	}
	check := func(t *testing.T, d *sharedHeap) {
		for _, c := range cases {
			hi, lo := bits.Mul64(c.nelem, c.elsize)
			require.True(t, hi != 0 && lo >= 1 && lo <= obmalloc.DefaultThreshold, "%d*%d wraps to a small size", c.nelem, c.elsize)
			assert.Nil(t, d.Calloc(uintptr(c.nelem), uintptr(c.elsize)), "Calloc(%d, %d)", c.nelem, c.elsize)
		}
	}
	t.Run("one heap", func(t *testing.T) { check(t, newSharedHeap(2)) })
	t.Run("sharded", func(t *testing.T) { onOneProcessor(t, func(d *sharedHeap) { check(t, d) }) })
}

// When a cache hands back several blocks whose pools have no block in
// use, in the runs of two shards, the fault names the first of them: the
// block the processor cached earliest, the likeliest to be the one freed
// twice.
func TestCacheSpillFaultNamesTheFirstBadBlock(t *testing.T) {
	onOneProcessor(t, func(d *sharedHeap) {
		var bad []uintptr // one block of each shard, in a pool emptied since
		for i := range uint32(2) {
			s := &d.shards[i]
			s.mu.Lock()
			d.ensureHeap(s, i)
			p := s.h.Malloc(512)
			s.h.Free(p)
			s.mu.Unlock()
			require.Equal(t, int(i), d.owners.owner(uintptr(p)))
			bad = append(bad, uintptr(p))
		}
		for _, order := range [][]uintptr{{bad[0], bad[1]}, {bad[1], bad[0]}} {
			assert.PanicsWithValue(t, spillFault(order[0]), func() { d.freeBatch(order) })
		}
		require.NoError(t, d.check())
	})
}
