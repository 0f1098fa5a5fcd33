package pymalloc

import (
	"fmt"
	"math/bits"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/arenatest"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

func TestArenaOwners(t *testing.T) {
	const mib = 1 << 20
	var o arenaOwners
	o.init()
	// Where mmap places memory: 0x7f00_0000_0000 on 64-bit,
	// 0x7f00_0000 on 32-bit.
	base := uintptr(0x7f00_0000) << (bits.UintSize/2 - 16)
	require.True(t, o.set(base, 2))              // aligned: one whole slot
	require.True(t, o.set(base+mib+0x4000, 5))   // unaligned: the tail of slot 1, the head of slot 2
	require.True(t, o.set(base+2*mib+0x9000, 7)) // starts in slot 2 after a gap
	// Addresses of no arena: the top of the address space, and on 64-bit
	// ownerLimit, where the table stops (a 32-bit address space ends
	// below it).
	beyond := []uintptr{^uintptr(0)}
	if limit := uint64(ownerLimit); limit <= uint64(^uintptr(0)) {
		require.False(t, o.set(uintptr(limit)-mib/2, 1)) // an arena reaching past the table
		require.False(t, o.set(^uintptr(0)&^0xfff, 1))   // far beyond
		beyond = append(beyond, uintptr(limit))
	}
	// inside: p's pool boundary (16 KiB) is inside p's arena; the arena
	// at base+2 MiB+0x9000 is not pool-aligned, and its first boundary is
	// at +0xc000.
	cases := []struct {
		p      uintptr
		want   int
		inside bool
	}{
		{base - 1, -1, false},
		{base, 2, true},
		{base + mib - 1, 2, true},
		{base + mib, -1, false},
		{base + mib + 0x3fff, -1, false},
		{base + mib + 0x4000, 5, true},
		{base + 2*mib - 1, 5, true},
		{base + 2*mib, 5, true},
		{base + 2*mib + 0x3fff, 5, true},
		{base + 2*mib + 0x4000, -1, false},
		{base + 2*mib + 0x8fff, -1, false},
		{base + 2*mib + 0x9000, 7, false},
		{base + 2*mib + 0xbfff, 7, false},
		{base + 2*mib + 0xc000, 7, true},
		{base + 3*mib, 7, true},
		{base + 3*mib + 0x8fff, 7, true},
		{base + 3*mib + 0x9000, -1, false},
		{0, -1, false},
	}
	for _, p := range beyond {
		cases = append(cases, struct {
			p      uintptr
			want   int
			inside bool
		}{p, -1, false})
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, o.owner(tc.p), "owner(%#x)", tc.p)
		assert.Equal(t, tc.inside, o.poolHeaderInside(tc.p), "poolHeaderInside(%#x)", tc.p)
	}
	// Forgetting an arena leaves its neighbours alone, and none of its
	// bytes, in either slot, is taken for pool memory any more: Free
	// would read a pool header there, in memory that may be unmapped or
	// mapped anew for something else.
	require.True(t, o.set(base+mib+0x4000, -1))
	for _, p := range []uintptr{base + mib + 0x4000, base + 2*mib - 1, base + 2*mib, base + 2*mib + 0x3fff} {
		assert.Equal(t, -1, o.owner(p), "owner(%#x)", p)
		assert.False(t, o.poolHeaderInside(p), "poolHeaderInside(%#x)", p)
	}
	assert.Equal(t, 2, o.owner(base+mib-1))
	assert.Equal(t, 7, o.owner(base+2*mib+0x9000))
	assert.True(t, o.poolHeaderInside(base+2*mib+0xc000))
}

// A heap used from one goroutine is never sharded: it is one obmalloc
// heap, as CPython's is, whatever the processors.
func TestSharedHeapStaysWholeForOneGoroutine(t *testing.T) {
	d := newSharedHeap(8)
	var ps []unsafe.Pointer
	for i := range 5000 {
		ps = append(ps, d.Malloc(uintptr(1+i%700)))
	}
	for _, p := range ps[:2500] {
		d.Free(p)
	}
	assert.False(t, d.sharded.Load())
	n := 0
	d.each(func(int, *obmalloc.Heap) { n++ })
	assert.Equal(t, 1, n, "heaps")
	assert.Equal(t, 2500, d.allocatedBlocks())
	require.NoError(t, d.check())
	for _, p := range ps[2500:] {
		d.Free(p)
	}
	assert.Zero(t, d.allocatedBlocks())
}

// Goroutines allocating at once shard the heap; blocks freed by other
// goroutines go back to the shards that own them, and the statistics add
// up over the shards.
func TestSharedHeapShardsUnderContention(t *testing.T) {
	d := newSharedHeap(4)
	d.sharded.Store(true) // as a contended allocation would
	const workers, each = 8, 3000
	blocks := make([][]unsafe.Pointer, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := uintptr(1 + (w*each+i)%600)
				p := d.Malloc(n)
				if p == nil {
					panic(fmt.Sprintf("Malloc(%d) = nil", n))
				}
				b := unsafe.Slice((*byte)(p), n)
				b[0], b[n-1] = byte(w), byte(w)
				blocks[w] = append(blocks[w], p)
			}
		})
	}
	wg.Wait()
	require.NoError(t, d.check())
	s := d.stats()
	assert.Equal(t, workers*each, s.AllocatedBlocks())
	assert.Equal(t, workers*each, d.allocatedBlocks())
	for _, p := range blocks[0] {
		assert.True(t, d.Owns(p), "Owns(%p)", p)
	}
	// Each goroutine frees another's blocks.
	for w := range workers {
		wg.Go(func() {
			for _, p := range blocks[(w+1)%workers] {
				d.Free(p)
			}
		})
	}
	wg.Wait()
	require.NoError(t, d.check())
	assert.Zero(t, d.allocatedBlocks())
	assert.Zero(t, d.stats().BytesInAllocatedBlocks)
}

func TestSharedHeapRoutesForeignPointers(t *testing.T) {
	d := newSharedHeap(4)
	d.sharded.Store(true)
	var x [64]byte
	assert.Panics(t, func() { d.Free(unsafe.Pointer(&x[16])) })
	assert.Panics(t, func() { d.Realloc(unsafe.Pointer(&x[16]), 10) })
	require.NoError(t, d.check(), "the heap is usable after the panics")
	p := d.Malloc(100)
	q := d.Realloc(p, 2000) // to the large allocator
	require.NotNil(t, q)
	d.Free(q)
	assert.Zero(t, d.allocatedBlocks())
}

// Blocks allocated by some goroutines and freed by others, while another
// reads the statistics: the package-level API under -race, across shards.
// The monitor sums the shards one lock at a time; allocations may land in
// any shard and every large block is freed through shard 0, yet a sum read
// that way never falls below the blocks live when the test began: a block
// counted freed in a shard already read was counted allocated before, in a
// shard read now or earlier. (Blocks in the processors' caches count as
// the shards' here; once every goroutine is done, the count less them
// comes back to where it started.)
func TestCrossGoroutineFrees(t *testing.T) {
	heapBlocks := defaultHeap.allocatedBlocks
	shardBlocks := defaultHeap.shardBlocks
	// Not zero: a test that frees a RawMalloc block through Free leaves
	// the heap's count one lower for good, as CPython's
	// raw_allocated_blocks does.
	before := heapBlocks()
	blocks := make(chan unsafe.Pointer, 256)
	stop := make(chan struct{})
	var producers, consumers, monitor sync.WaitGroup
	for g := range 4 {
		producers.Go(func() {
			for i := range 5000 {
				n := uintptr(1 + (g*131+i*17)%700)
				p := Malloc(n)
				if p == nil {
					panic("Malloc returned nil")
				}
				*(*byte)(p) = byte(i)
				blocks <- p
			}
		})
	}
	for range 3 {
		consumers.Go(func() {
			for p := range blocks {
				Free(p)
			}
		})
	}
	monitor.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n := shardBlocks(); n < before {
				panic(fmt.Sprintf("the shards hold %d blocks, fewer than the %d before the test", n, before))
			}
			_ = Stats()
		}
	})
	producers.Wait()
	close(blocks)
	consumers.Wait()
	close(stop)
	monitor.Wait()
	require.NoError(t, Check())
	assert.Equal(t, before, heapBlocks())
}

func TestBlock(t *testing.T) {
	p := Malloc(24)
	defer Free(p)
	if DebugHooksInstalled() {
		_, ok := Block(p)
		assert.False(t, ok, "a hooked block does not start a heap block")
		return
	}
	info, ok := Block(p)
	require.True(t, ok)
	assert.Equal(t, 1, info.Class)
	assert.Equal(t, uintptr(32), info.Size)
	assert.Equal(t, uintptr(p)&^(obmalloc.DefaultPoolSize-1), info.Pool)
	q := Malloc(1000)
	defer Free(q)
	var x [8]byte
	for name, bad := range map[string]unsafe.Pointer{
		"large block": q, "Go variable": unsafe.Pointer(&x), "interior": unsafe.Add(p, 8), "nil": nil,
	} {
		_, ok := Block(bad)
		assert.False(t, ok, name)
	}
}

// Check finds an owners table that does not give a shard every byte of
// its arenas: the first, in the slot where the arena starts, and the
// last, in the next slot (the arena is not aligned to a slot).
func TestCheckFindsAWrongOwnersEntry(t *testing.T) {
	prev := GetArenaAllocator()
	SetArenaAllocator(&arenatest.HeadlessArenas{PoolSize: obmalloc.DefaultPoolSize, HeadBytes: 4096})
	defer SetArenaAllocator(prev)
	for _, tc := range []struct {
		name  string
		at    func(base uintptr) uintptr // the byte whose entry is damaged
		owner uint64                     // the entry's owner field for that byte
	}{
		{"first byte", func(base uintptr) uintptr { return base }, 0xff << 48},
		{"last byte", func(base uintptr) uintptr { return base + obmalloc.DefaultArenaSize - 1 }, 0xff << 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newSharedHeap(1)
			p := d.Malloc(32)
			require.NoError(t, d.check())
			arenas := d.shards[0].h.Arenas()
			require.Len(t, arenas, 1)
			base := arenas[0].Address
			require.NotZero(t, base&ownerSlotMask, "the arena straddles two slots")

			d.ownersMu.Lock()
			e := d.owners.entry(tc.at(base) >> ownerSlotBits)
			w := e.Load()
			e.Store(w &^ tc.owner) // no shard
			d.ownersMu.Unlock()
			err := d.check()
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprintf("owners table: %#x of arena %#x belongs to shard -1, want 0", tc.at(base), base))

			e.Store(w)
			require.NoError(t, d.check())
			d.Free(p)
		})
	}
}
