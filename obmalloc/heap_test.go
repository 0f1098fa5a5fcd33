package obmalloc

import (
	"fmt"
	"math/bits"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/arenatest"
	"github.com/gopymalloc/gopymalloc/internal/rawalloc"
)

// newHeap returns a heap that the test closes when it ends.
func newHeap(t testing.TB, cfg Config) *Heap {
	t.Helper()
	h, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func TestSizeClasses(t *testing.T) {
	h := newHeap(t, Config{})
	for _, tc := range []struct {
		n     uintptr
		class int
		size  uintptr
		ok    bool
	}{
		{0, 0, 0, false}, {1, 0, 16, true}, {16, 0, 16, true}, {17, 1, 32, true},
		{100, 6, 112, true}, {497, 31, 512, true}, {512, 31, 512, true}, {513, 0, 0, false},
	} {
		class, size, ok := h.SizeClass(tc.n)
		assert.Equal(t, tc.ok, ok, "n=%d", tc.n)
		assert.Equal(t, tc.class, class, "n=%d", tc.n)
		assert.Equal(t, tc.size, size, "n=%d", tc.n)
	}
	// Blocks per pool, from the facts file's table.
	for idx, want := range map[int]uint32{0: 1021, 1: 510, 6: 145, 15: 63, 24: 40, 30: 32, 31: 31} {
		assert.Equal(t, want, h.l.classCapacity[idx], "class %d", idx)
	}
}

// TestMallocEdgeCases pins what CPython 3.11 does with 0, 1, 512 and 513
// bytes: only 1..512 come from pools; 0 and 513 are large-allocator blocks
// that still count in AllocatedBlocks, with distinct addresses.
func TestMallocEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		n      uintptr
		inPool bool
	}{{0, false}, {1, true}, {512, true}, {513, false}, {1 << 20, false}} {
		h := newHeap(t, Config{})
		seen := map[uintptr]bool{}
		ps := make([]unsafe.Pointer, 1000)
		for i := range ps {
			ps[i] = h.Malloc(tc.n)
			require.NotNil(t, ps[i], "Malloc(%d)", tc.n)
			assert.Equal(t, tc.inPool, h.Owns(ps[i]), "Malloc(%d) in an arena", tc.n)
			assert.Zero(t, uintptr(ps[i])%16, "Malloc(%d) alignment", tc.n)
			seen[uintptr(ps[i])] = true
		}
		assert.Len(t, seen, 1000, "Malloc(%d) addresses distinct", tc.n)
		assert.Equal(t, 1000, h.AllocatedBlocks(), "Malloc(%d)", tc.n)
		require.NoError(t, h.Check())
		for _, p := range ps {
			h.Free(p)
		}
		assert.Equal(t, 0, h.AllocatedBlocks())
		require.NoError(t, h.Check())
	}
}

// A pool whose blocks fill it to its last byte (PoolSize - POOL_OVERHEAD
// is a multiple of the block size) hands out that last block too: the
// pool is full once nextoffset passes maxnextoffset, not when it reaches
// it. Were it taken for full one block early, it would leave its ring with
// a block to spare and, being "full" with a free block, not come back to
// the ring when blocks are freed.
func TestPoolFilledToItsLastByte(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		n    uintptr // a block size that divides PoolSize - POOL_OVERHEAD
	}{
		{"16-byte blocks", Config{}, 16},
		{"8-byte blocks, 8-byte alignment", Config{Alignment: 8}, 8},
		{"16-byte blocks, 8-byte alignment", Config{Alignment: 8}, 16},
		{"176-byte blocks in 4 KiB pools", Config{PoolSize: 4 << 10}, 176},
		{"368-byte blocks in 4 KiB pools", Config{PoolSize: 4 << 10}, 368},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHeap(t, tc.cfg)
			class, size, ok := h.SizeClass(tc.n)
			require.True(t, ok)
			require.Equal(t, tc.n, size)
			require.Zero(t, (h.l.poolSize-h.l.poolOverhead)%size, "the blocks tile the pool")
			blocks := make([]unsafe.Pointer, h.l.classCapacity[class])
			for i := range blocks {
				blocks[i] = h.Malloc(tc.n)
				require.NotNil(t, blocks[i])
			}
			pool := uintptr(blocks[0]) &^ h.l.poolMask
			for i, p := range blocks {
				require.Equal(t, pool+h.l.poolOverhead+uintptr(i)*size, uintptr(p), "block %d of the pool", i)
			}
			assert.Equal(t, pool+h.l.poolSize-size, uintptr(blocks[len(blocks)-1]), "the last block ends with the pool")
			assert.Equal(t, ClassStats{Class: class, Size: size, Pools: 1, BlocksInUse: len(blocks)}, h.Stats().Classes[class])
			require.NoError(t, h.Check())

			next := h.Malloc(tc.n)
			assert.NotEqual(t, pool, uintptr(next)&^h.l.poolMask, "a full pool serves no more")
			// A block freed from the full pool puts it back at the front of
			// its ring: it is the next one handed out.
			h.Free(blocks[3])
			require.NoError(t, h.Check())
			assert.Equal(t, blocks[3], h.Malloc(tc.n))
			for _, p := range append(blocks, next) {
				h.Free(p)
			}
			require.NoError(t, h.Check())
			assert.Zero(t, h.AllocatedBlocks())
		})
	}
}

// TestRealloc reproduces the table measured with CPython 3.11.7 (facts
// file §8): a pool block stays iff n <= size && 4n > 3*size.
func TestRealloc(t *testing.T) {
	for _, tc := range []struct {
		old, new uintptr
		same     bool
	}{
		{100, 112, true}, {100, 90, true}, {112, 85, true}, {112, 84, false}, {112, 83, false},
		{512, 385, true}, {512, 384, false}, {512, 383, false}, {512, 513, false},
		{16, 0, false}, {48, 12, false}, {48, 13, false}, {16, 16, true}, {1, 17, false},
	} {
		h := newHeap(t, Config{})
		p := h.Malloc(tc.old)
		fill(p, tc.old, 0x5a)
		q := h.Realloc(p, tc.new)
		require.NotNil(t, q)
		assert.Equal(t, tc.same, p == q, "realloc %d -> %d", tc.old, tc.new)
		assertFilled(t, q, min(tc.old, tc.new), 0x5a)
		assert.Equal(t, tc.new > 0 && tc.new <= 512, h.Owns(q), "realloc %d -> %d in an arena", tc.old, tc.new)
		assert.Equal(t, 1, h.AllocatedBlocks())
		h.Free(q)
		require.NoError(t, h.Check())
	}
}

// A block of the large allocator stays there when reallocated small.
func TestReallocLargeStaysLarge(t *testing.T) {
	h := newHeap(t, Config{})
	p := h.Malloc(1000)
	fill(p, 1000, 7)
	q := h.Realloc(p, 10)
	require.NotNil(t, q)
	assert.False(t, h.Owns(q))
	assertFilled(t, q, 10, 7)
	r := h.Realloc(nil, 10) // realloc(NULL, n) is malloc(n)
	assert.True(t, h.Owns(r))
	assert.Equal(t, 2, h.AllocatedBlocks())
	h.Free(q)
	h.Free(r)
	assert.Equal(t, 0, h.AllocatedBlocks())
}

func TestCalloc(t *testing.T) {
	h := newHeap(t, Config{})
	// Dirty a block, free it, and get it back through Calloc: zeroed.
	p := h.Malloc(64)
	fill(p, 64, 0xff)
	h.Free(p)
	q := h.Calloc(4, 16)
	require.Equal(t, p, q, "calloc reuses the block just freed")
	assertFilled(t, q, 64, 0)
	h.Free(q)
	for _, tc := range []struct {
		nelem, elsize uintptr
		nilResult     bool
	}{
		{1 << (bits.UintSize - 2), 8, true}, // overflows PY_SSIZE_T_MAX, as measured in CPython
		{1 << (bits.UintSize - 1), 2, true}, {^uintptr(0), ^uintptr(0), true},
		{0, 0, false}, {0, 100, false}, {3, 300, false},
	} {
		r := h.Calloc(tc.nelem, tc.elsize)
		assert.Equal(t, tc.nilResult, r == nil, "Calloc(%d, %d)", tc.nelem, tc.elsize)
		h.Free(r)
	}
	assert.Nil(t, h.Malloc(1<<(bits.UintSize-1)), "Malloc above PY_SSIZE_T_MAX")
	assert.Nil(t, h.Realloc(nil, 1<<(bits.UintSize-1)), "Realloc above PY_SSIZE_T_MAX")
	assert.Equal(t, 0, h.AllocatedBlocks())
	require.NoError(t, h.Check())
}

func TestFreeNil(t *testing.T) {
	h := newHeap(t, Config{})
	assert.NotPanics(t, func() { h.Free(nil) })
}

func TestOwnsForeignPointers(t *testing.T) {
	h := newHeap(t, Config{})
	p := h.Malloc(8)
	require.True(t, h.Owns(p))
	goHeap := new([64]byte)
	var onStack int
	other := newHeap(t, Config{})
	q := other.Malloc(8)
	foreign := map[string]unsafe.Pointer{
		"go heap": unsafe.Pointer(goHeap), "stack": unsafe.Pointer(&onStack),
		"other heap": q, "large block": h.Malloc(4096), "nil": nil,
	}
	if bits.UintSize == 64 {
		past := uint64(1) << 47 // a variable: the constant overflows a 32-bit uintptr
		foreign["one page past the arena map"] = unsafe.Add(nil, uintptr(past))
	}
	for name, fp := range foreign {
		assert.False(t, h.Owns(fp), name)
	}
	assert.True(t, other.Owns(q))
}

// Misuse without the debug hooks is reported, never absorbed.
func TestFreeMisusePanics(t *testing.T) {
	h := newHeap(t, Config{})
	p := h.Malloc(24)
	h.Free(p)
	assertPanicsContaining(t, "Free(0x", "double free", func() { h.Free(p) })
	q := h.Malloc(24)
	pool := uintptr(q) &^ (DefaultPoolSize - 1)
	assertPanicsContaining(t, "Free(0x", "inside the pool's header", func() { h.Free(unsafe.Add(nil, pool+8)) })
	var onStack [16]byte
	assertPanicsContaining(t, "Free(0x", "in no arena of the heap, and not a block of the large-block allocator",
		func() { h.Free(unsafe.Pointer(&onStack)) })
	assertPanicsContaining(t, "Realloc(0x", "", func() { h.Realloc(unsafe.Pointer(&onStack), 10) })
	h.Free(q)
	require.NoError(t, h.Check())
}

// A double free that leaves the pool's count above 0 goes unnoticed, as
// in CPython; the next free of the pool, valid, finds the count at 0. Its
// Fault names that pointer, so the problem must not call it the culprit.
func TestEmptyPoolFaultDoesNotBlameThePointer(t *testing.T) {
	h := newHeap(t, Config{})
	q, p := h.Malloc(24), h.Malloc(24)
	require.Equal(t, uintptr(q)&^(DefaultPoolSize-1), uintptr(p)&^(DefaultPoolSize-1), "one pool")
	pool := uintptr(q) &^ (DefaultPoolSize - 1)
	h.Free(p)
	h.Free(p) // the bad free: silent
	want := Fault{Call: "Free", Addr: uintptr(q), Problem: fmt.Sprintf("the pool holding this address (%#x) has no block in use: "+
		"this pointer, or an earlier free of another block of the same pool, was a double free or a pointer never returned by Malloc; "+
		"debug hooks that check every free find the first bad one (for pymalloc's heap, run with GOPYMALLOC=debug)", pool)}
	assert.PanicsWithValue(t, want, func() { h.Free(q) })
	want.Call = "Realloc"
	assert.PanicsWithValue(t, want, func() { h.Realloc(q, 100) })
}

func TestClosedHeapPanics(t *testing.T) {
	h, err := New(Config{})
	require.NoError(t, err)
	p := h.Malloc(10)
	require.NoError(t, h.Close())
	assert.Error(t, h.Close())
	assert.Error(t, h.Check())
	assertPanicsContaining(t, "Malloc(0xa)", "closed", func() { h.Malloc(10) })
	assertPanicsContaining(t, "Free(", "closed", func() { h.Free(p) })
	assertPanicsContaining(t, "Calloc(", "closed", func() { h.Calloc(1, 1) })
	assertPanicsContaining(t, "Realloc(0x0)", "closed", func() { h.Realloc(nil, 10) })
}

func assertPanicsContaining(t *testing.T, a, b string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		require.NotNil(t, r, "expected a panic mentioning %q", a)
		f, ok := r.(Fault)
		require.True(t, ok, "the panic value %#v is not an obmalloc.Fault", r)
		msg := f.Error()
		assert.True(t, strings.HasPrefix(msg, "obmalloc: "), msg)
		assert.Contains(t, msg, a)
		assert.True(t, strings.Contains(msg, b), "panic %q should mention %q", msg, b)
	}()
	f()
}

func fill(p unsafe.Pointer, n uintptr, v byte) {
	for i := range unsafe.Slice((*byte)(p), n) {
		unsafe.Slice((*byte)(p), n)[i] = v
	}
}

func assertFilled(t *testing.T, p unsafe.Pointer, n uintptr, v byte) {
	t.Helper()
	for i, b := range unsafe.Slice((*byte)(p), n) {
		if b != v {
			t.Fatalf("byte %d of %p is %#x, want %#x", i, p, b, v)
		}
	}
}

// An address in the partial pool before the first pool boundary of an
// arena that is not pool-aligned is refused without reading the would-be
// pool header, which lies before the arena (unmapped here: a read would
// fault).
func TestFreeInTheHeadOfAMisalignedArena(t *testing.T) {
	arenas := &arenatest.HeadlessArenas{PoolSize: DefaultPoolSize, HeadBytes: 4096}
	h := newHeap(t, Config{Arenas: arenas})
	p := h.Malloc(64)
	info, ok := h.Block(p)
	require.True(t, ok)
	require.NotZero(t, info.ArenaBase%DefaultPoolSize, "the arena is misaligned")
	for _, call := range []string{"Free", "Realloc"} {
		bad := info.ArenaBase + 64
		want := Fault{Call: call, Addr: bad, Problem: "the address is in the partial pool before the arena's first pool boundary, where no block lies"}
		assert.PanicsWithValue(t, want, func() {
			if call == "Free" {
				h.Free(ptr(bad))
			} else {
				h.Realloc(ptr(bad), 10)
			}
		})
	}
	assert.True(t, h.Owns(ptr(info.ArenaBase+64)), "the arena's whole range is its own, as address_in_range says")
	h.Free(p)
	require.NoError(t, h.Check())
}

// A corrupt free list of the large allocator is its own fault, whichever
// call meets it: the large allocator's Fault, with the free block's
// address, passes through Realloc unchanged, where it used to become an
// obmalloc.Fault saying that Realloc's (valid) pointer was in no arena.
func TestLargeFreeListFaultPassesThrough(t *testing.T) {
	h := newHeap(t, Config{})
	p := h.Malloc(5000)
	h.Free(p)
	state := (*uint64)(unsafe.Add(p, -8)) // the large block's header: capacity, state
	*state ^= 1 << 60
	q := h.Malloc(1000)
	for _, call := range []func(){
		func() { h.Malloc(5000) },
		func() { h.Realloc(q, 5000) },
	} {
		r := func() (r any) {
			defer func() { r = recover() }()
			call()
			return nil
		}()
		f, ok := r.(rawalloc.Fault)
		require.True(t, ok, "%T %v", r, r)
		assert.Equal(t, uintptr(p), f.Addr)
		assert.True(t, f.FreeList())
	}
	*state ^= 1 << 60
	h.Free(q)
	require.NoError(t, h.Check())
}

// When the arenas vector grows, every arena is full, and the links full
// arenas kept from their last list point into the old vector: the copy
// must not keep them, or each old vector stays reachable (found by a
// CPython developer's review in session 7).
func TestArenaVectorGrowthLeavesNoStaleLinks(t *testing.T) {
	h := newHeap(t, Config{})
	var ps []unsafe.Pointer
	for h.narenasCurrentlyAllocated < initialArenaObjects || h.usableArenas != nil {
		ps = append(ps, h.Malloc(512))
	}
	// Empty a pool in three arenas, so that they go back on the lists,
	// and fill them again: their links are left behind.
	per := len(ps) / initialArenaObjects
	for a := range 3 {
		for _, p := range ps[a*per+50 : a*per+50+62] {
			h.Free(p)
		}
	}
	for len(h.arenas) == initialArenaObjects {
		require.NotNil(t, h.Malloc(512))
	}
	lo := uintptr(unsafe.Pointer(&h.arenas[0]))
	hi := lo + uintptr(len(h.arenas))*unsafe.Sizeof(h.arenas[0])
	for i := range h.arenas {
		for _, q := range []*arenaObject{h.arenas[i].nextarena, h.arenas[i].prevarena} {
			if q != nil {
				a := uintptr(unsafe.Pointer(q))
				assert.True(t, a >= lo && a < hi, "arena %d links outside the vector", i)
			}
		}
	}
	require.NoError(t, h.Check())
}
