package bench

import (
	"fmt"
	"github.com/gopymalloc/gopymalloc/internal/procmem"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
)

// The replay loops (loops_gen.go) are replay.c's replay_ops, one copy per
// allocator type, generated from one template so that they cannot drift
// apart: each m, c and r calls the allocator and, with touch, writes the
// first and last byte of a block of size > 0; each f frees; a nil result
// is counted; realloc(NULL, n) reads slot 0 of the table, which is never
// written. The Go-heap shape differs in the one way a Go program must: a
// freed or reallocated block's slot is cleared, which is how Go memory is
// given back.
//
//go:generate go run ./internal/loopgen/gen loops_gen.go

// measure runs loop over t's ops once, timed, the way replay.Run and
// replay.c do: the collector runs and pages go back to the OS first, so
// that neither a collection of earlier garbage nor the scavenger lands in
// the loop and the RSS figures start from a clean heap; the RSS high-water
// mark is reset just before and read just after, by procmem.Loop as
// replay.Run does (where it cannot be reset, the peak counts only if the
// loop raised it); only the loop is timed. It fails if an allocation
// returned nil.
func measure(backend string, t *Trace, touch bool, loop func([]pytrace.Op) int) (Record, error) {
	debug.FreeOSMemory()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	rss := procmem.StartLoop()
	cpu0 := cpuTime()

	start := time.Now()
	fails := loop(t.Ops)
	elapsed := time.Since(start)

	cpu1 := cpuTime()
	rss0, peak, grown := rss.End()
	runtime.ReadMemStats(&ms1)

	var r Record
	r.Set("backend", backend)
	r.Set("trace", t.Name)
	r.SetInt("ops", int64(len(t.Ops)))
	r.SetFloat("seconds", elapsed.Seconds(), 6)
	nops := float64(max(len(t.Ops), 1))
	r.SetFloat("ns_per_op", float64(elapsed.Nanoseconds())/nops, 2)
	if cpu0 >= 0 && cpu1 >= 0 {
		r.SetFloat("cpu_ns_per_op", float64((cpu1-cpu0).Nanoseconds())/nops, 2)
	}
	r.SetInt("peak_live_bytes", int64(t.Stats.PeakLiveBytes))
	r.SetInt("peak_live_blocks", int64(t.Stats.PeakLiveBlocks))
	r.SetInt("live_at_end", int64(t.Stats.LiveAtEnd))
	r.SetInt("rss_before_kb", rss0)
	r.SetInt("rss_peak_kb", peak)
	r.SetInt("replay_rss_kb", grown)
	r.Set("touch", map[bool]string{false: "0", true: "1"}[touch])
	r.SetInt("gc_cycles", int64(ms1.NumGC-ms0.NumGC))
	if fails > 0 {
		return r, fmt.Errorf("%s: %s: %s returned nil", backend, t.Name, Plural(fails, "allocation"))
	}
	return r, nil
}
