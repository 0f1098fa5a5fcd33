package main

import (
	"fmt"
	"io"
	"os"
	"strings"
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

// subcommand is one word of the command line and what it runs. The
// demo's usage lists each synopsis and summary; "demo NAME -h" prints the
// subcommand's own usage, which explains its flags.
type subcommand struct {
	name     string
	synopsis string
	summary  string
	run      func(args []string, stdout, stderr io.Writer) int
}

// subcommands in the order the usage lists them. A function, not a
// variable, because the usage of each refers back to the list.
func subcommands() []subcommand {
	return []subcommand{
		{"story", storySynopsis, "how Python manages memory, in five chapters", storyCmd},
		{"stats", statsSynopsis, "a heap's statistics, in sys._debugmallocstats()'s layout", statsCmd},
		{"gc", gcSynopsis, "build an object graph, drop it, and watch the cycle collector", gcCmd},
		{"heapmap", heapmapSynopsis, "a picture of the heap: arenas, pools, size classes, fullness", heapmapCmd},
		{"replay", replaySynopsis, "replay CPython allocation traces and measure", replayCmd},
		{"experiment", experimentSynopsis, "one trace under several heap layouts, side by side", experimentCmd},
	}
}

// run is the whole command: it dispatches args to a subcommand and
// returns the exit status. Without arguments it tells the story, because
// that is what someone who types "go run ./cmd/demo" came for.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return storyCmd(nil, stdout, stderr)
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		// "demo help gc" is "demo gc -h", as go help does.
		if len(args) == 2 && args[0] == "help" {
			for _, s := range subcommands() {
				if s.name == args[1] {
					return s.run([]string{"-h"}, stdout, stderr)
				}
			}
		}
		if len(args) > 1 {
			fmt.Fprintf(stderr, "demo: %q: want demo help or demo help SUBCOMMAND\n\n", strings.Join(args, " "))
			usage(stderr)
			return exitUsage
		}
		usage(stdout)
		return exitOK
	}
	for _, s := range subcommands() {
		if s.name == args[0] {
			return s.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "demo: unknown subcommand %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

// usage describes the demo and each subcommand.
func usage(w io.Writer) {
	fmt.Fprint(w, `demo: how Python manages its memory, shown on gopymalloc (CPython 3.11's
pymalloc and cycle collector in Go). Every figure it prints comes from the
running allocator.

usage:
  demo
        the story (the same as "demo story")
`)
	for _, s := range subcommands() {
		fmt.Fprintf(w, "  %s\n        %s\n", s.synopsis, s.summary)
	}
	fmt.Fprint(w, `  demo help [SUBCOMMAND]
        this text, or a subcommand's flags

"demo SUBCOMMAND -h" (or "demo help SUBCOMMAND") explains a subcommand's
flags; cmd/demo/doc.go and docs/experiments.md say more.
`)
}
