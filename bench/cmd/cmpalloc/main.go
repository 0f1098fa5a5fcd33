// Command cmpalloc measures gopymalloc side by side with the allocators a
// Go program can use instead (modernc.org/memory, the Go heap, sync.Pool,
// a plain free list as the floor) and, through their own binaries, the C
// reference replayers (CPython's pymalloc, glibc, mimalloc, jemalloc).
//
//	cmpalloc replay [-rounds N] [-backends a,b] [-c-replayer PATH]... [-base NAME] [-no-touch] [-wait-idle D] [-o RAW] [-csv] TRACE.gz...
//	cmpalloc churn  [-rounds N] [-backends a,b] [-benchtime D] [-base NAME] [-wait-idle D] [-o RAW] [-csv]
//	cmpalloc bulk   [-rounds N] [-backends a,b] [-benchtime D] [-wait-idle D] [-o RAW] [-csv]
//	cmpalloc gc     [-rounds N] [-backends a,b] [-blocks N] [-size N] [-collections N] [-warmup D] [-wait-idle D] [-o RAW] [-csv]
//	cmpalloc profile -backend NAME [-repeat N] -o FILE TRACE.gz
//	cmpalloc trace  churn|bulk [-pairs N] -o FILE.trace.gz
//	cmpalloc table  [-csv] [-base NAME] [-incomplete] RAW...
//	cmpalloc chart  -o FILE.svg [-title T] [-note N] [-incomplete] RAW...
//	cmpalloc backends
//
// Every measurement runs in a fresh process (the command re-executes
// itself), backends interleaved round by round, and the tables show
// medians with the min–max over the rounds. The bench package's doc.go
// explains the method.
//
// The C replayers only replay traces, so "cmpalloc trace" writes the churn
// and bulk workloads as pytrace files for them (and for demo replay).
package main

import (
	"fmt"
	"io"
	"os"
)

const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

const usage = `usage:
  cmpalloc replay [-rounds N] [-backends a,b,...] [-c-replayer PATH]... [-base NAME] [-no-touch] [-o RAW] [-csv] TRACE.gz...
        replay each trace once per round through each backend, each run in
        a fresh process; -c-replayer adds a C reference replayer
        (cpython-replay's replay-pymalloc, ...) to the same rounds
  cmpalloc churn [-rounds N] [-backends ...] [-benchtime D] [-base NAME] [-o RAW] [-csv]
        the allocator core's churn workload (ns per free + malloc)
  cmpalloc bulk [-rounds N] [-backends ...] [-benchtime D] [-o RAW] [-csv]
        the bulk workload (ns per block) and the resident bytes per
        requested byte of its 1,000,000 blocks of 16..256 bytes
  cmpalloc gc [-rounds N] [-backends ...] [-blocks N] [-size N] [-collections N] [-warmup D] [-o RAW] [-csv]
        the time of a forced runtime.GC() while N blocks are held, against
        an empty heap, after D (default 300ms) of busy CPU
  cmpalloc profile -backend NAME [-repeat N] -o FILE TRACE.gz
        replay a trace N times (default 10) through one backend in this
        process under the CPU profiler, for go tool pprof
  cmpalloc trace churn|bulk [-pairs N] -o FILE.trace.gz
        write the churn workload (its window, then N free + malloc pairs,
        default 3,000,000) or one round of the bulk workload as a pytrace 1
        trace, so the C replayers and demo replay run the same ops
  cmpalloc table [-csv] [-base NAME] [-incomplete] RAW...
        the tables again, from the records that -o saved; a file whose
        records fall short of the rounds it asked for (the run failed or
        was stopped) is refused unless -incomplete
  cmpalloc chart -o FILE.svg [-title T] [-note N] [-incomplete] RAW...
        an SVG bar chart of the replay figures in RAW, with the C
        reference figures from elsewhere beside them
  cmpalloc backends
        list the backends

  -rounds N     rounds (default 5); every figure is a median over them
  -backends L   comma-separated backend names (default: all)
  -o RAW        also write every run's key=value record to RAW, after a
                header (command, rounds, date, Go, processor); a run that
                fails ends it with a "# stopped:" line
  -wait-idle D  before each run, wait up to D for the machine to be idle
                (less than a quarter of a core busy); for shared machines
  -csv          print the summary as CSV instead of Markdown tables
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) int{
		"replay":   replayCmd,
		"churn":    workloadCmd("churn"),
		"bulk":     workloadCmd("bulk"),
		"gc":       gcCmd,
		"profile":  profileCmd,
		"trace":    traceCmd,
		"table":    tableCmd,
		"chart":    chartCmd,
		"backends": backendsCmd,
		childFlag:  childCmd,
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "cmpalloc: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
	return cmd(args[1:], stdout, stderr)
}
