package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gopymalloc/gopymalloc/bench"
)

// readRaw reads the records of raw files written by -o, and their
// comment lines. A file whose records do not make the whole rounds its
// header asked for (incomplete) is an error, unless allowIncomplete:
// then it is a warning on warn.
func readRaw(paths []string, allowIncomplete bool, warn io.Writer) ([]bench.Record, []string, error) {
	var recs []bench.Record
	var comments []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, err
		}
		r, c, err := bench.ReadRecords(f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		if why := incomplete(r, c); why != "" {
			if !allowIncomplete {
				return nil, nil, fmt.Errorf("%s: incomplete: %s; -incomplete summarises it anyway", p, why)
			}
			fmt.Fprintf(warn, "warning: %s: incomplete: %s\n", p, why)
		}
		recs = append(recs, r...)
		comments = append(comments, c...)
	}
	return recs, comments, nil
}

// expectedRounds returns the rounds a raw file's measurement was asked
// for: its "# rounds: N" line or, in files written before that line
// existed, the -rounds of its "# cmpalloc COMMAND ..." line (the default,
// 5, when it has none); 0 when the file says neither.
func expectedRounds(comments []string) int {
	for _, c := range comments {
		if v, ok := strings.CutPrefix(c, "# rounds: "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err == nil {
				return n
			}
		}
	}
	for _, c := range comments {
		f := strings.Fields(c)
		if len(f) < 3 || f[1] != "cmpalloc" || !slices.Contains([]string{"replay", "churn", "bulk", "gc"}, f[2]) {
			continue
		}
		for i, a := range f[3:] {
			name, isFlag := strings.CutPrefix(a, "-")
			name = strings.TrimPrefix(name, "-") // -rounds or --rounds
			if !isFlag {
				continue
			}
			if v, ok := strings.CutPrefix(name, "rounds="); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
			if name == "rounds" && i+4 < len(f) {
				n, _ := strconv.Atoi(f[i+4])
				return n
			}
		}
		return 5
	}
	return 0
}

// incomplete says why the records of one raw file are not whole rounds:
// the run stopped ("# stopped: ..." , written when a run failed), or a
// group has fewer or more runs than the rounds asked for (the command was
// killed). "" when they are whole, or when the file does not say how many
// rounds it should have.
func incomplete(recs []bench.Record, comments []string) string {
	for _, c := range comments {
		if v, ok := strings.CutPrefix(c, "# stopped: "); ok {
			return "the measurement stopped: " + v
		}
	}
	want := expectedRounds(comments)
	if want == 0 {
		return ""
	}
	for _, g := range bench.Summarize(recs) {
		if g.Runs != want {
			return fmt.Sprintf("%s has %s of the %s asked for", strings.Join(strings.Fields(g.Kind+" "+g.Trace+" "+g.Backend), " "), bench.Plural(g.Runs, "run"), bench.Plural(want, "round"))
		}
	}
	return ""
}

// tableCmd is "cmpalloc table".
func tableCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("table", stderr)
	csv := fs.Bool("csv", false, "")
	base := fs.String("base", "", "")
	partial := fs.Bool("incomplete", false, "")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "cmpalloc table: want at least one raw file (written by -o)")
		return exitUsage
	}
	recs, _, err := readRaw(fs.Args(), *partial, stderr)
	if err == nil && len(recs) == 0 {
		err = fmt.Errorf("no records in %q", fs.Args())
	}
	if err != nil {
		fmt.Fprintln(stderr, "cmpalloc table:", err)
		return exitFail
	}
	groups := bench.Summarize(recs)
	if *base != "" && !slices.ContainsFunc(groups, func(g bench.Group) bool { return g.Backend == *base }) {
		fmt.Fprintf(stderr, "cmpalloc table: -base %q: no backend of that name in the records\n", *base)
		return exitUsage
	}
	b := *base
	if b == "" {
		if _, ok := bench.Find(groups, "replay", groups[0].Trace, "c-pymalloc"); ok {
			b = "c-pymalloc"
		} else if _, ok := bench.Find(groups, "churn", "", "gopymalloc"); ok {
			b = "gopymalloc"
		}
	}
	if err := summary(stdout, groups, b, *csv); err != nil {
		fmt.Fprintln(stderr, "cmpalloc table:", err)
		return exitFail
	}
	return exitOK
}

// chartCmd is "cmpalloc chart".
func chartCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("chart", stderr)
	out := fs.String("o", "", "")
	title := fs.String("title", "Replay of CPython 3.11 allocation traces: ns per op", "")
	note := fs.String("note", "", "")
	partial := fs.Bool("incomplete", false, "")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *out == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "cmpalloc chart: want -o FILE.svg and at least one raw file")
		return exitUsage
	}
	recs, comments, err := readRaw(fs.Args(), *partial, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "cmpalloc chart:", err)
		return exitFail
	}
	if *note == "" {
		*note = defaultNote(recs, comments)
	}
	var buf bytes.Buffer
	err = bench.WriteReplayChart(&buf, bench.Summarize(recs), bench.ChartOptions{Title: *title, Note: *note})
	if err == nil {
		err = os.WriteFile(*out, buf.Bytes(), 0o644)
	}
	if err != nil {
		fmt.Fprintln(stderr, "cmpalloc chart:", err)
		return exitFail
	}
	return exitOK
}

// defaultNote says when, on what and over how many rounds the figures
// were measured, from the raw files' headers, and where the hatched
// figures come from.
func defaultNote(recs []bench.Record, comments []string) string {
	var date, cpu string
	for _, c := range comments {
		if v, ok := strings.CutPrefix(c, "# date: "); ok && date == "" {
			date = v[:min(len(v), 10)]
		}
		if v, ok := strings.CutPrefix(c, "# cpu: "); ok && cpu == "" {
			cpu, _, _ = strings.Cut(v, ",")
		}
	}
	rounds := 0
	for _, r := range recs {
		if v, ok := r.Float("round"); ok {
			rounds = max(rounds, int(v))
		}
	}
	note := "Measured here"
	if date != "" {
		note += " " + date
	}
	if cpu != "" {
		note += " (" + cpu + ")"
	}
	if rounds > 0 {
		note += ", " + bench.Plural(rounds, "round") + ", one process per run"
	}
	return note + "; the C replayers rerun here were interleaved in the same rounds.\n" +
		"Hatched: figures from elsewhere, not measured here: " + bench.ReferenceSource + "."
}

// backendsCmd is "cmpalloc backends".
func backendsCmd(args []string, stdout, stderr io.Writer) int {
	for _, b := range bench.Backends {
		heap := "Go heap"
		if b.OffHeap {
			heap = "off-heap"
		}
		fmt.Fprintf(stdout, "%-15s %-8s  %s\n", b.Name, heap, b.About)
	}
	return exitOK
}
