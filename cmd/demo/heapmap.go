package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// The picture of the heap: every arena a row of its pools, each pool
// coloured by its size class and shaded by how full it is. It is drawn
// from Heap.Arenas, the allocator's own structures walked in place, so
// what it shows is the heap's state and not a model of it; the tests
// check the picture against Heap.Stats, which counts the same things
// another way.

// heapMap is what both renderings (SVG and text) draw.
type heapMap struct {
	title  string // what the heap is: workload, or trace and op
	layout string // the layout's name and description
	cfg    obmalloc.Config
	arenas []obmalloc.ArenaInfo
	stats  obmalloc.Stats
}

func newHeapMap(h *obmalloc.Heap, title, layoutName string) *heapMap {
	cfg := h.Config()
	return &heapMap{
		title:  title,
		layout: fmt.Sprintf("layout %s: %s", layoutName, describe(cfg)),
		cfg:    cfg,
		arenas: h.Arenas(),
		stats:  h.Stats(),
	}
}

// nclasses is the number of size classes of the map's layout.
func (m *heapMap) nclasses() int { return int(m.cfg.Threshold / m.cfg.Alignment) }

// maxPools is the most pools an arena of this layout holds.
func (m *heapMap) maxPools() int { return int(m.cfg.ArenaSize / m.cfg.PoolSize) }

// mapTotals are the figures under the picture, counted from the pools
// drawn (the tests compare them with Stats, which the allocator computes
// its own way).
type mapTotals struct {
	arenas                    int
	used, full, empty, virgin int
	classPools                []int // pools in use (used or full) per class
	classBlocks               []int // blocks in use per class
	allocatedBytes            uintptr
	arenaBytes                uintptr
}

func (m *heapMap) totals() mapTotals {
	t := mapTotals{
		arenas:      len(m.arenas),
		classPools:  make([]int, m.nclasses()),
		classBlocks: make([]int, m.nclasses()),
		arenaBytes:  uintptr(len(m.arenas)) * m.cfg.ArenaSize,
	}
	for _, a := range m.arenas {
		for _, p := range a.Pools {
			switch p.State {
			case obmalloc.PoolVirgin:
				t.virgin++
			case obmalloc.PoolEmpty:
				t.empty++
			case obmalloc.PoolUsed, obmalloc.PoolFull:
				if p.State == obmalloc.PoolFull {
					t.full++
				} else {
					t.used++
				}
				t.classPools[p.Class]++
				t.classBlocks[p.Class] += p.Used
				t.allocatedBytes += uintptr(p.Used) * p.Size
			}
		}
	}
	return t
}

// summary is the totals line, the same in both renderings.
func (m *heapMap) summary(t mapTotals) string {
	pct := 0.0
	if t.arenaBytes > 0 {
		pct = 100 * float64(t.allocatedBytes) / float64(t.arenaBytes)
	}
	return fmt.Sprintf("%s (%s), pools: %d partly used, %d full, %d empty, %d never carved; "+
		"%s in allocated blocks = %.1f%% of the arenas",
		count(t.arenas, "arena"), withCommas(uint64(t.arenaBytes))+" bytes", t.used, t.full, t.empty, t.virgin,
		withCommas(uint64(t.allocatedBytes))+" bytes", pct)
}

// classDigits name size classes in the text map, one character each: 32
// classes use 0-9a-v, 64 (8-byte alignment) run on into A-Z and +*.
const classDigits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+*"

// fillGlyphs shade a pool by how full it is, in eighths.
var fillGlyphs = []rune("▁▂▃▄▅▆▇█")

// writeText draws the map in the terminal: per arena, one line of class
// characters and one of fullness, a character per pool.
func (m *heapMap) writeText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "heap map: %s\n%s\n", m.title, m.layout)
	fmt.Fprintf(&b, "one column per %s pool: its size class (%s) over how full it is;\n"+
		"_ empty (no block in use), . never carved, ~ lost to arena alignment\n\n",
		sizeName(m.cfg.PoolSize), m.classKey())
	// The label column is as wide as the largest arena index needs (three
	// digits at least), so that a heap of 1,000 arenas or more stays in
	// its columns.
	digits := 3
	for _, a := range m.arenas {
		digits = max(digits, len(fmt.Sprint(a.Index)))
	}
	under := strings.Repeat(" ", len("arena ")+digits+1)
	for _, a := range m.arenas {
		var cls, fill strings.Builder
		used, empty, virgin := 0, 0, 0
		for _, p := range a.Pools {
			switch p.State {
			case obmalloc.PoolVirgin:
				cls.WriteByte('.')
				fill.WriteByte(' ')
				virgin++
			case obmalloc.PoolEmpty:
				cls.WriteByte('_')
				fill.WriteByte(' ')
				empty++
			default:
				cls.WriteByte(classDigits[p.Class])
				fill.WriteRune(fillGlyph(p.Used, p.Capacity))
				used++
			}
		}
		if a.Misaligned {
			cls.WriteByte('~')
			fill.WriteByte(' ')
		}
		fmt.Fprintf(&b, "arena %*d |%s| pools: %d in use, %d empty, %d never carved\n", digits, a.Index, cls.String(), used, empty, virgin)
		fmt.Fprintf(&b, "%s|%s|\n", under, fill.String())
	}
	fmt.Fprintf(&b, "\n%s\n", m.summary(m.totals()))
	_, err := io.WriteString(w, b.String())
	return err
}

// classKey names the class characters of the text map: all of them for
// three classes or fewer, else the first two and the last, so that a
// layout of one or two classes is not keyed with classes it does not have.
func (m *heapMap) classKey() string {
	n := m.nclasses()
	name := func(c int) string {
		return fmt.Sprintf("%c = %d B", classDigits[c], uintptr(c+1)*m.cfg.Alignment)
	}
	if n > 3 {
		return name(0) + ", " + name(1) + ", ... " + name(n-1)
	}
	names := make([]string, n)
	for c := range n {
		names[c] = name(c)
	}
	return strings.Join(names, ", ")
}

// fillGlyph is the glyph for a pool with used of capacity blocks in use:
// a full pool is the full block, so it stands out, and the other seven
// bars share the rest, the lowest showing for a single block.
func fillGlyph(used, capacity int) rune {
	last := len(fillGlyphs) - 1
	if used >= capacity {
		return fillGlyphs[last]
	}
	return fillGlyphs[used*last/capacity]
}

// heapmapSynopsis is the heapmap subcommand's command line.
const heapmapSynopsis = "demo heapmap " + heapSourceSynopsis + " [-o FILE.svg] [-text=false]"

func heapmapUsage(w io.Writer) {
	fmt.Fprint(w, "  "+heapmapSynopsis+`
                a picture of the heap: every arena a row of its pools, each
                pool coloured by size class and shaded by how full it is,
                with a legend and the totals; a text rendering prints too
    -o FILE         write the picture as SVG to FILE (open it in a browser;
                    hover over a pool for its figures)
    -text           print the text rendering (default true)
`+heapSourceHelp)
}

// heapmapCmd is "demo heapmap".
func heapmapCmd(args []string, stdout, stderr io.Writer) int {
	c := newCLI("heapmap", heapmapSynopsis, heapmapUsage, stdout, stderr)
	var src heapSource
	src.register(c.fs)
	out := c.fs.String("o", "", "")
	text := c.fs.Bool("text", true, "")
	if code, done := c.parse(args); done {
		return code
	}
	if code, done := c.noArgs(); done {
		return code
	}
	l, err := src.config()
	if err != nil {
		return c.bad("%v", err)
	}
	if *out == "" && !*text {
		return c.bad("-text=false without -o draws nothing")
	}
	// A directory that is not there fails before the heap is built and the
	// map printed; the file itself is written only at the end, so that a
	// failure on the way leaves an earlier one as it was.
	if *out != "" {
		if info, err := os.Stat(filepath.Dir(*out)); err != nil || !info.IsDir() {
			return c.fail(fmt.Errorf("-o %s: no directory to write it in", *out))
		}
		if info, err := os.Stat(*out); err == nil && info.IsDir() {
			return c.fail(fmt.Errorf("-o %s: a directory, not a file to write the picture in", *out))
		}
	}
	sh, err := src.build(l, newProgress(stderr))
	if err != nil {
		return c.fail(err)
	}
	m := newHeapMap(sh.h, sh.what, l.name)
	err = sh.close() // the map holds copies of everything it draws
	if *text {
		err = errors.Join(err, m.writeText(stdout))
	}
	if *out != "" {
		if werr := writeFile(*out, m.writeSVG); werr != nil {
			err = errors.Join(err, fmt.Errorf("-o: %w", werr))
		}
		if err == nil {
			fmt.Fprintf(stdout, "\nwrote %s\n", *out)
		}
	}
	if err != nil {
		return c.fail(err)
	}
	if *out == "" {
		fmt.Fprintf(stdout, "\n(-o heap.svg draws it in colour)\n")
	}
	return exitOK
}

// writeFile creates path and fills it with write, reporting the first
// error, the one from closing the file included.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(write(f), f.Close())
}

// withCommas formats v with a comma every three digits, as CPython's dump
// does.
func withCommas(v uint64) string {
	s := fmt.Sprint(v)
	var b strings.Builder
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
