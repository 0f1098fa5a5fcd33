package pymalloc

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/rawalloc"
	"github.com/gopymalloc/gopymalloc/mmap"
	"github.com/gopymalloc/gopymalloc/obmalloc"
	"github.com/stretchr/testify/require"
)

// Out of memory at every point: a workload runs once to count the maps it
// needs (arenas and the large-block allocator's chunks and big blocks),
// then once for each n up to that count with the n-th map failing. Every
// call must return nil or a usable block, a failed realloc must leave its
// block intact, the heap must pass Check, the heap must serve requests
// again once maps succeed, and once everything is freed nothing may be
// left allocated. It runs on the bare engine and under the debug hooks.

// maps counts map calls of a heap and its large-block allocator and
// fails the one numbered failAt (counted from 1; 0 never fails).
type maps struct {
	calls, failAt int
	// mapped are the large-block allocator's mappings, which it cannot
	// unmap itself (they came from its MapFunc).
	mapped [][2]uintptr
}

func (m *maps) fail() bool {
	m.calls++
	return m.calls == m.failAt
}

func (m *maps) Alloc(size uintptr) unsafe.Pointer {
	if m.fail() {
		return nil
	}
	return obmalloc.MmapArenas{}.Alloc(size)
}

func (m *maps) Free(p unsafe.Pointer, size uintptr) { obmalloc.MmapArenas{}.Free(p, size) }

func (m *maps) mapFn(size uintptr) unsafe.Pointer {
	if m.fail() {
		return nil
	}
	p, err := mmap.Map(size)
	if err != nil {
		return nil
	}
	m.mapped = append(m.mapped, [2]uintptr{uintptr(p), size})
	return p
}

func (m *maps) unmap(t testing.TB) {
	for _, r := range m.mapped {
		require.NoError(t, mmap.Unmap(ptrAt(r[0]), r[1]))
	}
}

// oomAllocators is one heap with both kinds of maps counted, bare or
// under private debug hooks.
type oomAllocators struct {
	obj, raw Allocator
	check    func() error
	live     func() int // blocks allocated, heap and large-block allocator
	close    func()
}

func newOOMAllocators(t testing.TB, m *maps, hooks bool) *oomAllocators {
	if hooks {
		s := newDebugStack(t, m, m.mapFn)
		return &oomAllocators{
			obj: s.doms[DomainObj], raw: s.doms[DomainRaw],
			check: func() error {
				s.st.flush("check")
				if err := s.heap.Check(); err != nil {
					return err
				}
				return s.large.Check()
			},
			live:  func() int { return s.heap.AllocatedBlocks() + s.large.Stats().LiveBlocks },
			close: func() { _ = s.heap.Close() },
		}
	}
	large := rawalloc.NewPrivate(m.mapFn)
	h, err := obmalloc.New(obmalloc.Config{Arenas: m, Large: large})
	require.NoError(t, err)
	return &oomAllocators{
		obj: h, raw: large,
		check: func() error {
			if err := h.Check(); err != nil {
				return err
			}
			return large.Check()
		},
		live:  func() int { return h.AllocatedBlocks() + large.Stats().LiveBlocks },
		close: func() { _ = h.Close() },
	}
}

type oomBlock struct {
	p   unsafe.Pointer
	n   uintptr
	raw bool
	pat byte
}

func (b oomBlock) intact() bool {
	for _, c := range unsafe.Slice((*byte)(b.p), b.n) {
		if c != b.pat {
			return false
		}
	}
	return true
}

func (b oomBlock) fill() {
	for i, s := 0, unsafe.Slice((*byte)(b.p), b.n); i < len(s); i++ {
		s[i] = b.pat
	}
}

// oomWorkload runs a fixed random sequence and returns how many calls
// failed; it leaves the live blocks in *live.
func oomWorkload(t testing.TB, a *oomAllocators, live *[]oomBlock) (fails int) {
	rng := rand.New(rand.NewPCG(5, 5))
	sizes := func() uintptr {
		switch r := rng.IntN(100); {
		case r < 80:
			return uintptr(rng.IntN(513))
		case r < 97:
			return uintptr(513 + rng.IntN(20000))
		default:
			return uintptr(270000 + rng.IntN(100000)) // big blocks: mappings of their own
		}
	}
	for i := range 2500 {
		pick := func() int { return rng.IntN(len(*live)) }
		switch r := rng.IntN(10); {
		case r < 5 || len(*live) == 0:
			raw := rng.IntN(8) == 0
			al := a.obj
			if raw {
				al = a.raw
			}
			n := sizes()
			var p unsafe.Pointer
			if rng.IntN(3) == 0 {
				p = al.Calloc(n, 1)
				if p != nil && !(oomBlock{p: p, n: n}).intact() {
					t.Fatalf("calloc(%d, 1) is not zeroed", n)
				}
			} else {
				p = al.Malloc(n)
			}
			if p == nil {
				fails++
				continue
			}
			b := oomBlock{p, n, raw, byte(i)}
			b.fill()
			*live = append(*live, b)
		case r < 7:
			j := pick()
			b := (*live)[j]
			al := a.obj
			if b.raw {
				al = a.raw
			}
			n := sizes()
			q := al.Realloc(b.p, n)
			if q == nil {
				fails++
				require.True(t, b.intact(), "a failed realloc leaves the block intact")
				continue
			}
			nb := oomBlock{q, n, b.raw, b.pat}
			require.True(t, oomBlock{q, min(n, b.n), b.raw, b.pat}.intact(), "realloc keeps the contents")
			nb.fill()
			(*live)[j] = nb
		default:
			j := pick()
			b := (*live)[j]
			require.True(t, b.intact())
			if b.raw {
				a.raw.Free(b.p)
			} else {
				a.obj.Free(b.p)
			}
			(*live)[j] = (*live)[len(*live)-1]
			*live = (*live)[:len(*live)-1]
		}
	}
	return fails
}

func TestOutOfMemoryAtEveryMap(t *testing.T) {
	for _, hooks := range []bool{false, true} {
		name := map[bool]string{false: "bare", true: "debug hooks"}[hooks]
		t.Run(name, func(t *testing.T) {
			var clean maps
			a := newOOMAllocators(t, &clean, hooks)
			var live []oomBlock
			require.Zero(t, oomWorkload(t, a, &live), "no failure without injection")
			for _, b := range live {
				if b.raw {
					a.raw.Free(b.p)
				} else {
					a.obj.Free(b.p)
				}
			}
			require.NoError(t, a.check())
			a.close()
			clean.unmap(t)
			total := clean.calls
			require.Greater(t, total, 5, "the workload maps arenas, chunks and big blocks")
			t.Logf("the workload needs %d maps", total)

			for n := 1; n <= total; n++ {
				m := maps{failAt: n}
				a := newOOMAllocators(t, &m, hooks)
				var live []oomBlock
				oomWorkload(t, a, &live)
				require.GreaterOrEqual(t, m.calls, n, "map %d was attempted", n)
				require.NoError(t, a.check(), "map %d failed", n)
				// Maps succeed again: the heap serves every kind of request.
				for _, size := range []uintptr{0, 16, 512, 513, 100000, 2 << 20} {
					p := a.obj.Malloc(size)
					require.NotNil(t, p, "after map %d failed: malloc(%d)", n, size)
					live = append(live, oomBlock{p: p, n: 0})
				}
				for _, b := range live {
					require.True(t, b.intact())
					if b.raw {
						a.raw.Free(b.p)
					} else {
						a.obj.Free(b.p)
					}
				}
				require.NoError(t, a.check())
				require.Zero(t, a.live(), "after map %d failed: nothing leaked", n)
				a.close()
				m.unmap(t)
			}
		})
	}
}
