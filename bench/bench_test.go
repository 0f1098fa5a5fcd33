package bench

import (
	"runtime"
	"testing"
)

// The allocator core's workloads for every backend, the loops of package
// workload (so every backend pays the same dictionary call per malloc and
// free), and the GC impact: one forced collection while 5,000,000 blocks
// of 64 bytes are held.
//
//	go test -run '^$' -bench . -count 6 . > bench.txt && benchstat bench.txt
//
// These run in one process, one backend after another; `cmpalloc churn`,
// `bulk` and `gc` run the same code in a fresh process per run.

func BenchmarkChurn(b *testing.B) {
	for _, be := range Backends {
		b.Run(be.Name, be.Churn)
	}
}

func BenchmarkBulk(b *testing.B) {
	for _, be := range Backends {
		b.Run(be.Name, be.Bulk)
	}
}

func BenchmarkGC(b *testing.B) {
	opt := DefaultGCOptions
	run := func(be Backend) func(*testing.B) {
		return func(b *testing.B) {
			s, err := holdBlocks(be, opt.Blocks, opt.Size)
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC() // the set-up's garbage
			spin(warmUp)
			for b.Loop() {
				runtime.GC()
			}
			b.StopTimer()
			if err := s.release(); err != nil {
				b.Fatal(err)
			}
			runtime.GC()
		}
	}
	b.Run(EmptyHeap, run(Backend{}))
	for _, be := range Backends {
		b.Run(be.Name, run(be))
	}
}
