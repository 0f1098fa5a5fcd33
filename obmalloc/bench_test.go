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
