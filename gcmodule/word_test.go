package gcmodule

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
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
