package main

import (
	"fmt"
	"io"

	"github.com/gopymalloc/gopymalloc/bench"
)

// childFlag is the hidden first argument of a re-executed run.
const childFlag = bench.ChildFlag

// childCmd is one run in its own process: the parent reads the one line
// it prints.
func childCmd(args []string, stdout, stderr io.Writer) int {
	if err := bench.Child(args, stdout); err != nil {
		fmt.Fprintf(stderr, "cmpalloc %s: %v\n", childFlag, err)
		return exitFail
	}
	return exitOK
}
