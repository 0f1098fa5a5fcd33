package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/internal/rawalloc"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// "demo experiment": one trace, several layouts, side by side. Each layout
// replays the trace into a fresh heap (traceRun); at each chosen point the
// heap's statistics and its large-block allocator's figures are taken,
// and the table puts the layouts in columns. The memory figures are
// exact, read from the allocator, so they are the experiment's result;
// the time per op comes from a loop that is not replay's careful one and
// is only for comparing the columns of one run.

// experimentSynopsis is the experiment subcommand's command line.
const experimentSynopsis = "demo experiment [-layout L]... [-at POINTS] [-arenas keep|release]" + synopsisBreak +
	"TRACE.gz..."

func experimentUsage(w io.Writer) {
	fmt.Fprint(w, "  "+experimentSynopsis+`
                replay a trace under several heap layouts and compare
                where the memory goes (docs/experiments.md explains how to
                read it); flags go before the trace files
    -layout L       a layout to compare, repeated for each column: 3.11
                    (also 3.10, 3.12), 3.9 (also 3.8), 3.7, or key=value
                    pairs over 3.11 (align, threshold, pool, arena,
                    arenas), e.g. -layout 3.11 -layout align=8 (default:
                    3.11 and 3.9)
    -at POINTS      where to compare, comma-separated: peak (the trace's
                    peak of live bytes), end, or op numbers (default
                    peak,end)
    -arenas POLICY  keep or release, for every layout that does not name
                    its own
`)
}

// layoutList collects repeated -layout flags.
type layoutList []layout

func (l *layoutList) String() string { return "" }

func (l *layoutList) Set(s string) error {
	lay, err := parseLayout(s)
	if err != nil {
		return err
	}
	*l = append(*l, lay)
	return nil
}

// snapshot is what one layout looks like at one point.
type snapshot struct {
	op       int
	stats    obmalloc.Stats
	large    rawalloc.Stats
	largeOps uint64
}

// layoutResult is one column.
type layoutResult struct {
	layout layout
	cfg    obmalloc.Config // defaults filled in
	snaps  []snapshot
	end    snapshot // after the trace's last op
	nsOp   float64
}

// experimentCmd is "demo experiment".
func experimentCmd(args []string, stdout, stderr io.Writer) int {
	c := newCLI("experiment", experimentSynopsis, experimentUsage, stdout, stderr)
	var layouts layoutList
	c.fs.Var(&layouts, "layout", "")
	at := c.fs.String("at", "peak,end", "")
	arenas := c.fs.String("arenas", "", "")
	if code, done := c.parse(args); done {
		return code
	}
	paths := c.fs.Args()
	if len(paths) == 0 {
		return c.bad("no trace file given")
	}
	for _, p := range paths {
		if strings.HasPrefix(p, "-") {
			return c.bad("%q after the trace files: flags go before them", p)
		}
	}
	if len(layouts) == 0 {
		for _, name := range []string{"3.11", "3.9"} {
			l, _ := parseLayout(name)
			layouts = append(layouts, l)
		}
	}
	if *arenas != "" {
		p, err := obmalloc.ParseArenaPolicy(*arenas)
		if err != nil {
			return c.bad("-arenas %q: want keep or release", *arenas)
		}
		applied := false
		for i := range layouts {
			if !strings.Contains(layouts[i].name, "arenas=") {
				layouts[i].cfg.Policy = p
				applied = true
			}
		}
		if !applied {
			return c.bad("-arenas %s: every -layout names its own arenas=, so it applies to none", *arenas)
		}
	}
	for _, item := range strings.Split(*at, ",") {
		if item != "peak" && item != "end" {
			if _, err := pytrace.ParsePoints(item); err != nil {
				return c.bad("-at %q: %v", *at, err) // the item alone may not say which
			}
		}
	}

	// Every trace is read and its points checked before anything is
	// printed: a bad input file is a usage error, with nothing on stdout.
	// As replay, only the first is kept; the others are read again in
	// turn, so that memory holds one trace at a time.
	prog := newProgress(stderr)
	traces := make([]*pytrace.Trace, len(paths))
	pointsOf := make([][]int, len(paths))
	for i, path := range paths {
		t, err := loadTrace(path, prog)
		if err != nil {
			return c.fail(errUsage{err})
		}
		if pointsOf[i], err = experimentPoints(t, *at); err != nil {
			return c.fail(errUsage{fmt.Errorf("-at %q: %v (%s)", *at, err, path)})
		}
		if i == 0 {
			traces[i] = t
		}
	}
	for i, t := range traces {
		if t == nil {
			var err error
			if t, err = loadTrace(paths[i], prog); err != nil {
				return c.fail(err) // changed since it was read
			}
		}
		traces[i] = nil
		points := pointsOf[i]
		var results []layoutResult
		for _, l := range layouts {
			res, err := runLayout(t, l, points, prog)
			if err != nil {
				return c.fail(err)
			}
			results = append(results, res)
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := writeExperiment(stdout, t, results); err != nil {
			return c.fail(err)
		}
	}
	return exitOK
}

// experimentPoints resolves -at against a trace: ascending op numbers,
// duplicates dropped (the peak may be the end).
func experimentPoints(t *pytrace.Trace, at string) ([]int, error) {
	var pts []int
	for _, item := range strings.Split(at, ",") {
		n, err := resolveStop(t, item)
		if err != nil {
			return nil, err
		}
		pts = append(pts, n)
	}
	// Sort (a handful of points: insertion sort) and drop duplicates.
	for i := 1; i < len(pts); i++ {
		for j := i; j > 0 && pts[j] < pts[j-1]; j-- {
			pts[j], pts[j-1] = pts[j-1], pts[j]
		}
	}
	out := pts[:0]
	for i, p := range pts {
		if i == 0 || p != pts[i-1] {
			out = append(out, p)
		}
	}
	return out, nil
}

// runLayout replays t under one layout, snapshotting at each point.
func runLayout(t *pytrace.Trace, l layout, points []int, p *progress) (res layoutResult, err error) {
	r, err := newTraceRun(t, l.cfg)
	if err != nil {
		return res, fmt.Errorf("layout %s: %w", l.name, err)
	}
	defer func() { err = errors.Join(err, r.close()) }()
	res = layoutResult{layout: l, cfg: r.h.Config()}
	p.start(fmt.Sprintf("replaying %s under %s", t.Name, l.name))
	defer p.finish()
	for _, pt := range points {
		if err := r.runTo(pt, p); err != nil {
			return res, fmt.Errorf("layout %s: %w", l.name, err)
		}
		res.snaps = append(res.snaps, snapshot{op: pt, stats: r.h.Stats(), large: r.large.Stats(), largeOps: r.largeOps})
	}
	if err := r.runTo(len(t.Ops), p); err != nil {
		return res, fmt.Errorf("layout %s: %w", l.name, err)
	}
	res.end = snapshot{op: len(t.Ops), stats: r.h.Stats(), large: r.large.Stats(), largeOps: r.largeOps}
	if r.pos > 0 {
		res.nsOp = float64(r.loop.Nanoseconds()) / float64(r.pos)
	}
	return res, nil
}

// writeExperiment prints the table: a section per point, a row per
// figure, a column per layout.
func writeExperiment(w io.Writer, t *pytrace.Trace, results []layoutResult) error {
	fmt.Fprintf(w, "experiment: trace %s, %s, peak of live bytes %s after op %s\n",
		t.Name, count(len(t.Ops), "op"), withCommas(t.Stats.PeakLiveBytes), withCommas(uint64(t.Stats.PeakLiveBytesOp)))
	width := 0
	for _, r := range results {
		width = max(width, len(r.layout.name))
	}
	for _, r := range results {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r.layout.name, describe(r.cfg))
	}
	// tabwriter aligns every column one way; the labels are padded to one
	// width by hand so that, aligned right, they read as aligned left.
	const labelW = 36
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := func(label string) {
		// A blank line of empty cells, not "\n", which would end
		// tabwriter's column block and let each section find its own
		// column widths.
		fmt.Fprintln(tw, strings.Repeat("\t", len(results)+1))
		fmt.Fprintf(tw, "%-*s\t", labelW, label)
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t", r.layout.name)
		}
		fmt.Fprintln(tw)
	}
	row := func(label string, f func(r layoutResult) string) {
		fmt.Fprintf(tw, "%-*s\t", labelW, "  "+label)
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t", f(r))
		}
		fmt.Fprintln(tw)
	}
	n := func(v uint64) string { return withCommas(v) }
	pct := func(part, whole uintptr) string {
		if whole == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
	}
	for i, op := range results[0].snaps {
		where := fmt.Sprintf("after op %s", withCommas(uint64(op.op)))
		switch {
		case op.op == len(t.Ops):
			where = "at the end (" + where + ")"
		case op.op == t.Stats.PeakLiveBytesOp:
			where = "at the peak (" + where + ")"
		}
		head(where)
		s := func(r layoutResult) *obmalloc.Stats { return &r.snaps[i].stats }
		row("arenas mapped", func(r layoutResult) string { return n(uint64(s(r).ArenasCurrent)) })
		row("arena bytes", func(r layoutResult) string { return n(uint64(s(r).ArenaBytes())) })
		row("pools in use", func(r layoutResult) string { return n(uint64(poolsInUse(*s(r)))) })
		row("bytes in allocated blocks", func(r layoutResult) string { return n(uint64(s(r).BytesInAllocatedBlocks)) })
		row("  share of the arena bytes", func(r layoutResult) string { return pct(s(r).BytesInAllocatedBlocks, s(r).ArenaBytes()) })
		row("bytes in available blocks", func(r layoutResult) string { return n(uint64(s(r).BytesInAvailableBlocks)) })
		row("bytes in unused pools", func(r layoutResult) string { return n(uint64(uintptr(s(r).UnusedPools) * s(r).PoolSize)) })
		row("lost to pool headers", func(r layoutResult) string { return n(uint64(s(r).BytesLostToPoolHeaders)) })
		row("lost to quantization", func(r layoutResult) string { return n(uint64(s(r).BytesLostToQuantization)) })
		row("lost to arena alignment", func(r layoutResult) string { return n(uint64(s(r).BytesLostToArenaAlignment)) })
		row("blocks of the large allocator", func(r layoutResult) string { return n(uint64(s(r).RawAllocatedBlocks)) })
		row("  their bytes (capacity)", func(r layoutResult) string { return n(uint64(r.snaps[i].large.LiveBytes)) })
		row("arena bytes + large blocks", func(r layoutResult) string {
			return n(uint64(s(r).ArenaBytes() + r.snaps[i].large.LiveBytes))
		})
	}
	// The whole trace, whatever the points: every layout replays to the
	// end, and ns per op is timed over all of it.
	head("whole run")
	end := func(r layoutResult) obmalloc.Stats { return r.end.stats }
	row("arenas highwater", func(r layoutResult) string { return n(uint64(end(r).ArenasHighwater)) })
	row("  their bytes", func(r layoutResult) string { return n(uint64(uintptr(end(r).ArenasHighwater) * r.cfg.ArenaSize)) })
	row("arenas mapped in all", func(r layoutResult) string { return n(uint64(end(r).ArenasAllocatedTotal)) })
	row("large allocator mapped", func(r layoutResult) string { return n(uint64(r.end.large.MappedBytes)) })
	row("requests past the pools", func(r layoutResult) string { return n(r.end.largeOps) })
	row("ns per op (indicative)", func(r layoutResult) string { return fmt.Sprintf("%.1f", r.nsOp) })
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n") {
		if _, err := io.WriteString(w, strings.TrimRight(line, " ")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// poolsInUse counts the pools with a block in use.
func poolsInUse(s obmalloc.Stats) int {
	n := 0
	for _, c := range s.Classes {
		n += c.Pools
	}
	return n
}
