package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/winetest"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// parsedSVG is what the tests read back from a picture: every element's
// attributes, by kind.
type parsedSVG struct {
	pools   []map[string]string // <rect class="pool">
	lost    int                 // <rect class="lost">
	arenas  []map[string]string // <g class="arena">
	legend  []map[string]string // <g class="legend-class">
	shades  []map[string]string // <rect class="shade">, the shading scale
	totals  map[string]string   // <text id="totals">
	texts   []string            // every text's character data
	rootTag string
}

func parseSVG(t *testing.T, r io.Reader) parsedSVG {
	t.Helper()
	var p parsedSVG
	d := xml.NewDecoder(r)
	var inText bool
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "the SVG is well-formed XML")
		switch e := tok.(type) {
		case xml.StartElement:
			attrs := map[string]string{}
			for _, a := range e.Attr {
				attrs[a.Name.Local] = a.Value
			}
			if p.rootTag == "" {
				p.rootTag = e.Name.Local
				assert.Equal(t, "http://www.w3.org/2000/svg", e.Name.Space)
			}
			switch {
			case e.Name.Local == "rect" && attrs["class"] == "pool":
				p.pools = append(p.pools, attrs)
			case e.Name.Local == "rect" && attrs["class"] == "lost":
				p.lost++
			case e.Name.Local == "g" && attrs["class"] == "arena":
				p.arenas = append(p.arenas, attrs)
			case e.Name.Local == "g" && attrs["class"] == "legend-class":
				p.legend = append(p.legend, attrs)
			case e.Name.Local == "rect" && attrs["class"] == "shade":
				p.shades = append(p.shades, attrs)
			case e.Name.Local == "text" && attrs["id"] == "totals":
				p.totals = attrs
			}
			inText = e.Name.Local == "text"
		case xml.CharData:
			if inText {
				p.texts = append(p.texts, string(e))
			}
		case xml.EndElement:
			inText = false
		}
	}
	return p
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err, s)
	return n
}

// checkSVGAgainstStats draws h and checks the picture against h.Stats,
// which the allocator computes its own way (from the usedpools rings and
// the arena objects, where the picture walks every pool).
func checkSVGAgainstStats(t *testing.T, h *obmalloc.Heap) {
	t.Helper()
	s := h.Stats()
	m := newHeapMap(h, "test", "test")
	var buf bytes.Buffer
	require.NoError(t, m.writeSVG(&buf))
	p := parseSVG(t, &buf)
	require.Equal(t, "svg", p.rootTag)

	// Arenas: one row each; pools per arena and lost slots.
	require.Len(t, p.arenas, s.ArenasCurrent)
	cfg := h.Config()
	maxPools := int(cfg.ArenaSize / cfg.PoolSize)
	misaligned := int(s.BytesLostToArenaAlignment / s.PoolSize)
	assert.Equal(t, misaligned, p.lost, "one lost slot per misaligned arena")
	assert.Equal(t, s.ArenasCurrent*maxPools-misaligned, len(p.pools), "every pool of every arena is drawn")

	// Pools per class, blocks per class, unused pools.
	pools := make([]int, len(s.Classes))
	blocks := make([]int, len(s.Classes))
	unused := 0
	var allocated uintptr
	for _, r := range p.pools {
		switch r["data-state"] {
		case "virgin", "empty":
			unused++
			assert.Equal(t, "-1", r["data-class"])
		case "used", "full":
			c := atoi(t, r["data-class"])
			used, capacity := atoi(t, r["data-used"]), atoi(t, r["data-capacity"])
			pools[c]++
			blocks[c] += used
			allocated += uintptr(used) * s.Classes[c].Size
			assert.Positive(t, used)
			if r["data-state"] == "full" {
				assert.Equal(t, capacity, used)
			} else {
				assert.Less(t, used, capacity)
			}
		default:
			t.Fatalf("pool state %q", r["data-state"])
		}
	}
	legend := map[int]map[string]string{}
	for _, l := range p.legend {
		legend[atoi(t, l["data-class"])] = l
	}
	for c, cs := range s.Classes {
		assert.Equal(t, cs.Pools, pools[c], "pools of class %d", c)
		assert.Equal(t, cs.BlocksInUse, blocks[c], "blocks in use of class %d", c)
		if cs.Pools > 0 {
			require.Contains(t, legend, c, "class %d is in the legend", c)
			assert.Equal(t, strconv.Itoa(cs.Pools), legend[c]["data-pools"])
			assert.Equal(t, strconv.Itoa(cs.BlocksInUse), legend[c]["data-blocks"])
		} else {
			assert.NotContains(t, legend, c, "class %d has no pool: not in the legend", c)
		}
	}
	assert.Equal(t, s.UnusedPools, unused)
	assert.Equal(t, s.BytesInAllocatedBlocks, allocated)

	// The totals line says the same.
	require.NotNil(t, p.totals)
	assert.Equal(t, strconv.Itoa(s.ArenasCurrent), p.totals["data-arenas"])
	assert.Equal(t, strconv.FormatUint(uint64(s.BytesInAllocatedBlocks), 10), p.totals["data-allocated-bytes"])
	assert.Equal(t, s.UnusedPools, atoi(t, p.totals["data-empty"])+atoi(t, p.totals["data-virgin"]))
	all := strings.Join(p.texts, "\n")
	assert.Contains(t, all, withCommas(uint64(s.BytesInAllocatedBlocks))+" bytes in allocated blocks")
	assert.Contains(t, all, count(s.ArenasCurrent, "arena")+" ("+withCommas(uint64(s.ArenaBytes()))+" bytes)")
}

func TestHeapMapSVGMatchesStats(t *testing.T) {
	trace := synthTraceFile(t, 60_000)
	for _, tc := range []struct {
		name string
		src  heapSource
	}{
		{"workload", heapSource{layout: "3.11", objects: 30_000}},
		{"workload 3.9", heapSource{layout: "3.9", objects: 30_000}},
		{"workload 3.7 (64 classes)", heapSource{layout: "3.7", objects: 30_000}},
		{"workload, arenas released", heapSource{layout: "3.11", arenas: "release", objects: 30_000}},
		{"empty heap", heapSource{layout: "3.11", objects: 0}},
		{"trace at its peak", heapSource{layout: "3.11", trace: trace, stopAt: "peak"}},
		{"trace part way, 3.9", heapSource{layout: "3.9", trace: trace, stopAt: "45000"}},
		{"trace at its end, threshold 256", heapSource{layout: "threshold=256", trace: trace}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := tc.src.config()
			require.NoError(t, err)
			sh, err := tc.src.build(l, nil)
			require.NoError(t, err)
			defer func() { require.NoError(t, sh.close()) }()
			checkSVGAgainstStats(t, sh.h)
		})
	}
}

// The text rendering has two lines per arena, a column per pool, and the
// same totals line.
func TestHeapMapText(t *testing.T) {
	h, err := obmalloc.New(obmalloc.Config{})
	require.NoError(t, err)
	defer h.Close()
	runWorkload(h, 20_000)
	m := newHeapMap(h, "workload", "3.11")
	var buf bytes.Buffer
	require.NoError(t, m.writeText(&buf))
	text := buf.String()
	s := h.Stats()
	rows, fills := 0, 0
	classChars, unused := 0, 0
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "arena "):
			rows++
			assert.Regexp(t, `\| pools: \d+ in use, \d+ empty, \d+ never carved$`, line, "the counts say what they count")
			cells := line[strings.Index(line, "|")+1 : strings.LastIndex(line, "|")]
			for _, ch := range cells {
				switch {
				case ch == '.' || ch == '_':
					unused++
				case ch == '~':
				default:
					classChars++
					assert.Contains(t, classDigits[:32], string(ch))
				}
			}
		case strings.HasPrefix(line, "          |"):
			fills++
		}
	}
	assert.Equal(t, s.ArenasCurrent, rows)
	assert.Equal(t, rows, fills)
	assert.Equal(t, poolsInUse(s), classChars)
	assert.Equal(t, s.UnusedPools, unused)
	assert.Contains(t, text, m.summary(m.totals()))
}

// The text map's key names the classes that the layout has: all of them
// when there are three or fewer.
func TestHeapMapClassKey(t *testing.T) {
	for _, tc := range []struct {
		layout string
		key    string
	}{
		{"threshold=16", "its size class (0 = 16 B) over"},
		{"threshold=32", "its size class (0 = 16 B, 1 = 32 B) over"},
		{"threshold=48", "its size class (0 = 16 B, 1 = 32 B, 2 = 48 B) over"},
		{"threshold=64", "its size class (0 = 16 B, 1 = 32 B, ... 3 = 64 B) over"},
		{"3.11", "its size class (0 = 16 B, 1 = 32 B, ... v = 512 B) over"},
		{"3.7", "its size class (0 = 8 B, 1 = 16 B, ... * = 512 B) over"},
	} {
		l, err := parseLayout(tc.layout)
		require.NoError(t, err)
		h, err := obmalloc.New(l.cfg)
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, newHeapMap(h, "test", tc.layout).writeText(&buf))
		assert.Contains(t, buf.String(), tc.key, tc.layout)
		require.NoError(t, h.Close())
	}
}

// The SVG's shading scale is drawn in the colour of a class in the
// picture, so a heap of one class (here class 3, 64-byte blocks) shows
// its scale in that class's colour; a heap with no block in use says so
// and has no scale.
func TestHeapMapSVGLegendOfOneClass(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sizes  []uintptr
		legend []string // data-class of each legend entry
		shade  int      // class of the shading scale, -1 for none
	}{
		{"one class", []uintptr{64, 60, 50}, []string{"3"}, 3},
		{"two classes", []uintptr{500, 64}, []string{"3", "31"}, 3},
		{"no block in use", nil, nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := obmalloc.New(obmalloc.Config{})
			require.NoError(t, err)
			defer h.Close()
			for _, size := range tc.sizes {
				require.NotNil(t, h.Malloc(size))
			}
			var buf bytes.Buffer
			require.NoError(t, newHeapMap(h, "test", "3.11").writeSVG(&buf))
			p := parseSVG(t, &buf)
			var classes []string
			for _, l := range p.legend {
				classes = append(classes, l["data-class"])
			}
			assert.Equal(t, tc.legend, classes)
			all := strings.Join(p.texts, "\n")
			if tc.shade < 0 {
				assert.Empty(t, p.shades)
				assert.Contains(t, all, "none: no block is in use")
				return
			}
			require.Len(t, p.shades, 5)
			for i, f := range []float64{0.05, 0.25, 0.5, 0.75, 1} {
				assert.Equal(t, classColor(tc.shade, f), p.shades[i]["fill"], "shade %d", i)
			}
			assert.Contains(t, all, "in the colour of class "+strconv.Itoa(tc.shade))
		})
	}
}

// The fill line stays under its arena's row when the indexes run past
// three digits (here over a thousand 4 KiB arenas).
func TestHeapMapTextColumns(t *testing.T) {
	l, err := parseLayout("pool=1k,arena=4k,threshold=256")
	require.NoError(t, err)
	h, err := obmalloc.New(l.cfg)
	require.NoError(t, err)
	defer h.Close()
	runWorkload(h, 100_000)
	require.Greater(t, h.Stats().ArenasCurrent, 1000)
	var buf bytes.Buffer
	require.NoError(t, newHeapMap(h, "workload", l.name).writeText(&buf))
	lines := strings.Split(buf.String(), "\n")
	rows := 0
	for i, line := range lines {
		if !strings.HasPrefix(line, "arena ") {
			continue
		}
		rows++
		require.Less(t, i+1, len(lines))
		assert.Equal(t, strings.Index(line, "|"), strings.Index(lines[i+1], "|"), "%s\n%s", line, lines[i+1])
		if rows == 1 {
			assert.True(t, strings.HasPrefix(line, "arena    0 |"), line)
		}
	}
	assert.Equal(t, h.Stats().ArenasCurrent, rows)
}

func TestFillGlyph(t *testing.T) {
	assert.Equal(t, '▁', fillGlyph(1, 255), "one block shows")
	assert.Equal(t, '█', fillGlyph(255, 255))
	assert.Equal(t, '▇', fillGlyph(254, 255), "only a full pool is a full block")
	assert.Equal(t, '▄', fillGlyph(2, 4))
}

func TestHeapMapCommand(t *testing.T) {
	trace := synthTraceFile(t, 20_000)
	out := filepath.Join(winetest.TempDir(t), "heap.svg")
	none := filepath.Join(winetest.TempDir(t), "none.gz")
	code, stdout, stderr := runDemo("heapmap", "-trace", trace, "-stop-at", "peak", "-o", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Empty(t, stderr)
	assert.Contains(t, stdout, "heap map: trace synth after op ")
	assert.Contains(t, stdout, "wrote "+out)
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	p := parseSVG(t, f)
	assert.NotEmpty(t, p.pools)

	code, stdout, _ = runDemo("heapmap", "-objects", "1000")
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "built-in workload: 1,000 objects")
	assert.Contains(t, stdout, "-o heap.svg draws it in colour")

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-stop-at", "5"}, exitUsage, "-stop-at needs -trace"},
		{[]string{"-text=false"}, exitUsage, "draws nothing"},
		{[]string{"-layout", "3.2"}, exitUsage, `unknown layout "3.2"`},
		{[]string{"-layout", "pool=3k"}, exitUsage, "Config.PoolSize = 3072: must be a power of two"},
		{[]string{"-arenas", "never"}, exitUsage, `-arenas "never"`},
		{[]string{"-trace", trace, "-stop-at", "20001"}, exitUsage, "past the last op"},
		{[]string{"-trace", none}, exitUsage, none + ": " + openErrText(t, none)},
		{[]string{"-o", filepath.Join(winetest.TempDir(t), "no", "dir", "x.svg"), "-objects", "10"}, exitFail, "no directory to write it in"},
		{[]string{"-o", os.TempDir(), "-objects", "10"}, exitFail, "-o " + os.TempDir() + ": a directory, not a file"},
	} {
		code, stdout, stderr := runDemo(append([]string{"heapmap"}, tc.args...)...)
		assert.Equal(t, tc.code, code, "%v", tc.args)
		assert.Contains(t, stderr, tc.want, "%v", tc.args)
		assert.Empty(t, stdout, "%v: nothing drawn before the failure", tc.args)
	}
}

func TestClassColors(t *testing.T) {
	seen := map[string]int{}
	for c := range 64 {
		col := classColor(c, 0.75)
		assert.Regexp(t, `^#[0-9a-f]{6}$`, col)
		if prev, dup := seen[col]; dup {
			t.Errorf("classes %d and %d share colour %s", prev, c, col)
		}
		seen[col] = c
	}
	assert.NotEqual(t, classColor(3, 0.1), classColor(3, 1), "fullness shades")
	assert.Equal(t, "#ff0000", hsl(0, 1, 0.5))
	assert.Equal(t, "#00ff00", hsl(120, 1, 0.5))
	assert.Equal(t, "#0000ff", hsl(240, 1, 0.5))
}
