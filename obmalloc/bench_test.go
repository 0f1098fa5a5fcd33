package obmalloc

import (
	"testing"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/workload"
)

// The allocator core's workloads on a Heap. Reference figures on this
// machine kind (issue "Allocator core"): CPython's pymalloc 18.7 ns per
// churn pair and 76 ns per bulk block; modernc.org/memory 11.8 and 90.7;
// the Go heap 47.5 and 56.2. Targets: churn <= 12 ns, bulk <= 40 ns.

// heapValue wraps a Heap in a value type so the generic workloads get
// direct calls (see package workload).
type heapValue struct{ h *Heap }

func (v heapValue) Malloc(n uintptr) unsafe.Pointer { return v.h.Malloc(n) }
func (v heapValue) Free(p unsafe.Pointer)           { v.h.Free(p) }

func BenchmarkChurn(b *testing.B) { workload.Churn(b, heapValue{newHeap(b, Config{})}) }

func BenchmarkBulk(b *testing.B) { workload.Bulk(b, heapValue{newHeap(b, Config{})}) }
