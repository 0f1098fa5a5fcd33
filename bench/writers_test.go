package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// fixedGroups are the writers' fixed data: two rounds of two Go backends
// and the C pymalloc replayer on one trace, and one run of every other
// kind.
func fixedGroups(t *testing.T) []Group {
	return Summarize(parseAll(t,
		"kind=replay backend=gopymalloc trace=test_re ops=3112181 ns_per_op=12.50 cpu_ns_per_op=12.40 peak_live_bytes=20852658 rss_peak_kb=86000 replay_rss_kb=20896 gc_cycles=0 round=1",
		"kind=replay backend=goheap trace=test_re ops=3112181 ns_per_op=58.00 cpu_ns_per_op=57.00 peak_live_bytes=20852658 rss_peak_kb=216596 replay_rss_kb=125788 gc_cycles=4 round=1",
		"backend=pymalloc trace=/t/test_re.trace.gz ops=3112181 ns_per_op=10.59 peak_live_bytes=20852658 rss_peak_kb=83548 replay_rss_kb=17800 kind=replay",
		"kind=replay backend=gopymalloc trace=test_re ops=3112181 ns_per_op=12.70 cpu_ns_per_op=12.60 peak_live_bytes=20852658 rss_peak_kb=86200 replay_rss_kb=20900 gc_cycles=0 round=2",
		"kind=replay backend=goheap trace=test_re ops=3112181 ns_per_op=60.00 cpu_ns_per_op=59.00 peak_live_bytes=20852658 rss_peak_kb=216000 replay_rss_kb=125000 gc_cycles=4 round=2",
		"backend=pymalloc trace=/t/test_re.trace.gz ops=3112181 ns_per_op=10.61 peak_live_bytes=20852658 rss_peak_kb=83600 replay_rss_kb=17900 kind=replay",
		"kind=churn backend=gopymalloc ns_per_op=26.5 round=1",
		"kind=churn backend=modernc ns_per_op=13.25 round=1",
		"kind=bulk backend=gopymalloc ns_per_op=50.0",
		"kind=bulkmem backend=gopymalloc resident_per_requested=1.021 first_pass_ns_per_block=60.5 rss_peak_kb=180224",
		"kind=churnmem backend=gopymalloc resident_per_requested=1.204 first_pass_ns_per_block=31.0 rss_peak_kb=12288",
		"kind=gc backend=empty blocks=0 gc_ms=0.2 gc_ms_min=0.15 go_heap_kb=300",
		"kind=gc backend=goheap blocks=5000000 gc_ms=110 gc_ms_min=100 go_heap_kb=399360",
	))
}

func TestWriteReplayTable(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteReplayTable(&b, fixedGroups(t), "pymalloc"))
	assert.Equal(t, `| trace | backend | runs | ns/op | × pymalloc | CPU ns/op | peak RSS MiB | resident / requested | GCs |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| test_re | gopymalloc | 2 | 12.60 (12.50–12.70) | 1.19 | 12.50 | 84.1 (84.0–84.2) | 1.03 (1.03–1.03) | 0 |
| test_re | goheap | 2 | 59.00 (58.00–60.00) | 5.57 | 58.00 | 211.2 (210.9–211.5) | 6.16 (6.14–6.18) | 4 |
| test_re | pymalloc | 2 | 10.60 (10.59–10.61) | 1.00 | — | 81.6 (81.6–81.6) | 0.88 (0.87–0.88) | — |
`, b.String())

	b.Reset()
	require.NoError(t, WriteReplayTable(&b, fixedGroups(t), ""))
	assert.NotContains(t, b.String(), "×", "no base, no ratio column")
}

func TestWriteOtherTables(t *testing.T) {
	g := fixedGroups(t)
	var b bytes.Buffer
	require.NoError(t, WriteChurnTable(&b, g, "gopymalloc"))
	assert.Equal(t, `| backend | runs | ns per free + malloc | × gopymalloc | peak RSS MiB | resident / requested |
| --- | ---: | ---: | ---: | ---: | ---: |
| gopymalloc | 1 | 26.5 | 1.00 | 12.0 | 1.204 |
| modernc | 1 | 13.2 | 0.50 | — | — |
`, b.String())

	b.Reset()
	require.NoError(t, WriteBulkTable(&b, g))
	assert.Equal(t, `| backend | runs | ns per block (malloc + free) | first pass ns per malloc | peak RSS MiB | resident / requested |
| --- | ---: | ---: | ---: | ---: | ---: |
| gopymalloc | 1 | 50.0 | 60.5 | 176.0 | 1.021 |
`, b.String())

	b.Reset()
	require.NoError(t, WriteGCTable(&b, g))
	assert.Equal(t, `| heap | live blocks | runs | ms per runtime.GC() | × empty | fastest ms | Go heap MiB |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| empty | 0 | 1 | 0.200 | 1.00 | 0.150 | 0 |
| goheap | 5000000 | 1 | 110.000 | 550.00 | 100.000 | 390 |
`, b.String())
}

func TestWriteCSV(t *testing.T) {
	g := Summarize(parseAll(t,
		"kind=churn backend=gopymalloc ns_per_op=26.5 n=100",
		"kind=churn backend=gopymalloc ns_per_op=24.5 n=100",
	))
	var b bytes.Buffer
	require.NoError(t, WriteCSV(&b, g))
	assert.Equal(t, `kind,trace,backend,metric,runs,median,min,max
churn,,gopymalloc,n,2,100,100,100
churn,,gopymalloc,ns_per_op,2,25.5,24.5,26.5
`, b.String())
}

func TestWriteReplayChart(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteReplayChart(&b, fixedGroups(t), ChartOptions{Title: "Replay <test>", Note: "fixed data & no machine"}))
	svg := b.Bytes()

	// Well-formed XML, with the texts escaped.
	d := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	rects := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Local == "rect" {
				rects++
			}
		case xml.CharData:
			if s := strings.TrimSpace(string(tok)); s != "" {
				texts = append(texts, s)
			}
		}
	}
	assert.Contains(t, texts, "Replay <test>")
	assert.Contains(t, texts, "fixed data & no machine")
	assert.Contains(t, texts, "test_re (3,112,181 ops)")
	assert.Contains(t, texts, "gopymalloc")
	assert.Contains(t, texts, "pymalloc")
	for _, a := range ReferenceAllocators {
		assert.Contains(t, texts, a+" (from elsewhere)")
	}
	// The pattern's rect, the background, 3 measured and 4 reference bars.
	assert.Equal(t, 2+3+4, rects)

	golden := filepath.Join("testdata", "replay_chart.svg")
	if *update {
		require.NoError(t, os.WriteFile(golden, svg, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(svg), "run go test -update to accept a change of the chart")

	assert.Error(t, WriteReplayChart(io.Discard, nil, ChartOptions{}), "no replay figures")
}

func TestNiceStep(t *testing.T) {
	assert.Equal(t, 10.0, niceStep(59))
	assert.Equal(t, 20.0, niceStep(100))
	assert.Equal(t, 5.0, niceStep(25))
	assert.Equal(t, 0.2, niceStep(1.1))
	assert.Equal(t, 1.0, niceStep(0))
	assert.Equal(t, "4,053,286", groupThousands(4053286))
	assert.Equal(t, "512", groupThousands(512))
}

// Medians over an even number of runs are the mean of the middle two,
// shown as such, counts included; one run shows its figure without a
// range.
func TestCellsOfMedians(t *testing.T) {
	groups := Summarize(parseAll(t,
		"kind=replay backend=a trace=t ns_per_op=10 gc_cycles=3 blocks=5 round=1",
		"kind=replay backend=a trace=t ns_per_op=13 gc_cycles=4 blocks=5 round=2",
		"kind=replay backend=b trace=t ns_per_op=20 gc_cycles=2 round=1",
		"kind=replay backend=c trace=t ns_per_op=0 round=1",
	))
	a, _ := Find(groups, "replay", "t", "a")
	b, _ := Find(groups, "replay", "t", "b")
	c, _ := Find(groups, "replay", "t", "c")
	base := func(name string) func(Group) (Group, bool) {
		return func(Group) (Group, bool) { return Find(groups, "replay", "t", name) }
	}
	for _, tc := range []struct {
		name string
		cell func(Group) string
		g    Group
		want string
	}{
		{"even runs: mean of the middle two", rangeCell("ns_per_op", 2, 1), a, "11.50 (10.00–13.00)"},
		{"one run: no range", rangeCell("ns_per_op", 2, 1), b, "20.00"},
		{"scaled", rangeCell("ns_per_op", 1, 0.5), a, "5.8 (5.0–6.5)"},
		{"a count's half is kept", medianCell("gc_cycles", 0), a, "3.5"},
		{"a whole count", medianCell("gc_cycles", 0), b, "2"},
		{"a whole median of a count", medianCell("blocks", 0), a, "5"},
		{"missing metric", medianCell("gc_cycles", 0), c, missing},
		{"ratio of medians", ratioCell("ns_per_op", base("b")), a, "0.57"},
		{"ratio to a zero median", ratioCell("ns_per_op", base("c")), a, missing},
		{"ratio to an absent base", ratioCell("ns_per_op", base("nosuch")), a, missing},
		{"runs", runsCell("ns_per_op"), a, "2"},
	} {
		assert.Equal(t, tc.want, tc.cell(tc.g), tc.name)
	}
}

// A column's cell function serves every row: a count whose median has a
// half (3.5) in one row must not give the rows after it a decimal (2.0).
func TestCountColumnDecimalsPerRow(t *testing.T) {
	groups := Summarize(parseAll(t,
		"kind=replay backend=a trace=t ns_per_op=10 gc_cycles=3 round=1",
		"kind=replay backend=a trace=t ns_per_op=11 gc_cycles=4 round=2",
		"kind=replay backend=b trace=t ns_per_op=20 gc_cycles=2 round=1",
		"kind=replay backend=b trace=t ns_per_op=21 gc_cycles=2 round=2",
	))
	cell := medianCell("gc_cycles", 0)
	a, _ := Find(groups, "replay", "t", "a")
	b, _ := Find(groups, "replay", "t", "b")
	assert.Equal(t, []string{"3.5", "2", "3.5"}, []string{cell(a), cell(b), cell(a)})

	var out strings.Builder
	require.NoError(t, WriteReplayTable(&out, groups, ""))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4)
	assert.True(t, strings.HasSuffix(lines[2], "| 3.5 |"), lines[2])
	assert.True(t, strings.HasSuffix(lines[3], "| 2 |"), lines[3])
}
