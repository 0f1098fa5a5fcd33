package obmalloc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// cpythonPools predicts which block CPython 3.11's pymalloc hands out,
// keeping usedpools the way obmalloc.c does: a pool leaves its ring the
// moment it fills and comes back at the front when a block of it is freed.
// One deliberate difference is modelled: a pool taken back from freepools
// is carved afresh, where CPython reuses its free list when it last served
// the same class (allocateFromNewPool says why).
// It is the independent check that Malloc's inlined fast path and the ring
// updates pick the same pool and block as CPython.
type cpythonPools struct {
	l     *layout
	rings [][]uintptr // per class, front first
	pools map[uintptr]*modelPool
}

type modelPool struct {
	class int
	free  []uintptr // LIFO: the top is the next block handed out
	next  uintptr   // offset of the next virgin block
	count int
}

func (m *cpythonPools) full(mp *modelPool) bool {
	return len(mp.free) == 0 && mp.next > m.l.poolSize-m.l.blockSize(mp.class)
}

// malloc returns the address CPython would hand out for class idx, or
// false when its ring is empty and a new pool must be found (which pool
// that is depends on the arenas, checked elsewhere).
func (m *cpythonPools) malloc(idx int) (uintptr, bool) {
	if len(m.rings[idx]) == 0 {
		return 0, false
	}
	base := m.rings[idx][0]
	mp := m.pools[base]
	var bp uintptr
	if n := len(mp.free); n > 0 {
		bp, mp.free = mp.free[n-1], mp.free[:n-1]
	} else {
		bp = base + mp.next
		mp.next += m.l.blockSize(idx)
	}
	mp.count++
	if len(mp.free) == 0 && mp.next <= m.l.poolSize-m.l.blockSize(idx) {
		// pymalloc_pool_extend carves the next block at once.
		mp.free = append(mp.free, base+mp.next)
		mp.next += m.l.blockSize(idx)
	}
	if m.full(mp) {
		m.rings[idx] = m.rings[idx][1:]
	}
	return bp, true
}

// newPool records the block the heap returned from a fresh pool (the ring
// was empty) and says what the block should have been.
func (m *cpythonPools) newPool(idx int, got uintptr) uintptr {
	base := got &^ m.l.poolMask
	size := m.l.blockSize(idx)
	m.pools[base] = &modelPool{class: idx, next: m.l.poolOverhead + 2*size, count: 1, free: []uintptr{base + m.l.poolOverhead + size}}
	m.rings[idx] = slices.Insert(m.rings[idx], 0, base)
	return base + m.l.poolOverhead
}

func (m *cpythonPools) free(p uintptr) {
	base := p &^ m.l.poolMask
	mp := m.pools[base]
	wasFull := m.full(mp)
	mp.free = append(mp.free, p)
	mp.count--
	switch {
	case wasFull:
		m.rings[mp.class] = slices.Insert(m.rings[mp.class], 0, base)
	case mp.count == 0:
		m.rings[mp.class] = slices.DeleteFunc(m.rings[mp.class], func(b uintptr) bool { return b == base })
	}
}

// TestAllocationOrderMatchesCPython replays random churn through a heap
// and through the model of CPython's eager usedpools: every block handed
// out from a used pool is the one CPython would hand out.
func TestAllocationOrderMatchesCPython(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []uintptr
		fifo  bool // free the oldest block, else a random one
	}{
		{"fifo-few-classes", []uintptr{16, 40, 200, 512}, true},
		{"random-few-classes", []uintptr{16, 40, 200, 512}, false},
		{"random-all-classes", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHeap(t, Config{})
			m := &cpythonPools{l: &h.l, rings: make([][]uintptr, h.l.nclasses), pools: map[uintptr]*modelPool{}}
			r := rand.New(rand.NewPCG(3, uint64(len(tc.name))))
			var live []uintptr
			for op := range 200000 {
				if len(live) > 0 && (len(live) > 4000 || r.IntN(2) == 0) {
					i := 0
					if !tc.fifo {
						i = r.IntN(len(live))
					}
					p := live[i]
					live = slices.Delete(live, i, i+1)
					h.Free(ptr(p))
					m.free(p)
				} else {
					n := uintptr(1 + r.IntN(512))
					if tc.sizes != nil {
						n = tc.sizes[r.IntN(len(tc.sizes))]
					}
					idx := h.l.sizeClass(n)
					want, known := m.malloc(idx)
					got := uintptr(h.Malloc(n))
					if !known {
						want = m.newPool(idx, got)
					}
					require.Equal(t, fmt.Sprintf("%#x", want), fmt.Sprintf("%#x", got), "op %d: Malloc(%d)", op, n)
					live = append(live, got)
				}
				if op%5000 == 0 {
					require.NoError(t, h.Check(), "op %d", op)
				}
			}
			require.NoError(t, h.Check())
		})
	}
}
