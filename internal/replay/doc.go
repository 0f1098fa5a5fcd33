// Package replay is the measuring instrument of gopymalloc: it replays a
// CPython allocation trace (package pytrace) through a fresh obmalloc heap,
// times the replay loop, and writes the heap's statistics, in the layout
// of CPython's sys._debugmallocstats(), at chosen ops.
//
// # Why it copies replay.c
//
// The C replayer beside the traces (cpython-replay/replay.c) runs the same
// traces through CPython 3.11's own pymalloc and through the C library's
// allocators. Its figures are the yardstick for ours, and a ratio of two
// times means something only when both sides time the same work. Run
// therefore follows replay.c step by step:
//
//   - the whole trace is loaded and validated before anything is timed (the
//     caller passes a *pytrace.Trace, whose ops are one flat, pointer-free
//     slice with the same 16-byte layout as replay.c's op_t);
//   - one replay from an empty heap: a new obmalloc.Heap with CPython
//     3.11's layout and a new large-block allocator for requests of 0 or
//     more than 512 bytes (the C library's malloc on CPython's side);
//   - the table from block ID to pointer comes from mmap, not from the
//     allocator under test and not from the Go heap, and its pages are
//     faulted in before timing (replay.c's memset);
//   - the process's RSS high-water mark is reset just before the loop by
//     writing "5" to /proc/self/clear_refs and read from VmHWM after it
//     (where that cannot be done, off linux, the peak the OS keeps for the
//     process counts only if the loop raised it: procmem.Loop);
//   - only the loop is timed, with a monotonic clock. Each m, c and r calls
//     the allocator and, unless NoTouch, writes the first and last byte of
//     a block of size > 0 (so no allocator wins by never touching its
//     memory); each f frees. realloc(NULL, n) reads slot 0 of the table,
//     which is never written and so is nil, exactly as in replay.c;
//   - a nil result is counted, not checked for in detail, and is an error
//     after the loop;
//   - statistics are dumped between segments of the loop: the loop runs
//     once per segment ending at each requested op, so it carries no
//     per-op test, and the clock is stopped while dumping.
//
// Two things are Go's own. The Go garbage collector must neither scan the
// ID table (millions of slots) nor run during the loop, so the table lives
// off the Go heap, the loop allocates nothing on it, and Run collects (and
// returns freed pages to the OS, so RSS figures start from a clean heap)
// just before timing. And Run cleans up, which replay.c leaves to the
// process's exit: after the loop it checks that the heap holds exactly the
// trace's live blocks, frees them, checks the heap's invariants, closes
// it, and unmaps what its large-block allocator mapped (rawalloc never
// unmaps by itself), so that replays can follow each other in one process
// without each leaving its memory behind.
//
// # Fidelity
//
// At every op, the size-class rows of the heap's dump depend only on the
// trace (see fidelity/README.md beside the traces), so a dump after op N
// must equal CPython's after op N row for row; TestFidelity checks this on
// the public traces for both arena policies.
package replay
