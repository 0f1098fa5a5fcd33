package pymalloc

import (
	"io"
	"math/bits"
	"testing"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/rawalloc"
	"github.com/gopymalloc/gopymalloc/obmalloc"
	"github.com/stretchr/testify/require"
)

// FuzzDebugHooks drives random heap operations through debug hooks and
// injects every kind of misuse among them; each injected fault must be
// detected, with its kind, and leave the heap as it was. The hooks sit on
// a private stack built like the package-level one (RAW hook over a
// large-block allocator, MEM and OBJ hooks over an obmalloc heap whose
// large requests go to the RAW hook), so the fuzzer runs in isolation.

// debugStack is a private set of hooks over a private heap.
type debugStack struct {
	st    *debugState
	large *rawalloc.Heap
	heap  *obmalloc.Heap
	doms  [3]*debugAllocator
}

func newDebugStack(t testing.TB, arenas obmalloc.ArenaAllocator, mapFn rawalloc.MapFunc) *debugStack {
	s := &debugStack{st: newDebugState(), large: rawalloc.NewPrivate(mapFn)}
	s.doms[DomainRaw] = newDebugAllocator(s.st, DomainRaw, s.large)
	h, err := obmalloc.New(obmalloc.Config{Arenas: arenas, Large: s.doms[DomainRaw]})
	require.NoError(t, err)
	s.heap = h
	s.doms[DomainMem] = newDebugAllocator(s.st, DomainMem, h)
	s.doms[DomainObj] = newDebugAllocator(s.st, DomainObj, h)
	return s
}

// finish checks that nothing is left: every block freed, the quarantine
// given back, both allocators' invariants intact, no block leaked.
func (s *debugStack) finish(t testing.TB) {
	t.Helper()
	s.st.flush("finish")
	require.Empty(t, s.st.blocks, "registry empty")
	require.NoError(t, s.heap.Check())
	require.Zero(t, s.heap.AllocatedBlocks(), "no block leaked from the heap")
	require.NoError(t, s.large.Check())
	require.Zero(t, s.large.Stats().LiveBlocks, "no block leaked from the large-block allocator")
}

// close unmaps what the stack mapped.
func (s *debugStack) close() {
	_ = s.heap.Close()
	_ = s.large.Close()
}

type fblock struct {
	p   unsafe.Pointer
	n   uintptr
	dom Domain
	pat byte
}

var fuzzSizes = []uintptr{0, 1, 9, 16, 24, 100, 488, 500, 512, 513, 700, 3000, 70000}

func fillPattern(b fblock) {
	for i, s := 0, unsafe.Slice(byteAt(b.p, 0), b.n); i < len(s); i++ {
		s[i] = b.pat
	}
}

func samePattern(b fblock, n uintptr) bool {
	for _, c := range unsafe.Slice(byteAt(b.p, 0), min(b.n, n)) {
		if c != b.pat {
			return false
		}
	}
	return true
}

func FuzzDebugHooks(f *testing.F) {
	f.Add([]byte{0, 4, 0, 0, 5, 1, 0, 100, 2, 4, 1, 7, 5, 1, 9, 3, 0, 0})
	f.Add([]byte{0, 40, 7, 0, 40, 0, 8, 0, 1, 0, 9, 0, 6, 0, 2, 3, 0, 0})
	f.Add([]byte{0, 45, 1, 0, 48, 2, 4, 0, 3, 5, 1, 12, 11, 0, 0, 10, 0, 0})
	f.Add([]byte{0, 2, 1, 1, 50, 2, 2, 0, 47, 6, 1, 0, 9, 0, 4, 7, 1, 200})
	f.Add([]byte{0, 48, 2, 0, 49, 0, 5, 0, 8, 5, 1, 16, 7, 1, 240, 8, 0, 1, 3, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 3*200 {
			return
		}
		prevOut := SetFaultOutput(io.Discard)
		prevMode := SetFaultMode(PanicOnFault)
		defer func() { SetFaultOutput(prevOut); SetFaultMode(prevMode) }()
		s := newDebugStack(t, nil, nil)
		defer s.close()
		var live []fblock
		pat := byte(0)
		alloc := func(dom Domain, n uintptr, zero bool) {
			var p unsafe.Pointer
			if zero {
				p = s.doms[dom].Calloc(n, 1)
			} else {
				p = s.doms[dom].Malloc(n)
			}
			require.NotNil(t, p)
			pat++
			b := fblock{p, n, dom, pat}
			fillPattern(b)
			live = append(live, b)
		}
		expect := func(kind FaultKind, f func()) {
			t.Helper()
			flt, caught := catchAs[Fault](f)
			require.True(t, caught, "expected a %v fault", kind)
			require.Equal(t, kind, flt.Kind, "%v\n%s", flt, flt.Report)
		}
		freeAt := func(i int) {
			b := live[i]
			require.True(t, samePattern(b, b.n), "contents intact")
			s.doms[b.dom].Free(b.p)
			live = append(live[:i], live[i+1:]...)
		}
		var goVar [32]byte
		for len(data) >= 3 {
			op, a, c := data[0]%12, int(data[1]), int(data[2])
			data = data[3:]
			size := fuzzSizes[c%len(fuzzSizes)]
			if op >= 2 && op != 10 && op != 11 && len(live) == 0 {
				op = 0 // the rest need a live block
			}
			i := 0
			if len(live) > 0 {
				i = a % len(live)
			}
			switch op {
			case 0, 1:
				alloc(Domain(a%3), size, op == 1)
			case 2: // realloc
				b := live[i]
				require.True(t, samePattern(b, b.n))
				q := s.doms[b.dom].Realloc(b.p, size)
				require.NotNil(t, q)
				nb := fblock{q, size, b.dom, b.pat}
				require.True(t, samePattern(nb, b.n), "realloc kept the contents")
				fillPattern(nb)
				live[i] = nb
			case 3:
				freeAt(i)
			case 4: // write past the end, into the trailing pad
				b := live[i]
				off, k := c%8, 1+c/8%8
				pad := unsafe.Slice(byteAt(b.p, int(b.n)), 8)
				for j := off; j < min(8, off+k); j++ {
					pad[j] = 0x41
				}
				expect(FaultTrailingPad, func() { s.doms[b.dom].Free(b.p) })
				for j := range pad {
					pad[j] = forbiddenByte
				}
			case 5: // write before the start: pad, id byte or size field
				b := live[i]
				off := 1 + c%16
				at := byteAt(b.p, -off)
				old := *at
				*at ^= 0x5a
				kind := map[bool]FaultKind{true: FaultLeadingPad, false: FaultSizeField}[off < 8]
				if off == 8 {
					kind = FaultBadID
				}
				if c&16 != 0 {
					expect(kind, func() { s.doms[b.dom].Realloc(b.p, 10) })
				} else {
					expect(kind, func() { s.doms[b.dom].Free(b.p) })
				}
				*at = old
			case 6: // double free
				b := live[i]
				freeAt(i)
				if c%2 == 1 {
					s.st.flush("t") // the second free comes after the quarantine
				}
				expect(FaultDoubleFree, func() { s.doms[b.dom].Free(b.p) })
			case 7: // interior pointer, into header, data or trailing pad
				b := live[i]
				off := c%int(b.n+23) - 16 // -16..-1 and, below, 1..n+7
				if off >= 0 {
					off++ // never the block itself
				}
				expect(FaultInterior, func() { s.doms[b.dom].Free(unsafe.Add(b.p, off)) })
			case 8: // the wrong domain
				b := live[i]
				other := Domain((int(b.dom) + 1 + c%2) % 3)
				expect(FaultWrongDomain, func() { s.doms[other].Free(b.p) })
			case 9: // write to a freed block, found when it leaves the quarantine
				b := live[i]
				freeAt(i)
				s.st.mu.Lock()
				quarantined := s.st.blocks[uintptr(b.p)] != nil
				s.st.mu.Unlock()
				require.True(t, quarantined)
				*byteAt(b.p, c%int(b.n+24)-16) = 0x41
				expect(FaultWriteAfterFree, func() { s.st.flush("t") })
			case 10:
				// 1<<40 elements on 64-bit, 1<<8 on 32-bit: times 1<<30, more
				// than the address space either way.
				expect(FaultCallocOverflow, func() { s.doms[a%3].Calloc(1<<(bits.UintSize-24)+uintptr(c), 1<<30) })
			case 11:
				expect(FaultForeign, func() { s.doms[a%3].Free(unsafe.Pointer(&goVar[c%32])) })
			}
		}
		for len(live) > 0 {
			freeAt(len(live) - 1)
		}
		s.finish(t)
	})
}
