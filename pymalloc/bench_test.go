package pymalloc

import (
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/workload"
)

// The allocator core's workloads through the package-level API: the same
// heap as obmalloc's benchmarks plus the domain dispatch and the mutex.

type objDomain struct{}

func (objDomain) Malloc(n uintptr) unsafe.Pointer { return Malloc(n) }
func (objDomain) Free(p unsafe.Pointer)           { Free(p) }

func BenchmarkChurn(b *testing.B) { workload.Churn(b, objDomain{}) }

func BenchmarkBulk(b *testing.B) { workload.Bulk(b, objDomain{}) }

// BenchmarkChurnParallel runs Churn's pairs from GOMAXPROCS goroutines at
// once: the cost of sharing the default heap's mutex.
func BenchmarkChurnParallel(b *testing.B) {
	sizes := workload.Sizes(1<<16, 1, 512)
	b.RunParallel(func(pb *testing.PB) {
		live := make([]unsafe.Pointer, workload.ChurnWindow/4)
		for i := range live {
			live[i] = Malloc(sizes[i])
		}
		for i := 0; pb.Next(); i++ {
			slot := i % len(live)
			Free(live[slot])
			n := sizes[i&(1<<16-1)]
			live[slot] = Malloc(n)
			workload.Touch(live[slot], n)
		}
		for _, p := range live {
			Free(p)
		}
	})
}

// BenchmarkChurnParallelSharded is BenchmarkChurnParallel on a default
// heap that is sharded from the start (a private one, installed as the
// OBJ allocator for the benchmark): with -test.cpu 1 it measures what
// sharding costs one goroutine against BenchmarkChurnParallel's unsharded
// heap.
func BenchmarkChurnParallelSharded(b *testing.B) {
	d := shardedBenchHeap()
	prev := GetAllocator(DomainObj)
	SetAllocator(DomainObj, d)
	defer SetAllocator(DomainObj, prev)
	BenchmarkChurnParallel(b)
}

// BenchmarkBulkSharded is Bulk on a default heap sharded from the start,
// from one goroutine: the per-processor caches' worst case, where every
// allocation misses and every free overflows, so blocks move between the
// caches and the shards 16 at a time.
func BenchmarkBulkSharded(b *testing.B) {
	workload.Bulk(b, shardedBenchHeap())
}

// shardedBenchHeap is a default heap sharded from the start, one for all
// the benchmarks that want one and all their runs: a heap keeps the
// arenas it maps, so a new one per run would hold on to all of them
// (bulk's million blocks take about 150 MiB).
var shardedBenchHeap = sync.OnceValue(func() *sharedHeap {
	d := newSharedHeap(max(runtime.GOMAXPROCS(0), runtime.NumCPU()))
	d.sharded.Store(true)
	return d
})

// The parts of sharded mode's cost, one at a time (docs/benchmarks.md,
// "Several goroutines on the package-level API"): the processor lookup
// that picks a shard for each allocation, the owners lookup of each free,
// and the lock and unlock every call makes in either mode.

var benchSink int

func BenchmarkProcID(b *testing.B) {
	s := 0
	for b.Loop() {
		s += procID()
	}
	benchSink = s
}

func BenchmarkOwnerLookup(b *testing.B) {
	d := newSharedHeap(2)
	blocks := make([]uintptr, 4096)
	for i := range blocks {
		blocks[i] = uintptr(d.Malloc(64))
	}
	s, i := 0, 0
	for b.Loop() {
		s += d.owners.owner(blocks[i&(len(blocks)-1)])
		i++
	}
	benchSink = s
	for _, p := range blocks {
		d.Free(unsafe.Add(nil, p))
	}
}

func BenchmarkShardLockUnlock(b *testing.B) {
	d := newSharedHeap(2)
	s := &d.shards[0]
	for b.Loop() {
		s.mu.Lock()
		s.mu.Unlock()
	}
}

// The typed helpers' round trips on the default heap, from one goroutine
// (the heap unsharded): Calloc and Free plus the checks of New and
// Delete, MakeSlice and FreeSlice (the type's pointer-freedom, the
// block-start check, the deferred renaming of a fault).

func BenchmarkNewDelete(b *testing.B) {
	for b.Loop() {
		Delete(New[point]())
	}
}

func BenchmarkMakeSliceFreeSlice(b *testing.B) {
	for b.Loop() {
		FreeSlice(MakeSlice[uint64](16))
	}
}

// A RAW and a MEM round trip from one goroutine: what the domain
// functions themselves cost around the allocator.

func BenchmarkRawMallocFree(b *testing.B) {
	for b.Loop() {
		RawFree(RawMalloc(64))
	}
}

func BenchmarkMemMallocFree(b *testing.B) {
	for b.Loop() {
		MemFree(MemMalloc(64))
	}
}
