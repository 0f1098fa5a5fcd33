package obmalloc

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// block is the model's view of one live allocation: where it is, how many
// bytes were asked for, and the byte it was filled with.
type block struct {
	p    unsafe.Pointer
	n    uintptr
	fill byte
}

// model drives a heap with random requests and checks it against what the
// model knows: live blocks never overlap, are aligned, keep their contents
// (through realloc too), and the heap's counts agree.
type model struct {
	t    testing.TB
	h    *Heap
	live []block
	seq  byte
}

func (m *model) malloc(n uintptr, zeroed bool) {
	var p unsafe.Pointer
	if zeroed {
		p = m.h.Calloc(1, n)
	} else {
		p = m.h.Malloc(n)
	}
	require.NotNil(m.t, p, "Malloc(%d)", n)
	require.Zero(m.t, uintptr(p)%m.h.l.alignment, "alignment of %p", p)
	if zeroed {
		requireFilled(m.t, p, n, 0)
	}
	m.seq++
	fill(p, n, m.seq)
	m.live = append(m.live, block{p, n, m.seq})
}

func (m *model) free(i int) {
	b := m.live[i]
	requireFilled(m.t, b.p, b.n, b.fill)
	m.h.Free(b.p)
	m.live[i] = m.live[len(m.live)-1]
	m.live = m.live[:len(m.live)-1]
}

func (m *model) realloc(i int, n uintptr) {
	b := &m.live[i]
	q := m.h.Realloc(b.p, n)
	require.NotNil(m.t, q, "Realloc(%p, %d)", b.p, n)
	requireFilled(m.t, q, min(n, b.n), b.fill)
	fill(q, n, b.fill)
	b.p, b.n = q, n
}

// verify checks the heap's invariants and that no two live blocks share
// an address; with contents, also that every live block still holds its
// fill byte (the proof that no two blocks overlap).
func (m *model) verify(contents bool) {
	require.NoError(m.t, m.h.Check())
	require.Equal(m.t, len(m.live), m.h.AllocatedBlocks())
	spans := make(map[uintptr]bool, len(m.live))
	for _, b := range m.live {
		spans[uintptr(b.p)] = true
	}
	require.Len(m.t, spans, len(m.live), "two live blocks share an address")
	if contents {
		for _, b := range m.live {
			requireFilled(m.t, b.p, b.n, b.fill)
		}
	}
}

func requireFilled(t testing.TB, p unsafe.Pointer, n uintptr, v byte) {
	t.Helper()
	for i, b := range unsafe.Slice((*byte)(p), n) {
		if b != v {
			t.Fatalf("byte %d of block %p (%d bytes) is %#x, want %#x: overwritten by another block?", i, p, n, b, v)
		}
	}
}

// runRandom performs steps random operations with up to maxLive blocks and
// checks everything every few steps, then frees all.
func runRandom(t testing.TB, h *Heap, steps, maxLive int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m := &model{t: t, h: h}
	for i := 0; i < steps; i++ {
		switch op := r.IntN(10); {
		case len(m.live) > 0 && (op < 4 || len(m.live) >= maxLive):
			m.free(r.IntN(len(m.live)))
		case len(m.live) > 0 && op < 6:
			m.realloc(r.IntN(len(m.live)), randomSize(r))
		default:
			m.malloc(randomSize(r), op == 9)
		}
		if i%997 == 0 {
			m.verify(true)
		}
	}
	m.verify(true)
	for len(m.live) > 0 {
		m.free(len(m.live) - 1)
	}
	m.verify(true)
}

// randomSize favours small requests, with some 0-byte and large ones.
func randomSize(r *rand.Rand) uintptr {
	switch x := r.IntN(100); {
	case x < 2:
		return 0
	case x < 6:
		return 513 + uintptr(r.IntN(8000))
	default:
		return 1 + uintptr(r.IntN(512))
	}
}

// FuzzHeap drives random operation sequences decoded from the fuzz input
// against the model, checking every invariant after every step.
func FuzzHeap(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("malloc free realloc calloc, again and again and again"))
	f.Add(make([]byte, 300))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Config{}
		if len(data) > 0 && data[0]&1 == 1 {
			cfg.Policy = ReleaseArenas
		}
		h, err := New(cfg)
		require.NoError(t, err)
		defer h.Close()
		m := &model{t: t, h: h}
		// Long inputs add little but time: the minimizer and the checks
		// after every step grow with them.
		data = data[:min(len(data), 600)]
		for i := 0; i+2 < len(data); i += 3 {
			op, a, b := data[i], data[i+1], data[i+2]
			size := uintptr(a)<<2 | uintptr(b&3) // 0..1023: both sides of 512
			switch {
			case op < 100 || len(m.live) == 0:
				// Several blocks at once, so pools fill and arenas grow.
				for k := 0; k <= int(b>>2)%64; k++ {
					m.malloc(size, op%7 == 0)
				}
			case op < 180:
				m.free(int(a) % len(m.live))
			case op < 220:
				m.realloc(int(a)%len(m.live), size)
			default:
				for len(m.live) > int(a)%8 {
					m.free(len(m.live) - 1)
				}
			}
			// Every block freed or reallocated was checked on the way;
			// the full content check runs every 16 steps.
			m.verify(i%48 == 0)
		}
		m.verify(true)
		for len(m.live) > 0 {
			m.free(len(m.live) - 1)
		}
		m.verify(true)
	})
}
