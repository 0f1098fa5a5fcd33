package pymalloc

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/obmalloc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type family struct {
	name    string
	malloc  func(uintptr) unsafe.Pointer
	calloc  func(uintptr, uintptr) unsafe.Pointer
	realloc func(unsafe.Pointer, uintptr) unsafe.Pointer
	free    func(unsafe.Pointer)
	pooled  bool // small requests come from the default heap's pools
}

var families = []family{
	{"PyObject", Malloc, Calloc, Realloc, Free, true},
	{"PyMem", MemMalloc, MemCalloc, MemRealloc, MemFree, true},
	{"PyMem_Raw", RawMalloc, RawCalloc, RawRealloc, RawFree, false},
}

func ownedByHeap(p unsafe.Pointer) bool {
	return defaultHeap.owners.owner(uintptr(p)) >= 0
}

func TestFamiliesEdgeCases(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			for _, n := range []uintptr{0, 1, 16, 512, 513, 100000} {
				p := f.malloc(n)
				require.NotNil(t, p, "malloc(%d)", n)
				assert.Zero(t, uintptr(p)%16)
				assert.Equal(t, f.pooled && n >= 1 && n <= 512, ownedByHeap(p), "malloc(%d) from a pool", n)
				if n > 1 {
					b := unsafe.Slice((*byte)(p), n)
					b[0], b[n-1] = 1, 2
				}
				q := f.realloc(p, n+700)
				require.NotNil(t, q)
				if n > 1 {
					b := unsafe.Slice((*byte)(q), n)
					assert.Equal(t, byte(1), b[0])
					assert.Equal(t, byte(2), b[n-1])
				}
				f.free(q)
			}
			assert.Nil(t, f.calloc(math.MaxInt, 8), "calloc overflow")
			z := f.calloc(10, 10)
			require.NotNil(t, z)
			assert.Equal(t, make([]byte, 100), unsafe.Slice((*byte)(z), 100))
			f.free(z)
			assert.NotPanics(t, func() { f.free(nil) })
			r := f.realloc(nil, 10)
			require.NotNil(t, r)
			f.free(r)
		})
	}
	require.NoError(t, Check())
}

// PyMem_Free on a PyObject_Malloc block is fine without debug hooks: both
// domains are the same heap.
func TestMemAndObjShareTheHeap(t *testing.T) {
	p := Malloc(24)
	assert.NotPanics(t, func() { MemFree(p) })
}

// Free and Realloc of a pointer no domain handed out panic, in every
// domain, with a fault naming the address and a call: under the debug
// hooks the function the program called; without them the allocator's
// method (the package doc, "Debug hooks and misuse", says why). A
// deferred rename in MemFree, MemRealloc, RawFree and RawRealloc would
// name the function, at a cost on every call, so there is none.
func TestForeignPointerFaultsNameTheCall(t *testing.T) {
	var x [32]byte
	foreign := unsafe.Pointer(&x[16])
	cases := []struct {
		name          string
		call          func()
		raw           bool   // a RawFault without the hooks
		plain, hooked string // the Call named without and under the hooks
	}{
		{"Free", func() { Free(foreign) }, false, "Free", "pymalloc.Free"},
		{"Realloc", func() { Realloc(foreign, 8) }, false, "Realloc", "pymalloc.Realloc"},
		{"MemFree", func() { MemFree(foreign) }, false, "Free", "pymalloc.MemFree"},
		{"MemRealloc", func() { MemRealloc(foreign, 8) }, false, "Realloc", "pymalloc.MemRealloc"},
		{"RawFree", func() { RawFree(foreign) }, true, "Free", "pymalloc.RawFree"},
		{"RawRealloc", func() { RawRealloc(foreign, 8) }, true, "Realloc", "pymalloc.RawRealloc"},
	}
	t.Run("without the hooks", func(t *testing.T) {
		for _, tc := range cases {
			var call string
			var addr uintptr
			if tc.raw {
				f, caught := catchAs[RawFault](tc.call)
				require.True(t, caught, "%s panics with a RawFault", tc.name)
				call, addr = f.Call, f.Addr
			} else {
				f, caught := catchAs[obmalloc.Fault](tc.call)
				require.True(t, caught, "%s panics with an obmalloc.Fault", tc.name)
				call, addr = f.Call, f.Addr
			}
			assert.Equal(t, tc.plain, call, tc.name)
			assert.Equal(t, uintptr(foreign), addr, tc.name)
		}
		// The heap's lock was released by the panics.
		p := Malloc(10)
		Free(p)
		require.NoError(t, Check())
	})
	t.Run("under the debug hooks", func(t *testing.T) {
		withDebugHooks(t)
		for _, tc := range cases {
			f := mustFault(t, FaultForeign, tc.call)
			assert.Equal(t, tc.hooked, f.Call, tc.name)
			assert.Equal(t, uintptr(foreign), f.Addr, tc.name)
		}
	})
}

// counting wraps an allocator and counts the calls: a hook in CPython's
// sense.
type counting struct {
	next  Allocator
	calls atomic.Int64
}

func (c *counting) Malloc(n uintptr) unsafe.Pointer { c.calls.Add(1); return c.next.Malloc(n) }
func (c *counting) Calloc(a, b uintptr) unsafe.Pointer {
	c.calls.Add(1)
	return c.next.Calloc(a, b)
}
func (c *counting) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	c.calls.Add(1)
	return c.next.Realloc(p, n)
}
func (c *counting) Free(p unsafe.Pointer) { c.calls.Add(1); c.next.Free(p) }

func TestSetAllocatorHooks(t *testing.T) {
	for _, d := range []Domain{DomainRaw, DomainMem, DomainObj} {
		t.Run(d.String(), func(t *testing.T) {
			prev := GetAllocator(d)
			hook := &counting{next: prev}
			SetAllocator(d, hook)
			defer SetAllocator(d, prev)
			assert.Same(t, hook, GetAllocator(d))
			for _, f := range families {
				f.free(f.malloc(10))
			}
			assert.Equal(t, int64(2), hook.calls.Load())
		})
	}
	// The default heap reaches the RAW domain for large requests, as
	// _PyObject_Malloc calls PyMem_RawMalloc.
	hook := &counting{next: GetAllocator(DomainRaw)}
	SetAllocator(DomainRaw, hook)
	Free(Malloc(1000))
	Free(Malloc(0))
	SetAllocator(DomainRaw, hook.next)
	assert.Equal(t, int64(4), hook.calls.Load())
}

// As CPython's public functions, Malloc and Realloc of every domain refuse
// a size above PY_SSIZE_T_MAX before the domain's allocator hears of it,
// and Realloc does so without looking at its pointer; a calloc overflow
// still reaches the allocator (for the debug hooks' report), which
// returns nil.
func TestSizesAbovePySsizeTMaxNeverReachTheAllocator(t *testing.T) {
	var x [32]byte
	foreign := unsafe.Pointer(&x[16])
	for i, d := range []Domain{DomainObj, DomainMem, DomainRaw} {
		f := families[i]
		t.Run(d.String(), func(t *testing.T) {
			prev := GetAllocator(d)
			hook := &counting{next: prev}
			SetAllocator(d, hook)
			defer SetAllocator(d, prev)
			for _, n := range []uintptr{pySsizeTMax + 1, ^uintptr(0)} {
				assert.Nil(t, f.malloc(n), "malloc(%#x)", n)
				assert.Nil(t, f.realloc(nil, n), "realloc(nil, %#x)", n)
				assert.Nil(t, f.realloc(foreign, n), "realloc(foreign, %#x)", n)
			}
			p := f.malloc(10)
			require.NotNil(t, p)
			assert.Nil(t, f.realloc(p, pySsizeTMax+1))
			f.free(p) // p is intact after the refused realloc
			assert.Equal(t, int64(2), hook.calls.Load(), "only the malloc(10) and its free reach the allocator")
			assert.Nil(t, f.calloc(pySsizeTMax/2+1, 2))
			assert.Equal(t, int64(3), hook.calls.Load(), "a calloc overflow reaches it")
		})
	}
}

func TestBadDomainPanics(t *testing.T) {
	assert.PanicsWithValue(t, "pymalloc: GetAllocator(7): unknown domain (want DomainRaw, DomainMem or DomainObj)", func() { GetAllocator(7) })
	assert.Panics(t, func() { SetAllocator(-1, &counting{}) })
	assert.PanicsWithValue(t, "pymalloc: SetAllocator(OBJ, nil): the allocator must not be nil", func() { SetAllocator(DomainObj, nil) })
	assert.Panics(t, func() { SetArenaAllocator(nil) })
}

// failingArenas refuses every arena: the default heap falls back to the
// RAW domain for small requests; when RAW fails too, Malloc returns nil
// and the heap stays usable.
type failingArenas struct{}

func (failingArenas) Alloc(uintptr) unsafe.Pointer     { return nil }
func (failingArenas) Free(p unsafe.Pointer, n uintptr) { obmalloc.MmapArenas{}.Free(p, n) }

type failingRaw struct{ Allocator }

func (failingRaw) Malloc(uintptr) unsafe.Pointer { return nil }

func TestArenaAllocatorOutOfMemory(t *testing.T) {
	// Fill the current usable pools of class 31 so the next request needs
	// a new pool; with many arenas' worth of requests one surely does.
	prev := GetArenaAllocator()
	SetArenaAllocator(failingArenas{})
	defer SetArenaAllocator(prev)
	before := Stats().ArenasAllocatedTotal
	var ps []unsafe.Pointer
	for i := 0; i < 40000; i++ { // ~20 MiB of 500-byte blocks: more than the mapped arenas hold
		p := Malloc(500)
		require.NotNil(t, p)
		ps = append(ps, p)
	}
	assert.Equal(t, before, Stats().ArenasAllocatedTotal, "no arena was mapped")
	assert.False(t, ownedByHeap(ps[len(ps)-1]), "the last requests fell back to the large allocator")
	rawPrev := GetAllocator(DomainRaw)
	SetAllocator(DomainRaw, failingRaw{rawPrev})
	assert.Nil(t, Malloc(500), "no arena and no raw memory: nil")
	SetAllocator(DomainRaw, rawPrev)
	require.NoError(t, Check())
	for _, p := range ps {
		Free(p)
	}
	require.NoError(t, Check())
}

// Many goroutines through the package-level API (run with -race).
func TestConcurrentUse(t *testing.T) {
	before := AllocatedBlocks()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			type liveBlock struct {
				p unsafe.Pointer
				f family
			}
			var live []liveBlock
			for i := 0; i < 20000; i++ {
				f := families[(g+i)%3]
				n := uintptr((g*7919 + i*104729) % 1100)
				p := f.malloc(n)
				if n > 0 {
					unsafe.Slice((*byte)(p), n)[n-1] = byte(g)
				}
				if i%3 == 0 {
					p = f.realloc(p, n/2)
				}
				if i%2 == 0 {
					f.free(p)
				} else {
					live = append(live, liveBlock{p, f})
				}
				if len(live) > 100 {
					for _, b := range live {
						b.f.free(b.p)
					}
					live = live[:0]
				}
			}
			for _, b := range live {
				b.f.free(b.p)
			}
		}(g)
	}
	wg.Wait()
	require.NoError(t, Check())
	assert.Equal(t, before, AllocatedBlocks())
}
