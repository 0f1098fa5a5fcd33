package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// The replay chart: one horizontal bar per backend and trace, the bar at
// the median ns per op and a whisker from min to max, the reference
// figures from elsewhere below each trace's measured bars, hatched and
// labelled as such. Drawn with fmt and encoding/xml's escaping only, so
// the bench module needs no plotting library.

// ChartOptions are the texts around the bars.
type ChartOptions struct {
	Title string
	// Note goes under the title, one line per "\n": when and how the
	// figures were measured.
	Note string
	// AxisMax cuts the axis at this many ns per op; longer bars are drawn
	// broken, with their figure. 0 chooses: 2.5 times the median bar
	// when some bar is longer than that (the Go heap's are several times
	// the rest, and would squeeze the bars that the comparison is about),
	// else the longest bar.
	AxisMax float64
}

// chart geometry, in SVG user units (pixels).
const (
	labelWidth  = 250 // left column: the bars' names
	plotWidth   = 560
	valueWidth  = 190 // right column: the figures
	chartWidth  = labelWidth + plotWidth + valueWidth
	rowHeight   = 17
	barHeight   = 11
	headHeight  = 24 // a trace's heading
	titleHeight = 36
	noteLine    = 16
	axisHeight  = 40
	chartBottom = 16
)

// seriesColor gives each backend family its colour; the C replayers are
// purple, the reference figures grey and hatched.
func seriesColor(name string) string {
	switch name {
	case "gopymalloc":
		return "#1f62b4"
	case "gopymalloc-api":
		return "#7aaee0"
	case "modernc":
		return "#e8772e"
	case "goheap":
		return "#2c9e4b"
	case "syncpool":
		return "#98d68e"
	case "freelist":
		return "#8c8c8c"
	}
	if strings.HasPrefix(name, "c-") {
		return "#8a5cc2"
	}
	return "#555555"
}

// chartRow is one bar.
type chartRow struct {
	label     string
	color     string
	reference bool // a figure from elsewhere: hatched, no whisker
	stat      Stat
}

// chartTrace is one trace's heading and bars.
type chartTrace struct {
	name string
	ops  float64
	rows []chartRow
}

// chartData arranges the replay groups by trace (in order of appearance)
// with the reference figures of each trace after its measured bars.
func chartData(groups []Group) []chartTrace {
	var out []chartTrace
	index := map[string]int{}
	for _, g := range ofKind(groups, "replay") {
		s, ok := g.Metric("ns_per_op")
		if !ok {
			continue
		}
		i, seen := index[g.Trace]
		if !seen {
			i = len(out)
			index[g.Trace] = i
			out = append(out, chartTrace{name: g.Trace})
		}
		if ops, ok := g.Metric("ops"); ok {
			out[i].ops = ops.Median
		}
		label := g.Backend
		if strings.HasPrefix(label, "c-") {
			label = "C " + strings.TrimPrefix(label, "c-") + " (rerun here)"
		}
		out[i].rows = append(out[i].rows, chartRow{label: label, color: seriesColor(g.Backend), stat: s})
	}
	for i := range out {
		ref, ok := referenceFor(out[i].name)
		if !ok {
			continue
		}
		for j, v := range ref.NsPerOp {
			out[i].rows = append(out[i].rows, chartRow{
				label: ReferenceAllocators[j] + " (from elsewhere)", color: "#b0b0b0", reference: true,
				stat: Stat{Runs: 1, Median: v, Min: v, Max: v},
			})
		}
	}
	return out
}

// niceStep returns a tick spacing of 1, 2 or 5 times a power of ten that
// gives about six ticks up to top.
func niceStep(top float64) float64 {
	if top <= 0 {
		return 1
	}
	raw := top / 6
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// WriteReplayChart draws the replay groups' ns per op as an SVG bar chart.
func WriteReplayChart(w io.Writer, groups []Group, opt ChartOptions) error {
	traces := chartData(groups)
	if len(traces) == 0 {
		return fmt.Errorf("chart: no replay figures")
	}
	top := 0.0
	nrows := 0
	var medians []float64
	for _, t := range traces {
		for _, r := range t.rows {
			top = max(top, r.stat.Max)
			medians = append(medians, r.stat.Median)
		}
		nrows += len(t.rows)
	}
	if opt.AxisMax > 0 {
		top = opt.AxisMax
	} else if limit := 2.5 * summarize(medians).Median; top > limit {
		top = limit
	}
	step := niceStep(top)
	top = math.Ceil(top/step) * step
	// x maps a figure to the plot, clipped at the axis's end.
	x := func(v float64) float64 { return labelWidth + min(v, top)/top*plotWidth }

	notes := strings.Split(opt.Note, "\n")
	plotTop := float64(titleHeight + len(notes)*noteLine + 8)
	plotBottom := plotTop + float64(len(traces)*headHeight+nrows*rowHeight)
	height := plotBottom + axisHeight + chartBottom

	var b bytes.Buffer
	esc := func(s string) string {
		var e bytes.Buffer
		_ = xml.EscapeText(&e, []byte(s)) // writes to a bytes.Buffer cannot fail
		return e.String()
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	b.WriteString(`<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
		`<rect width="6" height="6" fill="#e4e4e4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#9a9a9a" stroke-width="2"/></pattern></defs>` + "\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%.0f" fill="#ffffff"/>`+"\n", chartWidth, height)
	fmt.Fprintf(&b, `<text x="12" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", esc(opt.Title))
	for i, line := range notes {
		fmt.Fprintf(&b, `<text x="12" y="%d" fill="#444">%s</text>`+"\n", titleHeight+8+i*noteLine, esc(line))
	}

	// Grid and axis.
	for v := 0.0; v <= top+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#e0e0e0"/>`+"\n", x(v), plotTop, x(v), plotBottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#444">%s</text>`+"\n", x(v), plotBottom+16, formatTick(v))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">ns per op (lower is better): bar = median, whisker = min–max of the runs; ▶ = bar past the axis</text>`+"\n",
		x(top/2), plotBottom+34)
	fmt.Fprintf(&b, `<text x="%d" y="%.0f" fill="#444">median (min–max)</text>`+"\n", labelWidth+plotWidth+12, plotTop-4)

	y := plotTop
	for _, t := range traces {
		head := t.name
		if t.ops > 0 {
			head += fmt.Sprintf(" (%s ops)", groupThousands(int64(t.ops)))
		}
		fmt.Fprintf(&b, `<text x="12" y="%.0f" font-weight="bold">%s</text>`+"\n", y+17, esc(head))
		y += headHeight
		for _, r := range t.rows {
			mid := y + rowHeight/2
			fill := r.color
			if r.reference {
				fill = "url(#hatch)"
			}
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", labelWidth-8, mid, esc(r.label))
			fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="%s"`, labelWidth, mid-barHeight/2, x(r.stat.Median)-labelWidth, barHeight, fill)
			if r.reference {
				b.WriteString(` stroke="#9a9a9a"`)
			}
			b.WriteString("/>\n")
			end := x(r.stat.Median)
			cut := r.stat.Median > top
			if !r.reference && r.stat.Max > r.stat.Min {
				fmt.Fprintf(&b, `<path d="M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fV%.1f" stroke="#333" stroke-width="0.8" fill="none"/>`+"\n",
					x(r.stat.Min), mid-3, mid+3, x(r.stat.Min), mid, x(r.stat.Max), x(r.stat.Max), mid-3, mid+3)
			}
			if cut {
				// Two white slashes through the bar's end: it goes on.
				fmt.Fprintf(&b, `<path d="M%.1f %.1fl6 -%dM%.1f %.1fl6 -%d" stroke="#fff" stroke-width="2"/>`+"\n",
					end-16, mid+barHeight/2+1, barHeight+2, end-10, mid+barHeight/2+1, barHeight+2)
			}
			value := fmt.Sprintf("%.1f", r.stat.Median)
			if r.stat.Max > r.stat.Min {
				value += fmt.Sprintf(" (%.1f–%.1f)", r.stat.Min, r.stat.Max)
			}
			if cut {
				value += " ▶"
			}
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" dominant-baseline="middle" fill="#222">%s</text>`+"\n", labelWidth+plotWidth+12, mid, esc(value))
			y += rowHeight
		}
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// formatTick prints an axis value without needless decimals.
func formatTick(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", v)
}

// groupThousands writes n with commas: 4,053,286.
func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
