package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/internal/replay"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// replaySynopsis is the replay subcommand's command line.
const replaySynopsis = "demo replay [-stats] [-stats-at N1,N2,...] [-arenas keep|release]" + synopsisBreak +
	"[-no-touch] [-hugepages] [-prefault] [-repeat N]" + synopsisBreak +
	"[-cpuprofile FILE] TRACE.gz..."

// replayUsage describes the replay subcommand.
func replayUsage(w io.Writer) {
	fmt.Fprint(w, "  "+replaySynopsis+`
                replay CPython allocation traces (format:
                ../shared/traces/FORMAT.md) through a fresh heap each,
                printing one key=value line of measurements per trace (the
                keys of the C replayer, so the figures compare) and, if
                asked, the heap's statistics in the layout of CPython's
                sys._debugmallocstats(). Every trace is read and checked
                before the first replay. Flags go before the trace files:
    -stats          print the statistics after the last op
    -stats-at LIST  print them after each op of LIST (ops counted from 1,
                    strictly ascending, within every trace), e.g. 778045,1556090
    -arenas POLICY  keep (default): never unmap an arena, this port's
                    policy; release: unmap an empty arena but the one wholly
                    free arena kept last, as CPython 3.11 does
    -no-touch       do not write the first and last byte of each new block
    -hugepages      an experiment: carve the arenas out of 64 MiB
                    reservations on transparent huge pages (linux; see
                    docs/experiments.md) instead of one mmap per arena
    -prefault       have the next arenas and the large blocks' fresh memory
                    made resident ahead of need by other goroutines, instead
                    of taking every page fault in the loop as CPython does
    -repeat N       replay each trace N times, a fresh heap each time, one
                    line per replay (default 1)
    -cpuprofile F   write a CPU profile of the replays to F (go tool pprof;
                    it covers each replay's set-up and teardown too)
`)
}

// replayCmd is "demo replay". All arguments and all traces are checked
// before the first replay, so a mistake costs no replay and prints nothing
// on stdout.
func replayCmd(args []string, stdout, stderr io.Writer) int {
	c := newCLI("replay", replaySynopsis, replayUsage, stdout, stderr)
	stats := c.fs.Bool("stats", false, "")
	statsAt := c.fs.String("stats-at", "", "")
	arenas := c.fs.String("arenas", "keep", "")
	noTouch := c.fs.Bool("no-touch", false, "")
	hugePages := c.fs.Bool("hugepages", false, "")
	prefault := c.fs.Bool("prefault", false, "")
	repeat := c.fs.Int("repeat", 1, "")
	cpuprofile := c.fs.String("cpuprofile", "", "")
	if code, done := c.parse(args); done {
		return code
	}
	paths := c.fs.Args()
	if len(paths) == 0 {
		return c.bad("no trace file given")
	}
	// After "--" a name may start with "-"; otherwise that is a flag put
	// after the files, which flag does not parse.
	if afterDashes := len(args) > len(paths) && args[len(args)-len(paths)-1] == "--"; !afterDashes {
		for _, p := range paths {
			if strings.HasPrefix(p, "-") {
				return c.bad("%q after the trace files: flags go before them", p)
			}
		}
	}
	if *repeat < 1 {
		return c.bad("-repeat %d: want at least 1", *repeat)
	}
	policy, err := obmalloc.ParseArenaPolicy(*arenas)
	if err != nil {
		return c.bad("-arenas %q: want keep or release", *arenas)
	}
	// The syntax of -stats-at is checked before the (slow) reading, its
	// range against each trace after. Given, even empty, it is a list.
	statsAtSet := flagGiven(c.fs, "stats-at")
	if statsAtSet {
		if _, err := pytrace.ParsePoints(*statsAt); err != nil {
			return c.bad("-stats-at: %v", err)
		}
	}

	// Every trace is read and validated before any replays. Only the
	// first is kept; the others are read again in turn, so that no replay
	// runs with another trace in memory and rss_peak_kb stays what one
	// replay per process would measure.
	traces := make([]*pytrace.Trace, len(paths))
	points := make([][]int, len(paths))
	prog := newProgress(stderr)
	for i, p := range paths {
		t, err := loadTrace(p, prog)
		if err != nil {
			return c.fail(errUsage{err})
		}
		if statsAtSet {
			if points[i], err = t.ParsePoints(*statsAt); err != nil {
				return c.fail(errUsage{fmt.Errorf("-stats-at: %v (%s)", err, paths[i])})
			}
		}
		if i == 0 {
			traces[i] = t
		}
	}

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			return c.fail(errUsage{fmt.Errorf("-cpuprofile: %v", err)})
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	for i, t := range traces {
		if t == nil {
			if t, err = loadTrace(paths[i], prog); err != nil {
				// Changed since it was validated: the work failed.
				return c.fail(err)
			}
		}
		for range *repeat {
			res, err := replay.Run(t, replay.Options{
				Policy:     policy,
				NoTouch:    *noTouch,
				HugePages:  *hugePages,
				Prefault:   *prefault,
				StatsAt:    points[i],
				StatsAtEnd: *stats,
				Stats:      stdout,
			})
			if err != nil {
				return c.fail(err)
			}
			if _, err := fmt.Fprintln(stdout, res); err != nil {
				return c.fail(fmt.Errorf("writing the result: %w", err))
			}
		}
		// Let the collector take this trace back before the next replay,
		// whose RSS figures would otherwise include it.
		traces[i], t = nil, nil
	}
	return exitOK
}
