package pymalloc

import (
	"math"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

type point struct {
	X, Y  float64
	Tags  [4]uint16
	Valid bool
}

type withString struct {
	ID   int
	Name string
}

type nested struct {
	A [2]struct {
		B int
		C *int
	}
}

func TestNewAndDelete(t *testing.T) {
	p := New[point]()
	require.NotNil(t, p)
	assert.Equal(t, point{}, *p)
	p.X, p.Tags[3] = 1.5, 7
	assert.True(t, ownedByHeap(unsafe.Pointer(p)), "a small value comes from a pool")
	Delete(p)
	Delete[point](nil)
}

func TestMakeSliceAndFree(t *testing.T) {
	s := MakeSlice[uint64](1000)
	require.Len(t, s, 1000)
	assert.Equal(t, 1000, cap(s))
	for i := range s {
		assert.Zero(t, s[i])
		s[i] = uint64(i)
	}
	FreeSlice(s)
	empty := MakeSlice[int32](0)
	assert.NotNil(t, empty)
	FreeSlice(empty)
	FreeSlice[int](nil)
	assert.Nil(t, MakeSlice[[1 << 20]byte](math.MaxInt), "size overflow gives nil")
	assert.PanicsWithValue(t, "pymalloc: MakeSlice[int](-1): negative length", func() { MakeSlice[int](-1) })
}

func TestTypedHelpersRefuseGoPointers(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
		msg  string
	}{
		{"pointer", func() { New[*int]() }, "pymalloc: New[*int]: type *int holds a Go pointer at the value itself (*int)"},
		{"string field", func() { New[withString]() }, "type pymalloc.withString holds a Go pointer at .Name (string)"},
		{"nested", func() { MakeSlice[nested](3) }, "pymalloc: MakeSlice[pymalloc.nested]: type pymalloc.nested holds a Go pointer at .A[0].C (*int)"},
		{"slice", func() { New[[]byte]() }, "holds a Go pointer at the value itself ([]uint8)"},
		{"map", func() { New[map[int]int]() }, "map[int]int"},
		{"interface", func() { New[any]() }, "interface {}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, caught := catchAs[string](tc.f)
			require.True(t, caught, "panics with a string")
			assert.Contains(t, msg, tc.msg)
			assert.Contains(t, msg, "invisible to the Go garbage collector")
		})
	}
}

// A re-sliced slice points inside its block: FreeSlice refuses it, where
// it used to hand the pools an address they took for a block, so that
// later allocations overwrote the live slice (found by a session 6
// audit). The slice as MakeSlice made it, and a resliced-to-length one
// (s[:k], same start), still free.
func TestFreeSliceRefusesAResliceFromInside(t *testing.T) {
	s := MakeSlice[uint64](4) // 32 bytes: a pool block
	require.NotNil(t, s)
	for i := range s {
		s[i] = uint64(i + 1)
	}
	for _, inside := range [][]uint64{s[1:], s[2:2], s[3:]} {
		assert.PanicsWithValue(t, obmalloc.Fault{Call: "FreeSlice[uint64]", Addr: uintptr(unsafe.Pointer(unsafe.SliceData(inside[:cap(inside)]))),
			Problem: "not the start of a block: a slice re-sliced from its start (s[k:]) cannot be freed"},
			func() { FreeSlice(inside) })
	}
	assert.Equal(t, []uint64{1, 2, 3, 4}, s, "the block is untouched")
	FreeSlice(s[:2])
	// A class whose size is not a power of two: 48-byte blocks.
	w := MakeSlice[[3]uint64](2) // 48 bytes
	require.NotNil(t, w)
	assert.Panics(t, func() { FreeSlice(w[1:]) })
	FreeSlice(w)
	require.NoError(t, Check())
}

// A pointer the heap refuses panics with a Fault that names the helper
// and the type the user called, not Free: a Go pointer given to Delete,
// and a slice that append moved to the Go heap given to FreeSlice.
func TestTypedHelpersNameThemselvesInFaults(t *testing.T) {
	s := MakeSlice[uint64](4)
	defer FreeSlice(s)
	grown := append(s, 5) // beyond the capacity: a Go slice
	for _, tc := range []struct {
		name, call, takes string
		free              func()
	}{
		{"Delete of a Go pointer", "Delete[pymalloc.point]", "(Delete takes only a pointer from New, once)",
			func() { Delete(&point{}) }},
		{"FreeSlice of a grown slice", "FreeSlice[uint64]", "append beyond its capacity moves it to the Go heap)",
			func() { FreeSlice(grown) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, caught := catchAs[obmalloc.Fault](tc.free)
			require.True(t, caught, "panics with an obmalloc.Fault")
			assert.Equal(t, tc.call, f.Call)
			assert.Contains(t, f.Problem, "no mapping of it contains the address")
			assert.True(t, strings.HasSuffix(f.Problem, tc.takes), f.Problem)
		})
	}
	require.NoError(t, Check())
}

// A pointer to a field inside a value points inside its block: Delete
// refuses it, as FreeSlice refuses a re-sliced slice. It used to free it,
// and the next New handed out an overlapping, misaligned value (found by
// a newcomer's audit in session 7).
func TestDeleteRefusesAPointerInsideAValue(t *testing.T) {
	keep, p := New[point](), New[point]()
	require.NotNil(t, p)
	p.Y = 42
	assert.PanicsWithValue(t, obmalloc.Fault{Call: "Delete[float64]", Addr: uintptr(unsafe.Pointer(&p.Y)),
		Problem: "not the start of a block: a pointer inside a value (&v.Field) cannot be deleted"},
		func() { Delete(&p.Y) })
	q := New[point]()
	assert.NotEqual(t, uintptr(unsafe.Pointer(&p.Y)), uintptr(unsafe.Pointer(q)), "no overlapping value")
	assert.Equal(t, 42.0, p.Y)
	Delete(q)
	Delete(p)
	Delete(keep)
	require.NoError(t, Check())
}

// ResizeSlice keeps the values, zeroes the growth, and refuses what
// FreeSlice refuses.
func TestResizeSlice(t *testing.T) {
	s := MakeSlice[uint64](4)
	for i := range s {
		s[i] = uint64(i + 1)
	}
	// 800 and 8000 bytes are large blocks; back to 48 and 0 bytes, the
	// block stays large, as CPython's rule wants.
	for _, n := range []int{100, 1000, 3, 0, 6} {
		kept := min(len(s), n)
		s = ResizeSlice(s, n)
		require.NotNil(t, s)
		require.Len(t, s, n)
		require.Equal(t, n, cap(s))
		for i, v := range s {
			if i < kept {
				require.Equal(t, uint64(i+1), v, "n=%d: value %d kept", n, i)
			} else {
				require.Zero(t, v, "n=%d: value %d of the growth", n, i)
			}
		}
		for i := range s {
			s[i] = uint64(i + 1) // the whole slice is writable
		}
	}
	assert.Nil(t, ResizeSlice(s, math.MaxInt), "n*size overflows: nil, and s stays")
	assert.Equal(t, []uint64{1, 2, 3, 4, 5, 6}, s)
	assert.PanicsWithValue(t, "pymalloc: ResizeSlice[uint64](-1): negative length", func() { ResizeSlice(s, -1) })
	for _, bad := range [][]uint64{s[1:], append(s, 7)} { // inside the block; moved to the Go heap
		f, caught := catchAs[obmalloc.Fault](func() { ResizeSlice(bad, 10) })
		require.True(t, caught, "panics with an obmalloc.Fault")
		assert.Equal(t, "ResizeSlice[uint64]", f.Call)
	}
	small := MakeSlice[uint64](4) // a pool block: refused before Realloc
	assert.PanicsWithValue(t, obmalloc.Fault{Call: "ResizeSlice[uint64]", Addr: uintptr(unsafe.Pointer(&small[1])),
		Problem: "not the start of a block: a slice re-sliced from its start (s[k:]) cannot be resized"},
		func() { ResizeSlice(small[1:], 8) })
	FreeSlice(small)
	FreeSlice(s)

	fresh := ResizeSlice[uint32](nil, 5)
	assert.Equal(t, []uint32{0, 0, 0, 0, 0}, fresh, "nil: MakeSlice")
	FreeSlice(fresh)
	require.NoError(t, Check())
}

// Under the debug hooks Realloc fills the growth with 0xCD; ResizeSlice
// still hands out zeroed values.
func TestResizeSliceUnderDebugHooks(t *testing.T) {
	withDebugHooks(t)
	s := MakeSlice[byte](4)
	copy(s, "abcd")
	s = ResizeSlice(s, 40)
	assert.Equal(t, append([]byte("abcd"), make([]byte, 36)...), s)
	FreeSlice(s)
	FlushQuarantine()
}
