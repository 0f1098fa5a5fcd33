// Package bench compares gopymalloc with the allocators a Go program can
// use instead, on the same work, measured the same way: replays of real
// CPython allocation traces, the allocator core's churn and bulk
// workloads, and what each costs the Go garbage collector. The command
// cmd/cmpalloc runs the measurements; docs/benchmarks.md has the figures
// and the commands that produced them.
//
// It is a module of its own (github.com/gopymalloc/gopymalloc/bench, with
// a replace of the main module by ../), so that users of gopymalloc never
// download the peers it measures, and the main module's `go test ./...`
// never enters it. Its path lies inside the main module's, so it may use
// the main module's internal packages: the trace reader (pytrace) and the
// workloads (workload), which are the ones the main module's own
// benchmarks and replayer use.
//
// # The backends
//
//	gopymalloc      obmalloc.Heap with the zero Config, one goroutine: what `demo replay` measures
//	gopymalloc-api  the package-level pymalloc functions: the same engine behind the domain switch and a mutex
//	                (refused under a GOPYMALLOC* variable that would change what they serve)
//	gopymalloc-huge gopymalloc with its arenas on transparent huge pages (obmalloc.HugePageArenas, opt-in, linux)
//	gopymalloc-prefault gopymalloc with Config.Prefault: page faults taken ahead by other goroutines (opt-in)
//	modernc         modernc.org/memory's Allocator, the cgo-free allocator under modernc.org/sqlite
//	goheap          make([]byte, n); free drops the reference; the collector's cost included
//	syncpool        a sync.Pool per 16-byte class up to 512 bytes, make above
//	freelist        the floor: per-class LIFO lists off the Go heap, 16-byte header, nothing else
//
// and, beside them in the same rounds, the C reference replayers of
// ../shared/cpython-replay (CPython 3.11's pymalloc, glibc, mimalloc,
// jemalloc), run as external programs (cmpalloc replay -c-replayer PATH).
// Each backend's file says how it maps malloc, calloc, realloc and free,
// and what it does with a request of 0 bytes (modernc's Malloc(0)
// returns nil, so it is asked for 1 byte, as replay.c does for the C
// allocators whose realloc(p, 0) frees).
//
// # The method
//
// A ratio of two times means something only when both sides time the
// same work, so a replay follows replay.c, and internal/replay, step by
// step:
//
//   - the whole trace is read and validated first, then moved off the Go
//     heap (so that 64 MB of trace neither paces the collector nor is
//     scanned by it, as replay.c keeps its trace in mmap'd memory);
//   - one replay per process, from a fresh allocator: the command
//     re-executes itself for every run (a hidden -child flag);
//   - the ID table is off the Go heap for the off-heap backends, and on
//     the Go heap for goheap and syncpool, whose blocks it must keep
//     alive where the collector sees them; either way its pages are
//     faulted in before timing;
//   - a collection and the return of free pages to the OS
//     (debug.FreeOSMemory) just before timing; the RSS high-water mark is
//     reset through /proc/self/clear_refs just before the loop and VmHWM
//     read just after it (where it cannot be reset, see below);
//   - only the loop is timed. Each m, c and r calls the allocator and
//     writes the first and last byte of a block of size > 0, each f
//     frees; the loop is generated once per allocator type
//     (internal/loopgen) so that every allocator is called directly, as
//     replay.c calls malloc, and no loop differs from another;
//   - the result is one line of key=value pairs with replay.c's keys
//     (ns_per_op, rss_peak_kb, replay_rss_kb, peak_live_bytes, ...) plus
//     cpu_ns_per_op (the process's CPU time, which counts the collector's
//     background work on the other core) and gc_cycles.
//
// "Resident bytes per requested byte" is the RSS growth during the loop
// (replay_rss_kb) over the trace's peak of live requested bytes: what the
// allocator made resident per byte the program asked to hold at once.
// The RSS figures come from /proc/self/status (VmRSS, VmHWM), so only
// linux has them all. Elsewhere a missing figure is -1 in the records
// (a memory run's record has no rss_growth_kb nor ratio) and "—" in the
// tables:
//
//   - linux: every figure;
//   - darwin, freebsd (and the other BSDs), windows: only the peaks
//     (rss_peak_kb, the tables' peak RSS), from the peak the OS keeps
//     for the process (getrusage's ru_maxrss; the peak working set on
//     windows). That peak cannot be reset and, read before and after, it
//     counts only if the loop (or a memory run's work) raised it, which
//     puts it inside the span; otherwise it may be earlier work's, even
//     the parent's (linux's ru_maxrss starts from it after a vfork and
//     exec), and the peak is missing. With no reading of the RSS itself,
//     rss_before_kb, replay_rss_kb, the growth and the resident bytes per
//     requested byte are missing;
//   - other systems: none.
//
// On linux where /proc/self/clear_refs is not writable, a replay's peak
// follows the same rule (VmHWM counts if the loop raised it) and
// replay_rss_kb is missing.
//
// Churn and bulk run package workload's loops, the ones the main module's
// benchmarks use, on a fresh instance of each backend: testing.Benchmark
// in a fresh process per run for the command, `go test -bench` for
// BenchmarkChurn and BenchmarkBulk. Those loops are generic over the
// allocator, so every backend pays the same dictionary call per malloc and
// free (about 1.5 ns here). Bulk's residency is measured apart (kind
// bulkmem): the RSS growth while 1,000,000 blocks of 16..256 bytes are
// allocated from a fresh instance, over the bytes requested.
//
// GC impact is the time of one forced runtime.GC() while 5,000,000 blocks
// of 64 bytes are held: off-heap blocks by uintptr handles in a
// pointer-free slice, Go-heap blocks by pointers in a slice the collector
// scans; against an empty heap.
//
// # Noise
//
// The machine is shared, with two cores. Every figure is therefore a
// median over rounds (five unless -rounds says otherwise), shown with its
// min–max; the backends run interleaved, each round starting with a
// different one (a rotation, so the neighbours stay), so that a slow
// minute falls on all of them; each record carries the machine's load
// average after the run (load1) for the skeptical reader. No test asserts
// a time.
package bench
