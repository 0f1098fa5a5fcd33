package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// The summary tables, in Markdown so that docs/benchmarks.md takes them
// as printed. Every measured cell is "median (min–max)" over the runs;
// a figure a run did not report is "—".

// column is one column of a table: its title and how a group fills it.
type column struct {
	title string
	right bool // numbers are right-aligned
	cell  func(g Group) string
}

// writeMarkdown writes the rows as a Markdown table.
func writeMarkdown(w io.Writer, cols []column, rows []Group) error {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	titles := make([]string, len(cols))
	rules := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.title
		rules[i] = "---"
		if c.right {
			rules[i] = "---:"
		}
	}
	line(titles)
	line(rules)
	for _, g := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = c.cell(g)
		}
		line(cells)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

const missing = "—"

// Plural returns n and noun, with an s unless n is 1 ("1 round",
// "3 rounds"), for the counts the command's notes and messages print.
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// rangeCell shows a metric as "median (min–max)" with the given decimals,
// after multiplying by scale.
func rangeCell(metric string, decimals int, scale float64) func(Group) string {
	return func(g Group) string {
		s, ok := g.Metric(metric)
		if !ok {
			return missing
		}
		if s.Runs == 1 {
			return fmt.Sprintf("%.*f", decimals, s.Median*scale)
		}
		return fmt.Sprintf("%.*f (%.*f–%.*f)", decimals, s.Median*scale, decimals, s.Min*scale, decimals, s.Max*scale)
	}
}

// medianCell shows a metric's median alone. A count (decimals 0) whose
// median falls between two counts, over an even number of runs, keeps its
// half: 3.5 collections, not 4.
func medianCell(metric string, decimals int) func(Group) string {
	return func(g Group) string {
		s, ok := g.Metric(metric)
		if !ok {
			return missing
		}
		// A local: the closure serves every row of its column, and one
		// row's half must not give the next rows a decimal.
		d := decimals
		if d == 0 && s.Median != math.Trunc(s.Median) {
			d = 1
		}
		return fmt.Sprintf("%.*f", d, s.Median)
	}
}

// ratioCell shows the ratio of a metric's median to the median of the
// same metric in the group that base returns for g.
func ratioCell(metric string, base func(Group) (Group, bool)) func(Group) string {
	return func(g Group) string {
		s, ok := g.Metric(metric)
		b, found := base(g)
		if !ok || !found {
			return missing
		}
		bs, ok := b.Metric(metric)
		if !ok || bs.Median == 0 {
			return missing
		}
		return fmt.Sprintf("%.2f", s.Median/bs.Median)
	}
}

func runsCell(metric string) func(Group) string {
	return func(g Group) string {
		s, ok := g.Metric(metric)
		if !ok {
			return missing
		}
		return fmt.Sprint(s.Runs)
	}
}

func nameCell(g Group) string  { return g.Backend }
func traceCell(g Group) string { return g.Trace }

// ofKind returns the groups of one kind, in order.
func ofKind(groups []Group, kind string) []Group {
	var out []Group
	for _, g := range groups {
		if g.Kind == kind {
			out = append(out, g)
		}
	}
	return out
}

// WriteReplayTable writes the replay groups: per trace and backend, ns per
// op (wall clock of the loop), the CPU time per op of the whole process
// (higher than the wall clock where the collector works on the other
// core), the ratio of ns per op to base's on the same trace (no column if
// base is ""), the peak RSS, the resident bytes per requested byte and
// the number of collections during the loop.
func WriteReplayTable(w io.Writer, groups []Group, base string) error {
	cols := []column{
		{title: "trace", cell: traceCell},
		{title: "backend", cell: nameCell},
		{title: "runs", right: true, cell: runsCell("ns_per_op")},
		{title: "ns/op", right: true, cell: rangeCell("ns_per_op", 2, 1)},
	}
	if base != "" {
		cols = append(cols, column{title: "× " + base, right: true, cell: ratioCell("ns_per_op", func(g Group) (Group, bool) {
			return Find(groups, "replay", g.Trace, base)
		})})
	}
	cols = append(cols,
		column{title: "CPU ns/op", right: true, cell: medianCell("cpu_ns_per_op", 2)},
		column{title: "peak RSS MiB", right: true, cell: rangeCell("rss_peak_mib", 1, 1)},
		column{title: "resident / requested", right: true, cell: rangeCell("resident_per_requested", 2, 1)},
		column{title: "GCs", right: true, cell: medianCell("gc_cycles", 0)},
	)
	return writeMarkdown(w, cols, ofKind(groups, "replay"))
}

// WriteChurnTable writes the churn groups: ns per op (one free and one
// malloc) and the ratio to base's, with the churnmem figures of the same
// backend: the peak RSS and the resident bytes per requested byte of a
// fresh instance's window after a million pairs.
func WriteChurnTable(w io.Writer, groups []Group, base string) error {
	mem := memoryCell(groups, "churnmem")
	cols := []column{
		{title: "backend", cell: nameCell},
		{title: "runs", right: true, cell: runsCell("ns_per_op")},
		{title: "ns per free + malloc", right: true, cell: rangeCell("ns_per_op", 1, 1)},
	}
	if base != "" {
		cols = append(cols, column{title: "× " + base, right: true, cell: ratioCell("ns_per_op", func(Group) (Group, bool) {
			return Find(groups, "churn", "", base)
		})})
	}
	cols = append(cols,
		column{title: "peak RSS MiB", right: true, cell: mem("rss_peak_mib", 1)},
		column{title: "resident / requested", right: true, cell: mem("resident_per_requested", 3)},
	)
	return writeMarkdown(w, cols, ofKind(groups, "churn"))
}

// WriteBulkTable writes the bulk groups (ns per block, malloc and free,
// steady state) with the bulkmem figures of the same backend: the first,
// page-faulting pass, the peak RSS and the resident bytes per requested
// byte.
func WriteBulkTable(w io.Writer, groups []Group) error {
	mem := memoryCell(groups, "bulkmem")
	cols := []column{
		{title: "backend", cell: nameCell},
		{title: "runs", right: true, cell: runsCell("ns_per_op")},
		{title: "ns per block (malloc + free)", right: true, cell: rangeCell("ns_per_op", 1, 1)},
		{title: "first pass ns per malloc", right: true, cell: mem("first_pass_ns_per_block", 1)},
		{title: "peak RSS MiB", right: true, cell: mem("rss_peak_mib", 1)},
		{title: "resident / requested", right: true, cell: mem("resident_per_requested", 3)},
	}
	return writeMarkdown(w, cols, ofKind(groups, "bulk"))
}

// memoryCell returns the cells of a metric of the memory runs (kind) of
// the same backend as the row's.
func memoryCell(groups []Group, kind string) func(metric string, decimals int) func(Group) string {
	return func(metric string, decimals int) func(Group) string {
		return func(g Group) string {
			m, ok := Find(groups, kind, "", g.Backend)
			if !ok {
				return missing
			}
			return rangeCell(metric, decimals, 1)(m)
		}
	}
}

// WriteGCTable writes the gc groups: the time of one forced collection
// with the blocks held (each run's median), its ratio to the empty heap's,
// and the fastest collection of all runs. Waiting for the other core only
// ever adds time, so the fastest collection is the collector's own work
// with the least noise in it.
func WriteGCTable(w io.Writer, groups []Group) error {
	fastest := func(g Group) string {
		s, ok := g.Metric("gc_ms_min")
		if !ok {
			return missing
		}
		return fmt.Sprintf("%.3f", s.Min)
	}
	cols := []column{
		{title: "heap", cell: nameCell},
		{title: "live blocks", right: true, cell: medianCell("blocks", 0)},
		{title: "runs", right: true, cell: runsCell("gc_ms")},
		{title: "ms per runtime.GC()", right: true, cell: rangeCell("gc_ms", 3, 1)},
		{title: "× empty", right: true, cell: ratioCell("gc_ms", func(Group) (Group, bool) {
			return Find(groups, "gc", "", EmptyHeap)
		})},
		{title: "fastest ms", right: true, cell: fastest},
		{title: "Go heap MiB", right: true, cell: rangeCell("go_heap_kb", 0, 1.0/1024)},
	}
	return writeMarkdown(w, cols, ofKind(groups, "gc"))
}
