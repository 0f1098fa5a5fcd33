package obmalloc

import (
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHugePageArenasCarveAlignedArenas(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  uintptr
		chunk uintptr
	}{
		{"3.9 layout", 256 << 10, 0},
		{"3.11 layout", 1 << 20, 0},
		{"larger than a huge page", 4 << 20, 0},
		{"larger than the chunk", 8 << 20, 2 << 20},
		{"several reservations", 1 << 20, 2 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &HugePageArenas{ChunkSize: tc.chunk}
			align := min(tc.size, hugePageBytes)
			var got []uintptr
			for range 5 {
				p := a.Alloc(tc.size)
				require.NotNil(t, p)
				addr := uintptr(p)
				assert.Zero(t, addr%align, "arena %#x not aligned to %d", addr, align)
				b := unsafe.Slice((*byte)(p), tc.size)
				assert.Equal(t, byte(0), b[0])
				assert.Equal(t, byte(0), b[tc.size-1])
				b[0], b[tc.size-1] = 1, 1
				for _, q := range got {
					assert.True(t, addr+tc.size <= q || q+tc.size <= addr, "arenas %#x and %#x overlap", addr, q)
				}
				got = append(got, addr)
			}
			assert.GreaterOrEqual(t, a.Reserved(), 5*tc.size)
			ok, err := a.Advised()
			assert.Equal(t, ok, err == nil, "Advised: %v, %v", ok, err)
		})
	}
}

func TestHugePageArenasReuseFreedArenasZeroed(t *testing.T) {
	a := &HugePageArenas{}
	const size = 1 << 20
	p := a.Alloc(size)
	require.NotNil(t, p)
	q := a.Alloc(size)
	require.NotNil(t, q)
	b := unsafe.Slice((*byte)(p), size)
	b[0], b[size/2], b[size-1] = 1, 2, 3
	reserved := a.Reserved()

	a.Free(p, size)
	again := a.Alloc(size)
	assert.Equal(t, p, again, "a freed arena is handed out again")
	assert.Equal(t, reserved, a.Reserved(), "reuse maps nothing")
	assert.Equal(t, []byte{0, 0, 0}, []byte{b[0], b[size/2], b[size-1]}, "a reused arena is zeroed")

	// Another size does not take that slot.
	a.Free(again, size)
	other := a.Alloc(size / 4)
	assert.NotEqual(t, p, other)
}

// TestHugePageArenasKeepTheSizeClassRows runs the same random sequence on
// a heap over MmapArenas and one over HugePageArenas, under both arena
// policies: the class rows (what the fidelity tests compare with CPython)
// must be the same, while the arena-alignment loss can only shrink, since
// every arena of the second heap starts on a pool boundary.
func TestHugePageArenasKeepTheSizeClassRows(t *testing.T) {
	for _, policy := range []ArenaPolicy{KeepArenas, ReleaseArenas} {
		t.Run(policy.String(), func(t *testing.T) {
			plain := newHeap(t, Config{Policy: policy})
			huge := newHeap(t, Config{Policy: policy, Arenas: &HugePageArenas{}})
			rng := rand.New(rand.NewPCG(3, uint64(policy)))
			var live [2][]unsafe.Pointer
			for step := range 60000 {
				if n := len(live[0]); n > 0 && (rng.IntN(3) == 0 || n > 20000) {
					i := rng.IntN(n)
					for k, h := range []*Heap{plain, huge} {
						h.Free(live[k][i])
						live[k][i] = live[k][n-1]
						live[k] = live[k][:n-1]
					}
				} else {
					size := 1 + uintptr(rng.IntN(512))
					for k, h := range []*Heap{plain, huge} {
						p := h.Malloc(size)
						require.NotNil(t, p)
						live[k] = append(live[k], p)
					}
				}
				if step%10000 == 0 {
					require.NoError(t, huge.Check())
					ps, hs := plain.Stats(), huge.Stats()
					require.Equal(t, ps.Classes, hs.Classes, "step %d", step)
					assert.Zero(t, hs.BytesLostToArenaAlignment)
					assert.LessOrEqual(t, hs.ArenasCurrent, ps.ArenasCurrent)
				}
			}
			for k, h := range []*Heap{plain, huge} {
				for _, p := range live[k] {
					h.Free(p)
				}
				require.NoError(t, h.Check())
			}
		})
	}
}

func TestHugePageArenasOutOfMemory(t *testing.T) {
	// A reservation no system can map: Alloc returns nil, and the heap
	// falls back to its large allocator as for any arena failure.
	a := &HugePageArenas{ChunkSize: 1 << 62}
	assert.Nil(t, a.Alloc(1<<20))
	h := newHeap(t, Config{Arenas: a})
	p := h.Malloc(64)
	require.NotNil(t, p)
	assert.False(t, h.Owns(p))
	h.Free(p)
	require.NoError(t, h.Check())
}

// TestHugePageArenasShared has several goroutines, each with a heap of its
// own, map and free arenas through one HugePageArenas (run with -race).
func TestHugePageArenasShared(t *testing.T) {
	a := &HugePageArenas{ChunkSize: 4 << 20}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			h, err := New(Config{Policy: ReleaseArenas, Arenas: a})
			if !assert.NoError(t, err) {
				return
			}
			defer func() { assert.NoError(t, h.Close()) }()
			for round := range 3 {
				ps := make([]unsafe.Pointer, 0, 6000)
				for i := range cap(ps) {
					p := h.Malloc(uintptr(256 + (i+g+round)%257))
					if !assert.NotNil(t, p) {
						return
					}
					*(*byte)(p) = byte(g)
					ps = append(ps, p)
				}
				for _, p := range ps {
					assert.Equal(t, byte(g), *(*byte)(p))
					h.Free(p)
				}
				assert.NoError(t, h.Check())
			}
		})
	}
	wg.Wait()
}
