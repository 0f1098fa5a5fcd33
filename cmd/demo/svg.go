package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// The SVG rendering of a heapMap, written by hand with the standard
// library: the picture is rectangles and text, which needs no drawing
// package. Every pool is a <rect class="pool"> carrying its figures in
// data-* attributes (state, class, used, capacity) and a <title> that a
// browser shows on hover; the tests read those back with encoding/xml.

// Geometry, in SVG user units (pixels at 100%).
const (
	svgMargin  = 16
	svgLabelW  = 160 // arena label column
	svgCellW   = 12
	svgCellH   = 20
	svgGap     = 1
	svgRowGap  = 4
	svgLineH   = 18 // text lines
	svgLegendW = 330
)

// classColor is the colour of class c shaded for a pool that is fill
// (0..1] full. The hue tells classes apart: it steps by the golden angle,
// so that neighbouring classes, which a program uses together (32, 48 and
// 64 bytes), get far-apart hues, and a class keeps its colour in every
// picture. The lightness says how full: a nearly empty pool is pale, a
// full one deep.
func classColor(c int, fill float64) string {
	hue := math.Mod(float64(c)*137.508, 360)
	light := 0.88 - 0.50*fill
	return hsl(hue, 0.70, light)
}

// hsl converts a colour to #rrggbb (the usual HSL formula).
func hsl(h, s, l float64) string {
	c := (1 - math.Abs(2*l-1)) * s
	hp := h / 60
	x := c * (1 - math.Abs(math.Mod(hp, 2)-1))
	var r, g, b float64
	switch {
	case hp < 1:
		r, g = c, x
	case hp < 2:
		r, g = x, c
	case hp < 3:
		g, b = c, x
	case hp < 4:
		g, b = x, c
	case hp < 5:
		r, b = x, c
	default:
		r, b = c, x
	}
	m := l - c/2
	to := func(v float64) int { return int(math.Round((v + m) * 255)) }
	return fmt.Sprintf("#%02x%02x%02x", to(r), to(g), to(b))
}

const (
	colorEmpty  = "#ffffff"
	colorVirgin = "#ececec"
	colorLost   = "#555555"
	colorStroke = "#b0b0b0"
)

// esc escapes text for an SVG element or attribute.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// writeSVG draws the map.
func (m *heapMap) writeSVG(w io.Writer) error {
	var b strings.Builder
	n := m.nclasses()
	t := m.totals()
	rowsW := svgLabelW + (m.maxPools()+1)*(svgCellW+svgGap)
	width := 2*svgMargin + max(rowsW, 3*svgLegendW)

	y := svgMargin
	var body strings.Builder
	text := func(x, y int, class, s string) {
		fmt.Fprintf(&body, `<text x="%d" y="%d" class="%s">%s</text>`+"\n", x, y, class, esc(s))
	}
	y += svgLineH
	text(svgMargin, y, "title", "gopymalloc heap: "+m.title)
	y += svgLineH
	text(svgMargin, y, "sub", m.layout)
	y += svgLineH
	fmt.Fprintf(&body, `<text x="%d" y="%d" class="sub" id="totals" data-arenas="%d" data-used="%d" data-full="%d" data-empty="%d" data-virgin="%d" data-allocated-bytes="%d">%s</text>`+"\n",
		svgMargin, y, t.arenas, t.used, t.full, t.empty, t.virgin, t.allocatedBytes, esc(m.summary(t)))
	y += svgLineH / 2

	// The arenas, one row each.
	for _, a := range m.arenas {
		y += svgRowGap
		fmt.Fprintf(&body, `<g class="arena" data-index="%d" data-address="%#x" data-misaligned="%t" data-free-pools="%d">`+"\n",
			a.Index, a.Address, a.Misaligned, a.FreePools)
		fmt.Fprintf(&body, `<text x="%d" y="%d" class="label">arena %d <tspan class="addr">%#x</tspan></text>`+"\n",
			svgMargin, y+svgCellH-6, a.Index, a.Address)
		x := svgMargin + svgLabelW
		for _, p := range a.Pools {
			m.writePool(&body, x, y, p, n)
			x += svgCellW + svgGap
		}
		if a.Misaligned {
			fmt.Fprintf(&body, `<rect class="lost" x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
				x, y, svgCellW/2, svgCellH, colorLost,
				esc(fmt.Sprintf("%s lost to arena alignment: the mapping at %#x is not pool-aligned, so the arena holds one pool less",
					sizeName(m.cfg.PoolSize), a.Address)))
		}
		body.WriteString("</g>\n")
		y += svgCellH
	}

	// The legend: one entry per class in use, then the pool states and
	// the shading scale.
	y += 2 * svgLineH
	text(svgMargin, y, "head", "size classes in use (pools, blocks in use)")
	col := 0
	shade := -1 // the class whose colour shows the shading: one in the picture
	for c := range n {
		if t.classPools[c] == 0 {
			continue
		}
		if shade < 0 {
			shade = c
		}
		if col == 3 {
			col = 0
			y += svgLineH
		}
		x := svgMargin + col*svgLegendW
		size := uintptr(c+1) * m.cfg.Alignment
		fmt.Fprintf(&body, `<g class="legend-class" data-class="%d" data-pools="%d" data-blocks="%d">`+
			`<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="%s"/>`,
			c, t.classPools[c], t.classBlocks[c], x, y+4, svgCellW, svgCellH-6, classColor(c, 0.75), colorStroke)
		fmt.Fprintf(&body, `<text x="%d" y="%d" class="legend">class %d, %d B: %s, %s</text></g>`+"\n",
			x+svgCellW+6, y+svgLineH-2, c, size, count(t.classPools[c], "pool"), count(t.classBlocks[c], "block"))
		col++
	}
	if shade < 0 {
		text(svgMargin, y+svgLineH-2, "legend", "none: no block is in use")
	}
	y += 2 * svgLineH
	text(svgMargin, y, "head", "pools")
	x := svgMargin
	for _, e := range []struct{ fill, dash, label string }{
		{colorEmpty, "", "empty: no block in use, ready for any class"},
		{colorVirgin, ` stroke-dasharray="2,2"`, "never carved"},
		{colorLost, "", "lost to arena alignment"},
	} {
		y += svgLineH
		fmt.Fprintf(&body, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="%s"%s/>`, x, y-12, svgCellW, svgCellH-6, e.fill, colorStroke, e.dash)
		text(x+svgCellW+6, y, "legend", e.label)
	}
	if shade >= 0 {
		y += svgLineH
		for i, f := range []float64{0.05, 0.25, 0.5, 0.75, 1} {
			fmt.Fprintf(&body, `<rect class="shade" x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="%s"/>`,
				x+i*(svgCellW+svgGap), y-12, svgCellW, svgCellH-6, classColor(shade, f), colorStroke)
		}
		text(x+5*(svgCellW+svgGap)+6, y, "legend",
			fmt.Sprintf("shade: how full a pool is, in the colour of class %d (a few blocks in use ... every block)", shade))
	}
	y += svgMargin

	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">
<style>
text { font-size: 12px; fill: #222 }
.title { font-size: 15px; font-weight: bold }
.head { font-weight: bold }
.addr { fill: #888; font-family: monospace; font-size: 10px }
rect.pool:hover { stroke: #000; stroke-width: 2 }
</style>
<rect width="100%%" height="100%%" fill="#fafafa"/>
`, width, y, width, y)
	b.WriteString(body.String())
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writePool draws one pool at (x, y).
func (m *heapMap) writePool(b *strings.Builder, x, y int, p obmalloc.PoolInfo, n int) {
	fill, dash, title := colorEmpty, "", ""
	switch p.State {
	case obmalloc.PoolVirgin:
		fill, dash = colorVirgin, ` stroke-dasharray="2,2"`
		title = fmt.Sprintf("pool %#x: never carved", p.Address)
	case obmalloc.PoolEmpty:
		title = fmt.Sprintf("pool %#x: empty, no block in use", p.Address)
	default:
		fill = classColor(p.Class, float64(p.Used)/float64(p.Capacity))
		title = fmt.Sprintf("pool %#x: class %d (%d-byte blocks), %d of %d blocks in use", p.Address, p.Class, p.Size, p.Used, p.Capacity)
	}
	fmt.Fprintf(b, `<rect class="pool" data-state="%s" data-class="%d" data-used="%d" data-capacity="%d" x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="%s"%s><title>%s</title></rect>`+"\n",
		p.State, p.Class, p.Used, p.Capacity, x, y, svgCellW, svgCellH, fill, colorStroke, dash, esc(title))
}
