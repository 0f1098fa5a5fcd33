package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses of run.
const (
	exitOK    = 0
	exitFail  = 1 // the work itself failed
	exitUsage = 2 // bad arguments or input; nothing was done
)

// run is the whole command: it dispatches args to a subcommand and
// returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stdout)
		return exitOK
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "replay":
		return replayCmd(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "demo: unknown subcommand %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

// usage describes the demo and each subcommand.
func usage(w io.Writer) {
	fmt.Fprint(w, `demo: how Python manages its memory, shown on gopymalloc (CPython 3.11's
pymalloc in Go). The story of Python's memory management will live here;
for now: replay.

usage:
  demo help     this text
`)
	replayUsage(w)
}
