package obmalloc

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBlockAndArenas(t *testing.T) {
	h := newHeap(t, Config{})
	a := h.Malloc(10)
	b := h.Malloc(12) // same class, next block
	c := h.Malloc(500)
	large := h.Malloc(4096)

	ia, ok := h.Block(a)
	require.True(t, ok)
	assert.Equal(t, 0, ia.Class)
	assert.Equal(t, uintptr(16), ia.Size)
	assert.Equal(t, 0, ia.IndexInPool)
	assert.Equal(t, uintptr(a)&^(DefaultPoolSize-1), ia.Pool)
	ib, ok := h.Block(b)
	require.True(t, ok)
	assert.Equal(t, 1, ib.IndexInPool)
	assert.Equal(t, ia.Pool, ib.Pool)
	ic, ok := h.Block(c)
	require.True(t, ok)
	assert.Equal(t, 31, ic.Class)
	assert.NotEqual(t, ia.Pool, ic.Pool)
	assert.Equal(t, ia.ArenaBase, ic.ArenaBase)

	for name, p := range map[string]unsafe.Pointer{
		"large": large, "interior": unsafe.Add(a, 8), "header": ptr(ia.Pool),
		"first never carved": unsafe.Add(b, 16), "never carved": unsafe.Add(b, 16*5),
	} {
		_, ok := h.Block(p)
		assert.False(t, ok, name)
	}

	arenas := h.Arenas()
	require.Len(t, arenas, 1)
	ar := arenas[0]
	assert.Equal(t, ia.ArenaBase, ar.Address)
	wantPools := 64
	if ar.Misaligned {
		wantPools = 63
	}
	require.Len(t, ar.Pools, wantPools)
	assert.Equal(t, PoolInfo{Address: ia.Pool, State: PoolUsed, Class: 0, Size: 16, Used: 2, Capacity: 1021}, ar.Pools[0])
	assert.Equal(t, PoolUsed, ar.Pools[1].State)
	assert.Equal(t, 31, ar.Pools[1].Class)
	assert.Equal(t, PoolVirgin, ar.Pools[2].State)
	assert.Equal(t, wantPools-2, ar.FreePools)

	h.Free(c)
	assert.Equal(t, PoolEmpty, h.Arenas()[0].Pools[1].State)
	for i := 0; i < 31; i++ {
		h.Malloc(512)
	}
	assert.Equal(t, PoolFull, h.Arenas()[0].Pools[1].State, "the empty pool was reused for the same class")
	assert.Equal(t, "full", PoolFull.String())
}

func TestLiveClassOf(t *testing.T) {
	h := newHeap(t, Config{})
	p := h.Malloc(500)
	q := h.Malloc(24)
	gone := h.Malloc(200)
	h.Free(gone) // its pool has no other block: empty now
	freed := h.Malloc(24)
	h.Free(freed) // q's pool still has q in use
	pool := uintptr(p) &^ (DefaultPoolSize - 1)
	for _, tc := range []struct {
		name  string
		p     unsafe.Pointer
		class int
		ok    bool
	}{
		{"a block of class 31", p, 31, true},
		{"a block of class 1", q, 1, true},
		{"inside the pool header", ptr(pool + 8), 0, false},
		{"a block of an empty pool", gone, 0, false},
		{"a freed block of a pool with one in use (documented: not told apart)", freed, 1, true},
	} {
		class, ok := LiveClassOf(tc.p)
		assert.Equal(t, tc.ok, ok, tc.name)
		assert.Equal(t, tc.class, class, tc.name)
	}
	// LiveBlockOf also tells a block's start from an address inside it.
	for _, tc := range []struct {
		name      string
		p         unsafe.Pointer
		start, ok bool
	}{
		{"the start of a 512-byte block", p, true, true},
		{"16 bytes into it", unsafe.Add(p, 16), false, true},
		{"the start of a 32-byte block", q, true, true},
		{"16 bytes into it", unsafe.Add(q, 16), false, true},
		{"inside the pool header", ptr(pool + 8), false, false},
	} {
		_, start, ok := LiveBlockOf(tc.p)
		assert.Equal(t, [2]bool{tc.start, tc.ok}, [2]bool{start, ok}, tc.name)
	}
}

// HasRoom: a class with a pool that has a free block, or an arena with an
// empty pool, serves without mapping; a new heap, a request past the
// threshold and a closed heap do not.
func TestHasRoom(t *testing.T) {
	h, err := New(Config{})
	require.NoError(t, err)
	assert.False(t, h.HasRoom(10), "no arena yet")
	p := h.Malloc(10)
	assert.True(t, h.HasRoom(10), "the pool of class 0 has free blocks")
	assert.True(t, h.HasRoom(500), "the arena has empty pools")
	assert.False(t, h.HasRoom(513))
	assert.False(t, h.HasRoom(0))
	h.Free(p)
	require.NoError(t, h.Close())
	assert.False(t, h.HasRoom(10))

	// Every pool of the only arena in use by one class, and no arena to be
	// had: no room for another class, room for the first while a block
	// of it is free.
	h = newHeap(t, Config{Arenas: &failingMaps{k: 1}})
	blocks := []unsafe.Pointer{h.Malloc(512)} // maps the one arena there is
	for h.HasRoom(512) {
		blocks = append(blocks, h.Malloc(512))
	}
	assert.False(t, h.HasRoom(16))
	h.Free(blocks[0])
	assert.True(t, h.HasRoom(512))
	assert.False(t, h.HasRoom(16))
}

// PoolState's String names the four states and, like ArenaPolicy's, says
// PoolState(N) for any other value; it used to index out of range.
func TestPoolStateString(t *testing.T) {
	for _, tc := range []struct {
		s    PoolState
		want string
	}{
		{PoolVirgin, "virgin"},
		{PoolFull, "full"},
		{PoolFull + 1, "PoolState(4)"},
		{-1, "PoolState(-1)"},
	} {
		assert.Equal(t, tc.want, tc.s.String())
	}
}
