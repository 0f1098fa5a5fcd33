// Command demo walks through how Python manages memory, on gopymalloc's
// port of CPython 3.11's allocator. The story itself will live here; for
// now the demo has one subcommand, replay, which replays real CPython
// allocation traces through the allocator and prints its measurements and
// its statistics in the layout of CPython's sys._debugmallocstats():
//
//	go run ./cmd/demo replay [-stats] [-stats-at N1,N2,...] [-arenas keep|release] [-no-touch] TRACE.gz...
//
// main only hands its arguments to run, which returns the exit status, so
// the tests drive the whole command without a process: 0 on success, 1 when
// a replay fails, 2 for a usage error or a bad input file.
package main
