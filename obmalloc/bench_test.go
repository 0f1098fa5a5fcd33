package obmalloc

import (
	"testing"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/workload"
)

// The allocator core's workloads (package workload describes them) on a
// Heap, with direct calls: the generic loops in package workload reach the
// allocator through a dictionary call, which costs about 2.4 ns per churn
// op here and would be charged to the engine. Reference figures on this
// machine kind: CPython's pymalloc 18.7 ns per churn pair and 76 ns per
// bulk block; modernc.org/memory 11.8 and 90.7; the Go heap 47.5 and 56.2.
// Targets: churn <= 12 ns, bulk <= 40 ns.

func BenchmarkChurn(b *testing.B) {
	h := newHeap(b, Config{})
	sizes := workload.Sizes(1<<16, 1, 512)
	live := make([]unsafe.Pointer, workload.ChurnWindow)
	for i := range live {
		live[i] = h.Malloc(sizes[i])
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		slot := i % workload.ChurnWindow
		h.Free(live[slot])
		n := sizes[i&(1<<16-1)]
		p := h.Malloc(n)
		workload.Touch(p, n)
		live[slot] = p
	}
}

func BenchmarkBulk(b *testing.B) {
	h := newHeap(b, Config{})
	sizes := workload.Sizes(workload.BulkBlocks, 16, 256)
	live := make([]unsafe.Pointer, workload.BulkBlocks)
	b.ResetTimer()
	for done := 0; done < b.N; done += workload.BulkBlocks {
		n := min(workload.BulkBlocks, b.N-done)
		for i, size := range sizes[:n] {
			live[i] = h.Malloc(size)
			workload.Touch(live[i], size)
		}
		for _, p := range live[:n] {
			h.Free(p)
		}
	}
}

// BenchmarkChurnParallel gives each of GOMAXPROCS goroutines a Heap of its
// own (churn pairs on a window of 2,500 blocks, as pymalloc's
// BenchmarkChurnParallel): nothing is shared, so -test.cpu 2 against
// -test.cpu 1 is the most two goroutines can gain on the machine.
func BenchmarkChurnParallel(b *testing.B) {
	sizes := workload.Sizes(1<<16, 1, 512)
	b.RunParallel(func(pb *testing.PB) {
		h, err := New(Config{})
		if err != nil {
			b.Error(err)
			return
		}
		defer h.Close()
		live := make([]unsafe.Pointer, workload.ChurnWindow/4)
		for i := range live {
			live[i] = h.Malloc(sizes[i])
		}
		for i := 0; pb.Next(); i++ {
			slot := i % len(live)
			h.Free(live[slot])
			n := sizes[i&(1<<16-1)]
			live[slot] = h.Malloc(n)
			workload.Touch(live[slot], n)
		}
	})
}
