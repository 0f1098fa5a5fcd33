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
