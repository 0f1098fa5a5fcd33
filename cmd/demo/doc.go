// Command demo shows how Python manages memory, on gopymalloc's port of
// CPython 3.11's allocator (obmalloc) and cycle collector (gcmodule).
// Every figure it prints is read from the running allocator, the running
// collector or the kernel at the moment it is printed; the prose around
// the figures only says what they mean.
//
//	go run ./cmd/demo                  the story (demo story)
//	go run ./cmd/demo story -chapter 3 one chapter of it
//	go run ./cmd/demo stats            a heap's sys._debugmallocstats() dump
//	go run ./cmd/demo gc -graph ring   build a graph, drop it, watch the collector
//	go run ./cmd/demo heapmap -o heap.svg
//	                                   a picture of the heap
//	go run ./cmd/demo replay TRACE.gz  replay a CPython allocation trace and measure
//	go run ./cmd/demo experiment -layout 3.11 -layout 3.9 TRACE.gz
//	                                   one trace under several heap layouts
//
// "demo help" lists the subcommands, "demo SUBCOMMAND -h" explains one.
//
// # The story
//
// Five chapters, each a file: ch1_heap.go (arenas, pools and size
// classes, with a few objects of the sizes CPython asks for and where
// Heap.Block says they went), ch2_refcount.go (the getDays example:
// counts while the call runs and after, the blocks freed at once),
// ch3_cycles.go (a cycle that counting cannot free, gc.collect with
// DEBUG_STATS, and automatic collections as containers are allocated,
// watched through a gc callback), ch4_kept.go (a million objects
// allocated, freed and allocated again under both arena policies, with
// RSS from /proc/self/status, and what CPython and Windows do), and
// ch5_stats.go (the dump, with its identities checked on the spot).
// story.go runs them and collects their key figures, which story_test.go
// checks at smaller sizes.
//
// # Heaps to look at
//
// stats and heapmap show either the built-in workload (workload.go: a
// program's life in three acts on a fixed seed) or a trace replayed up
// to any op (tracerun.go), on any layout (layout.go: CPython versions by
// name, or key=value pairs over 3.11). tracerun.go is not
// internal/replay, the measuring instrument, which replays with CPython
// 3.11's layout only and closes its heap when done; it makes the same
// calls, so its dumps equal replay's (TestTraceRunMatchesReplay), and it
// stops wherever asked with the heap open. experiment.go puts several
// layouts side by side on one trace (docs/experiments.md).
//
// # The picture
//
// heapmap.go walks Heap.Arenas and draws every arena as a row of its
// pools, in the terminal (a class character over a fullness bar per
// pool) and, with -o, as SVG (svg.go, written with the standard library:
// colour by size class, shade by fullness, a legend, the totals). Each
// pool of the SVG carries its figures in data-* attributes and a hover
// title; the tests parse the SVG with encoding/xml and check it against
// Heap.Stats, which counts the same things another way.
//
// # Conventions
//
// main only hands its arguments to run, which returns the exit status,
// so the tests drive the whole command without a process: 0 on success,
// 1 when the work fails, 2 for a usage error or a bad input file (and
// then nothing is printed on stdout). Long work (reading and replaying a
// large trace) shows its progress on stderr when stderr is a terminal
// (progress.go), so stdout stays exactly the figures.
package main
