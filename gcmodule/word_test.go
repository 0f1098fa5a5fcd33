package gcmodule

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/bits"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// TestRefcountBeyondGCRefs: a collection copies each count into gc_refs,
// which has the bits of _gc_prev above its two flags: 30 on a 32-bit
// system, where a program can Incref an object 2^30 times in seconds. A
// count too large for them must still leave the object reachable, and
// the cycle it is in intact.
func TestRefcountBeyondGCRefs(t *testing.T) {
	for _, rc := range []int64{maxGCRefs, maxGCRefs + 1, math.MaxInt64} {
		e := newEnv(t)
		a := e.list()
		b := e.list(a)
		e.append(a, b)
		e.drop(b)
		hdr(a).refcnt = rc // the test's reference and b's, and many more
		require.Equal(t, 0, e.c.Collect(2), "count %d", rc)
		require.Equal(t, b, e.c.ListGetItem(a, 0))
		require.Equal(t, a, e.c.ListGetItem(b, 0))
		hdr(a).refcnt = 2
		e.drop(a)
		require.Equal(t, 2, e.c.Collect(2))
	}
}

// TestResetRefsCap: update_refs copies the count into gc_refs, capped at
// the largest value _gc_prev holds above its two flags, 2^62-1 on a 64-bit
// system and 2^30-1 on a 32-bit one, and keeps FINALIZED. A count below
// the cap is copied as it is; one at or beyond it is the cap, never a
// value that lost its high bits (1<<30 shifted into a 32-bit word is 0,
// which would make the object look unreachable).
func TestResetRefsCap(t *testing.T) {
	limit := int64(1)<<62 - 1
	if ptrSize == 4 {
		limit = 1<<30 - 1
	}
	e := newEnv(t)
	a := e.list()
	g := asGC(a)
	saved := word(g + ptrSize)
	for _, rc := range []int64{1, 2, 1<<30 - 2, 1<<30 - 1, 1 << 30, 1 << 31, 1<<62 - 2, 1<<62 - 1, 1 << 62, math.MaxInt64} {
		for _, finalized := range []uintptr{0, prevFinalized} {
			setWord(g+ptrSize, saved&^prevFinalized|finalized)
			hdr(a).refcnt = rc
			p := resetRefs(a, g, hdr(a))
			require.Equal(t, word(g+ptrSize), p, "the word written is the one returned")
			require.Equal(t, uintptr(min(rc, limit)), p>>prevShift, "gc_refs of a count of %d", rc)
			require.Equal(t, prevCollecting|finalized, p&^prevMask, "flags for a count of %d", rc)
		}
	}
	setWord(g+ptrSize, saved)
	hdr(a).refcnt = 1
	e.drop(a)
}

// TestLayoutSizes pins the sizes docs/gc.md gives for each word size:
// what pointers hold follows the word, the header stays 16 bytes.
func TestLayoutSizes(t *testing.T) {
	obj := func(body uintptr) uintptr { return gcHeadSize + hdrSize + body }
	for _, tc := range []struct {
		name           string
		got            uintptr
		want64, want32 uintptr
	}{
		{"GC head (PyGC_Head)", gcHeadSize, 16, 8},
		{"object header", hdrSize, 16, 16},
		{"int (no GC head)", hdrSize + 8, 24, 24},
		{"empty list", obj(listBodySize), 64, 40},
		{"empty dict", obj(dictBodySize), 40, 28},
		{"weakref", obj(weakrefBodySize), 64, 40},
		{"instance", obj(instBodySize), 56, 36},
		{"tuple of 2", obj(ptrSize * 3), 56, 36},
		{"dict table head", tableHeadSize, 40, 20},
		{"dict entry (PyDictKeyEntry)", entrySize, 24, 12},
		{"dict table of 8 slots", indicesStart(0, minLog2Size) + 8*4, 192, 112},
	} {
		want := tc.want64
		if ptrSize == 4 {
			want = tc.want32
		}
		require.Equal(t, want, tc.got, tc.name)
	}
}

// requestLog is an allocator that passes every call to the one it wraps
// and logs the size each Malloc, Calloc and Realloc asked for, in order
// and by the address returned.
type requestLog struct {
	pymalloc.Allocator
	sizes []uintptr
	at    map[uintptr]uintptr
}

func (r *requestLog) log(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	r.sizes = append(r.sizes, n)
	r.at[uintptr(p)] = n
	return p
}

func (r *requestLog) Malloc(n uintptr) unsafe.Pointer { return r.log(r.Allocator.Malloc(n), n) }

func (r *requestLog) Calloc(nelem, size uintptr) unsafe.Pointer {
	return r.log(r.Allocator.Calloc(nelem, size), nelem*size)
}

func (r *requestLog) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	return r.log(r.Allocator.Realloc(p, n), n)
}

// logRequests runs f with the OBJ and MEM domains' requests logged.
func logRequests(f func()) (obj, mem *requestLog) {
	obj = &requestLog{Allocator: pymalloc.GetAllocator(pymalloc.DomainObj), at: map[uintptr]uintptr{}}
	mem = &requestLog{Allocator: pymalloc.GetAllocator(pymalloc.DomainMem), at: map[uintptr]uintptr{}}
	pymalloc.SetAllocator(pymalloc.DomainObj, obj)
	pymalloc.SetAllocator(pymalloc.DomainMem, mem)
	defer func() {
		pymalloc.SetAllocator(pymalloc.DomainObj, obj.Allocator)
		pymalloc.SetAllocator(pymalloc.DomainMem, mem.Allocator)
	}()
	f()
	return obj, mem
}

// TestRequestSizes: what each kind of object asks the OBJ and MEM domains
// for, on each word size (TestLayoutSizes has the layouts' constants;
// this has the requests made with them). Every word of an object, its
// item array or its values is the platform's, so a 32-bit system asks
// for less, and never for less than the data written.
func TestRequestSizes(t *testing.T) {
	type sizes = []uintptr
	for _, tc := range []struct {
		name string
		// op runs with the requests logged and returns what to drop.
		op                         func(e *env, x, y, z Object) []Object
		obj64, obj32, mem64, mem32 sizes
	}{
		{"str, empty", func(e *env, _, _, _ Object) []Object { return []Object{e.c.NewStr("")} },
			sizes{24}, sizes{20}, nil, nil},
		{"str of 3 bytes", func(e *env, _, _, _ Object) []Object { return []Object{e.c.NewStr("abc")} },
			sizes{32}, sizes{24}, nil, nil},
		{"str of 5 bytes", func(e *env, _, _, _ Object) []Object { return []Object{e.c.NewStr("abcde")} },
			sizes{32}, sizes{28}, nil, nil},
		{"str of 9 bytes", func(e *env, _, _, _ Object) []Object { return []Object{e.c.NewStr("abcdefghi")} },
			sizes{40}, sizes{32}, nil, nil},
		{"tuple of 2", func(e *env, x, y, _ Object) []Object { return []Object{e.c.NewTuple(x, y)} },
			sizes{56}, sizes{36}, nil, nil},
		{"list of 3", func(e *env, x, y, z Object) []Object { return []Object{e.list(x, y, z)} },
			sizes{64}, sizes{40}, sizes{24}, sizes{12}},
		{"list of 2, inline", func(e *env, x, y, _ Object) []Object { return []Object{e.list(x, y)} },
			sizes{64}, sizes{40}, nil, nil},
		{"list of 2 grown to 3: room for 8", func(e *env, x, y, z Object) []Object {
			l := e.list(x, y)
			e.append(l, z)
			return []Object{l}
		}, sizes{64}, sizes{40}, sizes{64}, sizes{32}},
		{"empty list grown to 5: room for 4, then 8", func(e *env, x, _, _ Object) []Object {
			l := e.list()
			for range 5 {
				e.append(l, x)
			}
			return []Object{l}
		}, sizes{64}, sizes{40}, sizes{32, 64}, sizes{16, 32}},
		// The values: a 16-byte head, then a word and an order byte for
		// each of the 28 slots the class's shared keys leave the second
		// instance (SHARED_KEYS_MAX_SIZE 30, less one for x and one for
		// it).
		{"instance", func(e *env, _, _, _ Object) []Object { return []Object{e.inst(plainClass)} },
			sizes{56}, sizes{36}, sizes{16 + 28*9}, sizes{16 + 28*5}},
		{"dict of 1", func(e *env, x, y, _ Object) []Object {
			d := e.c.NewDict()
			e.setitem(d, x, y)
			return []Object{d}
		}, sizes{40}, sizes{28}, sizes{192}, sizes{112}},
		{"weakref", func(e *env, x, _, _ Object) []Object {
			return []Object{e.c.NewWeakref(x, Nil)}
		}, sizes{64}, sizes{40}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.noLeak()
			x, y, z := e.inst(plainClass), e.int(2), e.int(3)
			var drop []Object
			obj, mem := logRequests(func() { drop = tc.op(e, x, y, z) })
			wantObj, wantMem := tc.obj64, tc.mem64
			if ptrSize == 4 {
				wantObj, wantMem = tc.obj32, tc.mem32
			}
			assert.Equal(t, wantObj, obj.sizes, "OBJ requests")
			assert.Equal(t, wantMem, mem.sizes, "MEM requests")
			e.drop(drop...)
			e.drop(x, y, z)
		})
	}
}

// TestRequestSizesOfOwnTuples: the tuples the collector makes itself, the
// empty tuple (at NewCollector) and the tuple of (weakref, callback) pairs
// made when an object with two weakrefs with callbacks dies, ask for a
// word of length and a word per item, as NewTuple's do.
func TestRequestSizesOfOwnTuples(t *testing.T) {
	word64 := ptrSize == 8
	pick := func(w64, w32 uintptr) uintptr {
		if word64 {
			return w64
		}
		return w32
	}
	var c *Collector
	obj, _ := logRequests(func() { c = NewCollector() })
	assert.Equal(t, pick(40, 28), obj.at[asGC(c.emptyTuple)], "the empty tuple")
	require.NoError(t, c.Close())

	e := newEnv(t)
	e.noLeak()
	cb := e.callable(func(Object) {})
	o := e.inst(plainClass)
	r1, r2 := e.c.NewWeakref(o, cb), e.c.NewWeakref(o, cb)
	obj, _ = logRequests(func() { e.drop(o) })
	assert.Equal(t, []uintptr{pick(72, 44)}, obj.sizes, "the tuple of two pairs")
	e.drop(r1, r2, cb)
}

// TestObjectHash: an object that is not an int or a str hashes as its
// address turned right by 4 bits within the word (_Py_HashPointer), so
// that the alignment's zero bits do not crowd the low bits a dict's mask
// keeps; an int hashes as its value and a str as its FNV-1a hash, each
// cut to the word. (A container's handle is 8 bytes past a 16-byte
// boundary on a 32-bit system, where the rotation then sets the top bit.)
func TestObjectHash(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	for _, o := range []Object{e.list(), e.inst(plainClass), e.c.NewDict()} {
		want := uintptr(bits.RotateLeft(uint(o), -4))
		assert.Equal(t, want, objectHash(o), "%s at %#x", typeOf(o).name, uintptr(o))
		e.drop(o)
	}
	v := int64(1<<40 + 5)
	big := e.int(v)
	assert.Equal(t, uintptr(v), objectHash(big))
	e.drop(big)
	for _, s := range []string{"", "a", "weaklist"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		o := e.c.NewStr(s)
		assert.Equal(t, uintptr(h.Sum64()), objectHash(o), "%q", s)
		e.drop(o)
	}
}

// TestSlotCount: a type from RegisterType has as many object slots as
// words its Size needs, rounded up; a weakrefable one's weaklist word,
// after them, is not a slot, and a weakref to its object works with
// every slot set.
func TestSlotCount(t *testing.T) {
	for _, tc := range []struct {
		size  uintptr
		weak  bool
		slots int
	}{
		{0, false, 0},
		{1, false, 1},
		{ptrSize, false, 1},
		{ptrSize + 1, false, 2},
		{2 * ptrSize, false, 2},
		{1, true, 1},
		{2 * ptrSize, true, 2},
	} {
		name := fmt.Sprintf("Size%dWeak%v", tc.size, tc.weak)
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.noLeak()
			typ := RegisterType(TypeSpec{Name: name, Size: tc.size, Weakrefable: tc.weak})
			o := e.c.NewObject(typ)
			x := e.int(7)
			for i := range tc.slots {
				e.c.SetSlot(o, i, x)
			}
			requireUsage(t, fmt.Sprintf("gcmodule: SetSlot(%s): slot %d out of range for %s (%d slots)", hex(o), tc.slots, name, tc.slots),
				func() { e.c.SetSlot(o, tc.slots, Nil) })
			r := Nil
			if tc.weak {
				r = e.c.NewWeakref(o, Nil)
				require.Equal(t, o, e.c.WeakrefGet(r))
			}
			for i := range tc.slots {
				require.Equal(t, x, Slot(o, i))
				e.c.SetSlot(o, i, Nil) // the type has no Clear to drop them
			}
			e.drop(o)
			if tc.weak {
				require.Equal(t, Nil, e.c.WeakrefGet(r))
				e.drop(r)
			}
			require.Equal(t, 1, e.c.Refcount(x))
			e.drop(x)
		})
	}
}
