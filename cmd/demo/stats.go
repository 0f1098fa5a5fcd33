package main

import (
	"errors"
	"fmt"
	"io"
)

// statsSynopsis is the stats subcommand's command line.
const statsSynopsis = "demo stats " + heapSourceSynopsis

func statsUsage(w io.Writer) {
	fmt.Fprint(w, "  "+statsSynopsis+`
                the statistics of a heap in the layout of CPython's
                sys._debugmallocstats(), after the built-in workload or
                part of a trace, on any layout
`+heapSourceHelp)
}

// statsCmd is "demo stats": the dump that CPython users know, for a heap
// of their choosing. Two "===" lines say what the heap is first, as
// replay's dumps start with one.
func statsCmd(args []string, stdout, stderr io.Writer) int {
	c := newCLI("stats", statsSynopsis, statsUsage, stdout, stderr)
	var src heapSource
	src.register(c.fs)
	if code, done := c.parse(args); done {
		return code
	}
	if code, done := c.noArgs(); done {
		return code
	}
	l, err := src.config()
	if err != nil {
		return c.bad("%v", err)
	}
	sh, err := src.build(l, newProgress(stderr))
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(stdout, "=== %s\n=== layout %s: %s\n", sh.what, l.name, describe(sh.h.Config()))
	if err := errors.Join(sh.h.WriteDebugMallocStats(stdout), sh.close()); err != nil {
		return c.fail(err)
	}
	return exitOK
}
