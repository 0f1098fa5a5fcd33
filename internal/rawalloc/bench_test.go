package rawalloc

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"
)

func BenchmarkMallocFree(b *testing.B) {
	for _, n := range []uintptr{1024, 8192, 65536} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h := newTestHeap(b, nil)
			h.Free(h.Malloc(n))
			b.ReportAllocs()
			for b.Loop() {
				h.Free(h.Malloc(n))
			}
		})
	}
}

// BenchmarkChurn keeps a window of 1000 live blocks of sizes uniform in
// 513..32768 bytes: each op frees the oldest block and allocates a new one.
func BenchmarkChurn(b *testing.B) {
	const window = 1000
	h := newTestHeap(b, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := make([]uintptr, 1<<16)
	for i := range sizes {
		sizes[i] = uintptr(513 + rng.UintN(32768-513+1))
	}
	var ring [window]unsafe.Pointer
	for i := range ring {
		ring[i] = h.Malloc(sizes[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % window
		h.Free(ring[k])
		ring[k] = h.Malloc(sizes[i&(len(sizes)-1)])
		i++
	}
}

// BenchmarkBigReuse frees and allocates a 1 MiB block, served from the
// cache of big mappings.
func BenchmarkBigReuse(b *testing.B) {
	h := newTestHeap(b, nil)
	h.Free(h.Malloc(1 << 20))
	b.ReportAllocs()
	for b.Loop() {
		h.Free(h.Malloc(1 << 20))
	}
}

// BenchmarkParallelMallocFree measures the mutex under contention.
func BenchmarkParallelMallocFree(b *testing.B) {
	h := newTestHeap(b, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Free(h.Malloc(4096))
		}
	})
}
