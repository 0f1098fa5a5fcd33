package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gopymalloc/gopymalloc/bench"
)

// common are the flags every measuring command has.
type common struct {
	rounds   int
	backends string
	raw      string
	csv      bool
	idleWait time.Duration
}

func (c *common) register(fs *flag.FlagSet) {
	fs.IntVar(&c.rounds, "rounds", 5, "")
	fs.StringVar(&c.backends, "backends", "all", "")
	fs.StringVar(&c.raw, "o", "", "")
	fs.BoolVar(&c.csv, "csv", false, "")
	fs.DurationVar(&c.idleWait, "wait-idle", 0, "")
}

// newFlags returns a flag set that reports its errors on stderr.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("cmpalloc "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	return fs
}

// measureRun runs the job sets and prints the summary: the part every
// measuring command shares. It writes the raw records, with a header that
// says when, where and with what command they were measured, to c.raw.
func measureRun(cmdline []string, c common, sets [][]bench.Job, base string, stdout, stderr io.Writer) int {
	if c.rounds < 1 {
		fmt.Fprintf(stderr, "cmpalloc %s: -rounds %d: want at least 1\n", cmdline[0], c.rounds)
		return exitUsage
	}
	if c.idleWait < 0 {
		fmt.Fprintf(stderr, "cmpalloc %s: -wait-idle %v: want 0 (no wait) or more\n", cmdline[0], c.idleWait)
		return exitUsage
	}
	rn := bench.Runner{Rounds: c.rounds, Progress: stderr, Stderr: stderr, IdleWait: c.idleWait}
	if c.raw != "" {
		f, err := os.Create(c.raw)
		if err != nil {
			fmt.Fprintln(stderr, "cmpalloc:", err)
			return exitFail
		}
		defer f.Close()
		for _, line := range header(cmdline, c.rounds) {
			fmt.Fprintln(f, line)
		}
		rn.Raw = f
	}
	recs, err := rn.Run(sets)
	if err != nil {
		if rn.Raw != nil {
			// The records so far stay, marked, so that table and chart
			// do not take them for whole rounds.
			fmt.Fprintln(rn.Raw, "# stopped: "+strings.Join(strings.Fields(err.Error()), " "))
		}
		fmt.Fprintf(stderr, "cmpalloc %s: %v\n", cmdline[0], err)
		return exitFail
	}
	if err := summary(stdout, bench.Summarize(recs), base, c.csv); err != nil {
		fmt.Fprintln(stderr, "cmpalloc:", err)
		return exitFail
	}
	return exitOK
}

// header describes the measurement for the raw file: the command line,
// the rounds asked for (table and chart check that the records make them
// all), the date, the Go version, the processor.
func header(cmdline []string, rounds int) []string {
	return []string{
		"# cmpalloc " + strings.Join(cmdline, " "),
		"# rounds: " + strconv.Itoa(rounds),
		"# date: " + time.Now().UTC().Format(time.RFC3339),
		"# go: " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		"# cpu: " + cpuModel() + ", " + strconv.Itoa(runtime.NumCPU()) + " logical CPUs, GOMAXPROCS " + strconv.Itoa(runtime.GOMAXPROCS(0)),
		"# GOGC: " + cmp.Or(os.Getenv("GOGC"), "unset") + " (the children inherit it)",
	}
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "unknown".
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// self is the path of this executable, which the jobs re-execute.
func self() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot re-execute myself: %w", err)
	}
	return p, nil
}

// summary prints the tables of every kind present, or the CSV.
func summary(w io.Writer, groups []bench.Group, base string, csv bool) error {
	if csv {
		return bench.WriteCSV(w, groups)
	}
	kinds := map[string]bool{}
	for _, g := range groups {
		kinds[g.Kind] = true
	}
	var errs []error
	section := func(title string, write func() error) {
		fmt.Fprintf(w, "%s\n\n", title)
		errs = append(errs, write())
		fmt.Fprintln(w)
	}
	if kinds["replay"] {
		section("Trace replay: medians (min–max) over the rounds", func() error {
			return bench.WriteReplayTable(w, groups, base)
		})
	}
	if kinds["churn"] {
		section("Churn: medians (min–max) over the rounds", func() error {
			return bench.WriteChurnTable(w, groups, base)
		})
	}
	if kinds["bulk"] {
		section("Bulk: medians (min–max) over the rounds", func() error { return bench.WriteBulkTable(w, groups) })
	}
	if kinds["gc"] {
		section("Forced runtime.GC() with live blocks: medians (min–max) over the rounds", func() error {
			return bench.WriteGCTable(w, groups)
		})
	}
	return errors.Join(errs...)
}

// replayCmd is "cmpalloc replay".
func replayCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("replay", stderr)
	var c common
	c.register(fs)
	var replayers multiFlag
	fs.Var(&replayers, "c-replayer", "")
	base := fs.String("base", "", "")
	noTouch := fs.Bool("no-touch", false, "")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	backends, err := bench.ParseBackends(c.backends)
	if err == nil {
		err = bench.CheckBackends(backends)
	}
	if err != nil {
		fmt.Fprintln(stderr, "cmpalloc replay:", err)
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "cmpalloc replay: no trace given")
		return exitUsage
	}
	// Everything a child would trip over is checked here, before the
	// first run: a table is made of whole rounds or not at all.
	names := map[string]string{}
	for _, p := range fs.Args() {
		name := bench.TraceName(p)
		if other, ok := names[name]; ok {
			fmt.Fprintf(stderr, "cmpalloc replay: %s and %s are both trace %q: their rows would be merged\n", other, p, name)
			return exitUsage
		}
		names[name] = p
		if _, err := bench.ReadTrace(p); err != nil {
			fmt.Fprintln(stderr, "cmpalloc replay:", err)
			return exitUsage
		}
	}
	rnames := map[string]string{}
	for _, r := range replayers {
		name := bench.ReplayerName(r)
		if other, ok := rnames[name]; ok {
			fmt.Fprintf(stderr, "cmpalloc replay: -c-replayer %s and %s are both backend %q: their rows would be merged\n", other, r, name)
			return exitUsage
		}
		rnames[name] = r
		if info, err := os.Stat(r); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			if err == nil {
				err = fmt.Errorf("%s: not an executable file", r)
			}
			fmt.Fprintln(stderr, "cmpalloc replay: -c-replayer:", err)
			return exitUsage
		}
	}
	me, err := self()
	if err != nil {
		fmt.Fprintln(stderr, "cmpalloc replay:", err)
		return exitFail
	}
	var sets [][]bench.Job
	for _, trace := range fs.Args() {
		var set []bench.Job
		name := bench.TraceName(trace)
		for _, b := range backends {
			argv := []string{me}
			argv = append(argv, bench.ChildArgs("replay", b.Name)...)
			if *noTouch {
				argv = append(argv, "-no-touch")
			}
			set = append(set, bench.Job{
				Label: b.Name + " " + name,
				Argv:  append(argv, trace),
				Set:   map[string]string{"kind": "replay"},
			})
		}
		for _, r := range replayers {
			argv := []string{r}
			if *noTouch {
				argv = append(argv, "--no-touch")
			}
			rname := bench.ReplayerName(r)
			set = append(set, bench.Job{
				Label: rname + " " + name,
				Argv:  append(argv, trace),
				Set:   map[string]string{"kind": "replay", "backend": rname},
			})
		}
		sets = append(sets, set)
	}
	if *base == "" {
		for _, r := range replayers {
			if bench.ReplayerName(r) == "c-pymalloc" {
				*base = "c-pymalloc"
			}
		}
	} else if !slices.ContainsFunc(backends, func(b bench.Backend) bool { return b.Name == *base }) &&
		!slices.ContainsFunc(replayers, func(r string) bool { return bench.ReplayerName(r) == *base }) {
		fmt.Fprintf(stderr, "cmpalloc replay: -base %q: not a backend or C replayer of this run\n", *base)
		return exitUsage
	}
	return measureRun(append([]string{"replay"}, args...), c, sets, *base, stdout, stderr)
}

// workloadCmd is "cmpalloc churn" and "cmpalloc bulk".
func workloadCmd(kind string) func([]string, io.Writer, io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		fs := newFlags(kind, stderr)
		var c common
		c.register(fs)
		benchtime := fs.String("benchtime", "1s", "")
		base := fs.String("base", "gopymalloc", "")
		if err := fs.Parse(args); err != nil {
			return exitUsage
		}
		backends, err := bench.ParseBackends(c.backends)
		if err == nil {
			err = bench.CheckBackends(backends)
		}
		if err == nil && fs.NArg() > 0 {
			err = fmt.Errorf("unexpected arguments %q", fs.Args())
		}
		if err == nil {
			err = bench.CheckBenchtime(*benchtime)
		}
		if err == nil && kind != "churn" && isSet(fs, "base") {
			err = fmt.Errorf("-base %q: only churn has a ratio column", *base)
		}
		if err != nil {
			fmt.Fprintf(stderr, "cmpalloc %s: %v\n", kind, err)
			return exitUsage
		}
		me, err := self()
		if err != nil {
			fmt.Fprintf(stderr, "cmpalloc %s: %v\n", kind, err)
			return exitFail
		}
		var timed, memory []bench.Job
		for _, b := range backends {
			timed = append(timed, bench.Job{
				Label: kind + " " + b.Name,
				Argv:  append([]string{me}, bench.ChildArgs(kind, b.Name, "-benchtime", *benchtime)...),
			})
			memory = append(memory, bench.Job{
				Label: kind + "mem " + b.Name,
				Argv:  append([]string{me}, bench.ChildArgs(kind+"mem", b.Name)...),
			})
		}
		sets := [][]bench.Job{timed, memory}
		if kind != "churn" {
			*base = ""
		} else if !slices.ContainsFunc(backends, func(b bench.Backend) bool { return b.Name == *base }) {
			if isSet(fs, "base") {
				fmt.Fprintf(stderr, "cmpalloc churn: -base %q: not a backend of this run\n", *base)
				return exitUsage
			}
			*base = "" // the default base is not in this run: no ratio column
		}
		return measureRun(append([]string{kind}, args...), c, sets, *base, stdout, stderr)
	}
}

// gcCmd is "cmpalloc gc".
func gcCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("gc", stderr)
	var c common
	c.register(fs)
	blocks := fs.Int("blocks", bench.DefaultGCOptions.Blocks, "")
	size := fs.Uint("size", uint(bench.DefaultGCOptions.Size), "")
	collections := fs.Int("collections", bench.DefaultGCOptions.Collections, "")
	warmup := fs.Duration("warmup", bench.DefaultGCOptions.WarmUp, "")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	backends, err := bench.ParseBackends(c.backends)
	if err == nil {
		err = bench.CheckBackends(backends)
	}
	if err == nil {
		err = bench.GCOptions{Blocks: *blocks, Size: uintptr(*size), Collections: *collections, WarmUp: *warmup}.Check()
	}
	if err != nil {
		fmt.Fprintln(stderr, "cmpalloc gc:", err)
		return exitUsage
	}
	me, err := self()
	if err != nil {
		fmt.Fprintln(stderr, "cmpalloc gc:", err)
		return exitFail
	}
	extra := []string{"-blocks", strconv.Itoa(*blocks), "-size", strconv.FormatUint(uint64(*size), 10),
		"-collections", strconv.Itoa(*collections), "-warmup", warmup.String()}
	names := []string{bench.EmptyHeap}
	for _, b := range backends {
		names = append(names, b.Name)
	}
	var set []bench.Job
	for _, n := range names {
		set = append(set, bench.Job{Label: "gc " + n, Argv: append([]string{me}, bench.ChildArgs("gc", n, extra...)...)})
	}
	return measureRun(append([]string{"gc"}, args...), c, [][]bench.Job{set}, "", stdout, stderr)
}

// multiFlag collects a repeated flag's values.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
