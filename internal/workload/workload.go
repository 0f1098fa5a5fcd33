// Package workload holds the allocator core's two benchmark workloads, so
// that the engine, the public API and (in the bench module) other
// allocators run exactly the same loops.
//
// The functions are generic over the allocator, so every backend runs the
// same loop. A generic loop still reaches the allocator through a
// dictionary call (about 1.5 to 2.4 ns per call here, never inlined), the
// same for every backend; obmalloc's own benchmarks and the bench module's
// replay loops avoid it with direct calls.
package workload

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// Allocator is what the workloads need.
type Allocator interface {
	Malloc(size uintptr) unsafe.Pointer
	Free(p unsafe.Pointer)
}

const (
	ChurnWindow = 10000   // live blocks during Churn
	BulkBlocks  = 1000000 // blocks per round of Bulk
)

// Sizes returns n sizes uniform in [lo, hi], from a fixed seed, made before
// timing starts.
func Sizes(n int, lo, hi uintptr) []uintptr {
	r := rand.New(rand.NewPCG(7, 11))
	s := make([]uintptr, n)
	for i := range s {
		s[i] = lo + uintptr(r.Uint64N(uint64(hi-lo+1)))
	}
	return s
}

// Touch writes the first and last byte of a block, as the trace replayers
// do, so that an allocator cannot win by never touching memory.
func Touch(p unsafe.Pointer, n uintptr) {
	b := unsafe.Slice((*byte)(p), n)
	b[0], b[n-1] = 1, 1
}

// Churn: a window of 10,000 live blocks of 1..512 bytes; each op frees the
// oldest block and allocates one (first and last byte written). ns/op is
// one free plus one malloc.
func Churn[A Allocator](b *testing.B, a A) {
	sizes := Sizes(1<<16, 1, 512)
	live := make([]unsafe.Pointer, ChurnWindow)
	for i := range live {
		live[i] = a.Malloc(sizes[i])
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		slot := i % ChurnWindow
		a.Free(live[slot])
		n := sizes[i&(1<<16-1)]
		p := a.Malloc(n)
		Touch(p, n)
		live[slot] = p
	}
	b.StopTimer()
	for _, p := range live {
		a.Free(p)
	}
}

// Bulk: rounds of 1,000,000 blocks of 16..256 bytes allocated (first and
// last byte written), then all freed in allocation order. ns/op is per
// block: one malloc and one free.
func Bulk[A Allocator](b *testing.B, a A) {
	sizes := Sizes(BulkBlocks, 16, 256)
	live := make([]unsafe.Pointer, BulkBlocks)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(BulkBlocks, b.N-done)
		for i := 0; i < n; i++ {
			p := a.Malloc(sizes[i])
			Touch(p, sizes[i])
			live[i] = p
		}
		for i := 0; i < n; i++ {
			a.Free(live[i])
		}
		done += n
	}
}
