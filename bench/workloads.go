package bench

import (
	"errors"
	"github.com/gopymalloc/gopymalloc/internal/procmem"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/workload"
)

// The allocator core's workloads (package workload: churn and bulk) run
// for one backend in this process, for the command's child runs. The
// loops are package workload's, the same for every backend: generic, so
// each call reaches the allocator through the instantiation's dictionary
// (about 1.5 ns per call here, more than obmalloc's own BenchmarkChurn
// pays with its hand-inlined copy). Every backend pays it alike.

// RunChurn measures workload.Churn: ns per op, one free and one malloc.
func RunChurn(b Backend) Record {
	return benchRecord("churn", b, testing.Benchmark(b.churn))
}

// RunBulk measures workload.Bulk: ns per block, one malloc and one free.
func RunBulk(b Backend) Record {
	return benchRecord("bulk", b, testing.Benchmark(b.bulk))
}

func benchRecord(kind string, b Backend, res testing.BenchmarkResult) Record {
	var r Record
	r.Set("kind", kind)
	r.Set("backend", b.Name)
	r.SetInt("n", int64(res.N))
	r.SetFloat("ns_per_op", float64(res.T.Nanoseconds())/float64(max(res.N, 1)), 2)
	return r
}

// RunBulkMemory measures what bulk's live set costs in resident memory:
// workload.BulkBlocks blocks of the bulk sizes (16..256 bytes) allocated
// from a fresh instance, first and last byte written, with the growth of
// the process's RSS divided by the bytes requested. The handles sit in a
// Go slice made and faulted in before the baseline, so they are not
// counted; the allocator's own structures and the Go heap's metadata are.
// It also reports the time per block of that first, page-faulting pass.
func RunBulkMemory(b Backend) (Record, error) {
	a, err := b.open()
	if err != nil {
		return Record{}, err
	}
	sizes := workload.Sizes(workload.BulkBlocks, 16, 256)
	var requested uint64
	for _, s := range sizes {
		requested += uint64(s)
	}
	live := make([]unsafe.Pointer, len(sizes))
	clear(live)
	debug.FreeOSMemory()
	rss0 := procmem.StatusKB("VmRSS")
	start := time.Now()
	for i, s := range sizes {
		p := a.Malloc(s)
		if p == nil {
			return Record{}, errors.Join(errors.New(b.Name+": bulk allocation returned nil"), a.Close())
		}
		workload.Touch(p, s)
		live[i] = p
	}
	elapsed := time.Since(start)
	rss1 := procmem.StatusKB("VmRSS")

	var r Record
	r.Set("kind", "bulkmem")
	r.Set("backend", b.Name)
	r.SetInt("blocks", int64(len(sizes)))
	r.SetInt("requested_bytes", int64(requested))
	r.SetInt("rss_growth_kb", rss1-rss0)
	if rss0 >= 0 && rss1 >= 0 {
		r.SetFloat("resident_per_requested", float64(rss1-rss0)*1024/float64(requested), 3)
	}
	r.SetFloat("first_pass_ns_per_block", float64(elapsed.Nanoseconds())/float64(len(sizes)), 2)
	for _, p := range live {
		a.Free(p)
	}
	runtime.KeepAlive(live)
	return r, a.Close()
}
