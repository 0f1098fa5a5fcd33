package obmalloc

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// The allocator core's two workloads. Reference figures on this machine
// kind (issue "Allocator core"): CPython's pymalloc 18.7 ns per churn pair
// and 76 ns per bulk block; modernc.org/memory 11.8 and 90.7; the Go heap
// 47.5 and 56.2.

const (
	churnWindow = 10000   // live blocks
	bulkBlocks  = 1000000 // blocks per round
)

// randomSizes returns n sizes uniform in [lo, hi], made before timing.
func randomSizes(n int, lo, hi uintptr) []uintptr {
	r := rand.New(rand.NewPCG(7, 11))
	s := make([]uintptr, n)
	for i := range s {
		s[i] = lo + uintptr(r.Uint64N(uint64(hi-lo+1)))
	}
	return s
}

// touch writes the first and last byte, as the trace replayers do.
func touch(p unsafe.Pointer, n uintptr) {
	b := unsafe.Slice((*byte)(p), n)
	b[0], b[n-1] = 1, 1
}

// BenchmarkChurn: one free and one malloc per op over a window of 10,000
// live blocks of 1..512 bytes.
func BenchmarkChurn(b *testing.B) {
	h, _ := New(Config{})
	defer h.Close()
	sizes := randomSizes(1<<16, 1, 512)
	live := make([]unsafe.Pointer, churnWindow)
	for i := range live {
		live[i] = h.Malloc(sizes[i])
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		slot := i % churnWindow
		h.Free(live[slot])
		n := sizes[i&(1<<16-1)]
		p := h.Malloc(n)
		touch(p, n)
		live[slot] = p
	}
	b.StopTimer()
	for _, p := range live {
		h.Free(p)
	}
}

// BenchmarkBulk: rounds of 1,000,000 blocks of 16..256 bytes allocated,
// then all freed; ns/op is per block (one malloc and one free).
func BenchmarkBulk(b *testing.B) {
	h, _ := New(Config{})
	defer h.Close()
	sizes := randomSizes(bulkBlocks, 16, 256)
	live := make([]unsafe.Pointer, bulkBlocks)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(bulkBlocks, b.N-done)
		for i := 0; i < n; i++ {
			p := h.Malloc(sizes[i])
			touch(p, sizes[i])
			live[i] = p
		}
		for i := 0; i < n; i++ {
			h.Free(live[i])
		}
		done += n
	}
}
