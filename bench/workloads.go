package bench

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/procmem"
	"github.com/gopymalloc/gopymalloc/internal/workload"
)

// The allocator core's workloads (package workload: churn and bulk) run
// for one backend in this process, for the command's child runs. The
// loops are package workload's, the same for every backend: generic, so
// each call reaches the allocator through the instantiation's dictionary
// (about 1.5 ns per call here, more than obmalloc's own BenchmarkChurn
// pays with its hand-inlined copy). Every backend pays it alike.

// RunChurn measures workload.Churn: ns per op, one free and one malloc.
func RunChurn(b Backend) (Record, error) { return runBenchmark("churn", b, b.churn) }

// RunBulk measures workload.Bulk: ns per block, one malloc and one free.
func RunBulk(b Backend) (Record, error) { return runBenchmark("bulk", b, b.bulk) }

// CheckBenchtime checks a -benchtime value as the testing package reads
// it (a duration above 0, or a count above 0 followed by x), so that a
// command refuses it before its first run rather than in every child.
func CheckBenchtime(s string) error {
	if n, ok := strings.CutSuffix(s, "x"); ok {
		if c, err := strconv.ParseInt(n, 10, 0); err != nil || c <= 0 {
			return fmt.Errorf("-benchtime %q: want a count above 0 before the x (100x) or a duration above 0 (1s)", s)
		}
		return nil
	}
	if d, err := time.ParseDuration(s); err != nil || d <= 0 {
		return fmt.Errorf("-benchtime %q: want a duration above 0 (1s) or a count above 0 (100x)", s)
	}
	return nil
}

// runBenchmark runs f under testing.Benchmark. A benchmark that fails
// (b.Fatal, b.Error, also from a Cleanup) comes back from
// testing.Benchmark as a zero result, N = 0 and no time, with its
// messages dropped: that must be an error, not a record of 0 ns per op.
func runBenchmark(kind string, b Backend, f func(*testing.B, func(error))) (Record, error) {
	var errs []error
	// testing.Benchmark runs f on other goroutines, one run at a time,
	// and returns after the last: errs needs no lock.
	res := testing.Benchmark(func(tb *testing.B) { f(tb, func(err error) { errs = append(errs, err) }) })
	err := errors.Join(errs...)
	if err == nil && res.N == 0 {
		err = errors.New("the benchmark failed (testing.Benchmark returned no result)")
	}
	if err != nil {
		return Record{}, fmt.Errorf("%s %s: %w", kind, b.Name, err)
	}
	return benchRecord(kind, b, res), nil
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
// It also reports the time per block of that first, page-faulting pass,
// and the process's peak RSS.
func RunBulkMemory(b Backend) (Record, error) {
	sizes := workload.Sizes(workload.BulkBlocks, 16, 256)
	return measureMemory("bulkmem", b, len(sizes), "first_pass_ns_per_block", len(sizes), func(a Instance, live []unsafe.Pointer) (uint64, error) {
		var requested uint64
		for i, s := range sizes {
			p := a.Malloc(s)
			if p == nil {
				return 0, errors.New(b.Name + ": bulk allocation returned nil")
			}
			workload.Touch(p, s)
			live[i] = p
			requested += uint64(s)
		}
		return requested, nil
	})
}

// churnMemoryPairs is how many free + malloc pairs RunChurnMemory makes
// after filling the window: enough for every size to come and go many
// times.
const churnMemoryPairs = 1000000

// RunChurnMemory is RunBulkMemory for churn: from a fresh instance, the
// window of workload.ChurnWindow blocks made, then churnMemoryPairs free +
// malloc pairs as workload.Churn makes them; the RSS growth over the bytes
// the window holds at the end, the time per pair (the window's making
// included, 1 % of the work), and the peak RSS.
func RunChurnMemory(b Backend) (Record, error) {
	sizes := workload.Sizes(1<<16, 1, 512)
	// The sizes of the live blocks, made here, before the baseline, as
	// the handles are: 80 KB that are the harness's, not the allocator's.
	held := make([]uintptr, workload.ChurnWindow)
	clear(held)
	return measureMemory("churnmem", b, workload.ChurnWindow, "ns_per_pair", churnMemoryPairs, churnWork(b.Name, sizes, held))
}

// churnWork is RunChurnMemory's measured work; it allocates nothing on
// the Go heap itself, so that the RSS growth is the allocator's.
func churnWork(name string, sizes, held []uintptr) func(a Instance, live []unsafe.Pointer) (uint64, error) {
	return func(a Instance, live []unsafe.Pointer) (uint64, error) {
		alloc := func(slot int, n uintptr) error {
			p := a.Malloc(n)
			if p == nil {
				return errors.New(name + ": churn allocation returned nil")
			}
			workload.Touch(p, n)
			live[slot], held[slot] = p, n
			return nil
		}
		for i := range live {
			if err := alloc(i, sizes[i]); err != nil {
				return 0, err
			}
		}
		for i := range churnMemoryPairs {
			slot := i % len(live)
			a.Free(live[slot])
			if err := alloc(slot, sizes[i&(1<<16-1)]); err != nil {
				return 0, err
			}
		}
		var requested uint64
		for _, n := range held {
			requested += uint64(n)
		}
		return requested, nil
	}
}

// setResidentFigures sets a memory run's RSS figures from the readings
// before and after the work (KiB; -1 where /proc/self/status is missing,
// as off linux) and the process's peak (procmem.SpanPeak): the growth and the
// resident bytes per requested byte only when both readings exist, so
// that a system without /proc reports no growth rather than a growth of
// 0 (-1 minus -1); a growth may be negative, when pages went back to the
// OS during the work. The peak is -1 when unmeasured, which the tables
// show as missing.
func setResidentFigures(r *Record, rss0, rss1, hwm int64, requested uint64) {
	if rss0 >= 0 && rss1 >= 0 {
		r.SetInt("rss_growth_kb", rss1-rss0)
		if requested > 0 {
			r.SetFloat("resident_per_requested", float64(rss1-rss0)*1024/float64(requested), 3)
		}
	}
	r.SetInt("rss_peak_kb", hwm)
}

// measureMemory opens a fresh instance of b, runs work with a slice of
// n handles made and faulted in beforehand, and records the RSS growth
// over the bytes work reports as live, the time of the work per unit
// (timeKey: the work's time over units), and the process's peak RSS (off
// linux only when the work raised it: procmem.SpanPeak); then it frees the live
// blocks.
func measureMemory(kind string, b Backend, n int, timeKey string, units int, work func(a Instance, live []unsafe.Pointer) (requested uint64, err error)) (Record, error) {
	a, err := b.open()
	if err != nil {
		return Record{}, err
	}
	live := make([]unsafe.Pointer, n)
	clear(live)
	debug.FreeOSMemory()
	rss0 := procmem.StatusKB("VmRSS")
	peak0, _ := procmem.PeakRSSKB()
	start := time.Now()
	requested, err := work(a, live)
	elapsed := time.Since(start)
	rss1 := procmem.StatusKB("VmRSS")
	peak1, own := procmem.PeakRSSKB()
	hwm := procmem.SpanPeak(own, peak0, peak1)
	if err != nil {
		return Record{}, errors.Join(err, a.Close())
	}

	var r Record
	r.Set("kind", kind)
	r.Set("backend", b.Name)
	r.SetInt("blocks", int64(n))
	r.SetInt("requested_bytes", int64(requested))
	setResidentFigures(&r, rss0, rss1, hwm, requested)
	r.SetFloat(timeKey, float64(elapsed.Nanoseconds())/float64(units), 2)
	for _, p := range live {
		if p != nil {
			a.Free(p)
		}
	}
	runtime.KeepAlive(live)
	return r, a.Close()
}
