package obmalloc

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An arena's empty pools are taken lowest address first (takeFreePool),
// whatever order they were emptied in, so that a heap built again after a
// teardown runs through its memory in address order. CPython would take
// the pool emptied last first.
func TestEmptyPoolsAreTakenLowestFirst(t *testing.T) {
	h := newHeap(t, Config{})
	per := int(h.l.classCapacity[31]) // 512-byte blocks per pool
	var pools [6][]unsafe.Pointer
	for i := range pools {
		for range per {
			pools[i] = append(pools[i], h.Malloc(512))
		}
	}
	poolOf := func(p unsafe.Pointer) uintptr { return uintptr(p) &^ h.l.poolMask }
	first := poolOf(pools[0][0])
	for i := range pools {
		require.Equal(t, first+uintptr(i)*h.l.poolSize, poolOf(pools[i][0]), "pool %d carved in address order", i)
	}
	for _, i := range []int{4, 1, 3} {
		for _, p := range pools[i] {
			h.Free(p)
		}
	}
	require.NoError(t, h.Check())
	// Each request below needs a new pool: the class's pools are all full.
	for _, want := range []int{1, 3, 4, 6} {
		p := h.Malloc(512)
		assert.Equal(t, first+uintptr(want)*h.l.poolSize, poolOf(p), "want pool %d", want)
		for range per - 1 {
			h.Malloc(512)
		}
	}
	require.NoError(t, h.Check())
}

// usable_arenas stays sorted, and its nfp2lasta fingers right, while whole
// pools empty in arenas that were full and are then used again: arenas
// join the list from full (one free pool), several arenas hold the same
// number of free pools, and under ReleaseArenas wholly free ones go.
// Check verifies the list and every finger after each step.
func TestUsableArenasWhilePoolsEmptyAcrossArenas(t *testing.T) {
	for _, policy := range []ArenaPolicy{KeepArenas, ReleaseArenas} {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("%v/seed %d", policy, seed), func(t *testing.T) {
				h := newHeap(t, Config{Policy: policy})
				per := int(h.l.classCapacity[31])
				// Three full arenas of 512-byte blocks, and some of a fourth.
				byPool := map[uintptr][]unsafe.Pointer{}
				var order []uintptr // pools in the order they were carved
				for h.narenasCurrentlyAllocated < 4 || len(byPool[order[len(order)-1]]) < per {
					p := h.Malloc(512)
					pool := uintptr(p) &^ h.l.poolMask
					if byPool[pool] == nil {
						order = append(order, pool)
					}
					byPool[pool] = append(byPool[pool], p)
				}
				require.NoError(t, h.Check())
				// The arena of each pool, read now: under ReleaseArenas a
				// pool's header goes with its arena.
				arenaIdx := map[uintptr]uint32{}
				for _, pool := range order {
					arenaIdx[pool] = poolAt(pool).arenaindex
				}

				// First one pool of arena 0, then one of arena 1: both join
				// the list with one free pool. Then the rest, shuffled.
				var rest []uintptr
				var firsts [2]uintptr
				for _, pool := range order {
					if a := arenaIdx[pool]; a < 2 && firsts[a] == 0 {
						firsts[a] = pool
						continue
					}
					rest = append(rest, pool)
				}
				r := rand.New(rand.NewPCG(seed, 7))
				r.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
				emptied := append(firsts[:], rest...)

				refill := func(k int) {
					for range k * per {
						p := h.Malloc(512)
						require.NotNil(t, p)
						pool := uintptr(p) &^ h.l.poolMask
						byPool[pool] = append(byPool[pool], p)
					}
				}
				for i, pool := range emptied {
					for _, p := range byPool[pool] {
						h.Free(p)
					}
					delete(byPool, pool)
					require.NoError(t, h.Check(), "after emptying pool %d (%#x) of arena %d", i, pool, arenaIdx[pool])
					if i%17 == 16 {
						// Use some of the free pools again, then go on emptying.
						refill(3)
						require.NoError(t, h.Check(), "after refilling at step %d", i)
					}
				}
				for pool, ps := range byPool {
					for _, p := range ps {
						h.Free(p)
					}
					delete(byPool, pool)
					require.NoError(t, h.Check())
				}
				refill(100)
				require.NoError(t, h.Check())
			})
		}
	}
}
