package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/gopymalloc/gopymalloc/gcmodule"
	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// "demo gc": build an object graph of a chosen shape, drop the program's
// references to it, collect, and print what the collector did in its own
// words (gc.set_debug(gc.DEBUG_STATS) and friends), with the figures that
// Python's gc module gives: gc.collect's result, gc.get_count,
// gc.get_stats, gc.garbage, and pymalloc's blocks in use.

// gcSynopsis is the gc subcommand's command line.
const gcSynopsis = "demo gc [-graph KIND] [-n N] [-keep K] [-gen G] [-debug FLAGS] [-auto]"

func gcUsage(w io.Writer) {
	fmt.Fprint(w, "  "+gcSynopsis+`
                build an object graph, drop it, collect, and print what the
                collector did (DEBUG_STATS) and what it freed
    -graph KIND     the graph (default pairs):
`)
	for _, g := range gcGraphs {
		fmt.Fprint(w, hanging(fmt.Sprintf("                      %-10s ", g.name), g.describe(-1)))
	}
	fmt.Fprint(w, `    -n N            its size (default 1000)
    -keep K         keep K of its structures referenced from a live list;
                    they survive, moved to the next generation (or kept
                    in generation 2 when -gen 2 is collected) (default 0)
    -gen G          the generation to collect, 0, 1 or 2 (default 2)
    -debug FLAGS    gc.set_debug flags, comma-separated: stats,
                    collectable, uncollectable, saveall, leak; or none
                    (default stats)
    -auto           leave automatic collection on while building (it is
                    off by default, so only the collection asked for runs)
`)
}

// gcGraph builds one shape of graph: n sets its size, and build returns
// the references the program holds to each of its structures (units),
// which the command keeps or drops.
type gcGraph struct {
	name  string
	noun  string // what -n counts, in the singular
	about string // the graph, with %s for the count and its noun
	build func(c *gcmodule.Collector, n int) ([]gcmodule.Object, error)
}

var gcGraphs = []gcGraph{
	{"pairs", "pair", "%s of lists, each list holding the other", buildPairs},
	{"selfref", "list", "%s, each holding itself", buildSelfRef},
	{"ring", "list", "one ring of %s, each holding the next", buildRing},
	{"tree", "instance", "a binary tree of %s, each child pointing to its parent", buildTree},
	{"chain", "list", "a chain of %s, no cycle: counting frees it all", buildChain},
	{"finalizer", "instance", "a ring of %s of a class with __del__", buildFinalizerRing},
	{"legacy", "instance", "a ring of %s with a legacy tp_del: uncollectable", buildLegacyRing},
}

// describe says what the graph is for -n n, or for -n N in general when
// n < 0 (the usage).
func (g *gcGraph) describe(n int) string {
	if n < 0 {
		return fmt.Sprintf(g.about, "N "+plural(g.noun))
	}
	return fmt.Sprintf(g.about, count(n, g.noun))
}

// The classes of the graphs. Classes are registered for the life of the
// process, so they are made once, whatever the number of runs.
var (
	classesOnce        sync.Once
	nodeClass          gcmodule.Type
	finalizerClass     gcmodule.Type
	legacyClass        gcmodule.Type
	finalizersRun      int // calls of finalizerClass's __del__
	legacyFinalizerRun int // calls of legacyClass's tp_del
)

func gcClasses() {
	classesOnce.Do(func() {
		nodeClass = gcmodule.NewClass(gcmodule.ClassSpec{Name: "Node"})
		finalizerClass = gcmodule.NewClass(gcmodule.ClassSpec{Name: "WithDel",
			Finalize: func(*gcmodule.Collector, gcmodule.Object) { finalizersRun++ }})
		legacyClass = gcmodule.NewClass(gcmodule.ClassSpec{Name: "WithTpDel",
			Del: func(*gcmodule.Collector, gcmodule.Object) { legacyFinalizerRun++ }})
	})
}

// link makes from refer to to: an item for a list, the attribute "next"
// for an instance.
func link(c *gcmodule.Collector, from, to gcmodule.Object) error {
	if c.TypeOf(from) == gcmodule.ListType {
		return c.ListAppend(from, to)
	}
	return c.SetAttr(from, "next", to)
}

// newAll makes n objects with mk, failing if any is Nil.
func newAll(n int, mk func() gcmodule.Object) ([]gcmodule.Object, error) {
	objs := make([]gcmodule.Object, n)
	for i := range objs {
		if objs[i] = mk(); objs[i] == gcmodule.Nil {
			return nil, errNoMemory
		}
	}
	return objs, nil
}

func buildPairs(c *gcmodule.Collector, n int) ([]gcmodule.Object, error) {
	units := make([]gcmodule.Object, 0, n)
	for range n {
		a, b := c.NewList(), c.NewList()
		if a == gcmodule.Nil || b == gcmodule.Nil {
			return nil, errNoMemory
		}
		if err := link(c, a, b); err != nil {
			return nil, err
		}
		if err := link(c, b, a); err != nil {
			return nil, err
		}
		c.Decref(b) // a holds it
		units = append(units, a)
	}
	return units, nil
}

func buildSelfRef(c *gcmodule.Collector, n int) ([]gcmodule.Object, error) {
	units, err := newAll(n, func() gcmodule.Object { return c.NewList() })
	if err != nil {
		return nil, err
	}
	for _, l := range units {
		if err := link(c, l, l); err != nil {
			return nil, err
		}
	}
	return units, nil
}

// ring links objs into a ring, drops the references the program held to
// all but the first, and returns that one as the only unit.
func ring(c *gcmodule.Collector, objs []gcmodule.Object) ([]gcmodule.Object, error) {
	for i, o := range objs {
		if err := link(c, o, objs[(i+1)%len(objs)]); err != nil {
			return nil, err
		}
	}
	for _, o := range objs[1:] {
		c.Decref(o)
	}
	return objs[:1], nil
}

func buildRing(c *gcmodule.Collector, n int) ([]gcmodule.Object, error) {
	objs, err := newAll(n, func() gcmodule.Object { return c.NewList() })
	if err != nil {
		return nil, err
	}
	return ring(c, objs)
}

func buildFinalizerRing(c *gcmodule.Collector, n int) ([]gcmodule.Object, error) {
	objs, err := newAll(n, func() gcmodule.Object { return c.NewInstance(finalizerClass) })
	if err != nil {
		return nil, err
	}
	return ring(c, objs)
}

func buildLegacyRing(c *gcmodule.Collector, n int) ([]gcmodule.Object, error) {
	objs, err := newAll(n, func() gcmodule.Object { return c.NewInstance(legacyClass) })
	if err != nil {
		return nil, err
	}
	return ring(c, objs)
}

// buildTree makes node i the parent of nodes 2i+1 and 2i+2 (attributes
// left and right), each child pointing back with parent: every edge is a
// cycle of two.
func buildTree(c *gcmodule.Collector, n int) ([]gcmodule.Object, error) {
	nodes, err := newAll(n, func() gcmodule.Object { return c.NewInstance(nodeClass) })
	if err != nil {
		return nil, err
	}
	for i := 1; i < n; i++ {
		parent := nodes[(i-1)/2]
		side := "left"
		if i%2 == 0 {
			side = "right"
		}
		if err := c.SetAttr(parent, side, nodes[i]); err != nil {
			return nil, err
		}
		if err := c.SetAttr(nodes[i], "parent", parent); err != nil {
			return nil, err
		}
	}
	for _, o := range nodes[1:] {
		c.Decref(o)
	}
	return nodes[:1], nil
}

func buildChain(c *gcmodule.Collector, n int) ([]gcmodule.Object, error) {
	objs, err := newAll(n, func() gcmodule.Object { return c.NewList() })
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < n; i++ {
		if err := link(c, objs[i], objs[i+1]); err != nil {
			return nil, err
		}
	}
	for _, o := range objs[1:] {
		c.Decref(o)
	}
	return objs[:1], nil
}

// gcDebugFlags are the names -debug accepts.
var gcDebugFlags = map[string]int{
	"stats":         gcmodule.DebugStats,
	"collectable":   gcmodule.DebugCollectable,
	"uncollectable": gcmodule.DebugUncollectable,
	"saveall":       gcmodule.DebugSaveAll,
	"leak":          gcmodule.DebugLeak,
}

func parseGCDebug(s string) (int, error) {
	flags := 0
	if s == "" || s == "none" {
		return 0, nil
	}
	for _, name := range strings.Split(s, ",") {
		f, ok := gcDebugFlags[name]
		if !ok {
			return 0, fmt.Errorf("unknown flag %q (want stats, collectable, uncollectable, saveall, leak or none)", name)
		}
		flags |= f
	}
	return flags, nil
}

// gcReport is what one run found, for the tests.
type gcReport struct {
	Objects        int // containers the graph made (with -auto: generation 0's count after building)
	Collected      int // gc.collect's result
	Garbage        int // len(gc.garbage) after
	BlocksBefore   int // pymalloc blocks in use before building
	BlocksBuilt    int // ... once built
	BlocksDropped  int // ... once the program dropped its references
	BlocksAfter    int // ... after the collection
	Finalizers     int // __del__ and tp_del calls during the collection
	CountsAfter    [3]int
	GenStats       gcmodule.GenStats
	ChainFreedByRC bool // dropping the references freed everything before any collection
}

// gcCmd is "demo gc".
func gcCmd(args []string, stdout, stderr io.Writer) int {
	c := newCLI("gc", gcSynopsis, gcUsage, stdout, stderr)
	kind := c.fs.String("graph", "pairs", "")
	n := c.fs.Int("n", 1000, "")
	keep := c.fs.Int("keep", 0, "")
	gen := c.fs.Int("gen", 2, "")
	debugFlags := c.fs.String("debug", "stats", "")
	auto := c.fs.Bool("auto", false, "")
	if code, done := c.parse(args); done {
		return code
	}
	if code, done := c.noArgs(); done {
		return code
	}
	var g *gcGraph
	for i := range gcGraphs {
		if gcGraphs[i].name == *kind {
			g = &gcGraphs[i]
		}
	}
	if g == nil {
		names := make([]string, len(gcGraphs))
		for i, g := range gcGraphs {
			names[i] = g.name
		}
		return c.bad("-graph %q: want one of %s", *kind, strings.Join(names, ", "))
	}
	switch {
	case *n < 1:
		return c.bad("-n %d: want at least 1", *n)
	case *keep < 0:
		return c.bad("-keep %d: want 0 or more", *keep)
	case *gen < 0 || *gen > 2:
		return c.bad("-gen %d: want 0, 1 or 2", *gen)
	}
	flags, err := parseGCDebug(*debugFlags)
	if err != nil {
		return c.bad("-debug: %v", err)
	}
	if _, err := runGC(stdout, *g, *n, *keep, *gen, flags, *auto); err != nil {
		return c.fail(err)
	}
	return exitOK
}

// runGC builds, drops, collects and reports, on a collector of its own.
func runGC(w io.Writer, g gcGraph, n, keep, gen, flags int, auto bool) (*gcReport, error) {
	gcClasses()
	t := &teller{w: w}
	col := gcmodule.NewCollector()
	col.SetOutput(w)
	if !auto {
		col.Disable()
	}
	// The list in which the program keeps what it keeps exists first, so
	// that the figures below count the graph alone.
	root := col.NewList()
	if root == gcmodule.Nil {
		return nil, errNoMemory
	}
	r := &gcReport{BlocksBefore: pymalloc.AllocatedBlocks()}
	c0, _, _ := col.GetCount()

	units, err := g.build(col, n)
	if err != nil {
		return r, err
	}
	c1, _, _ := col.GetCount()
	r.Objects = c1 - c0
	made := "made"
	if auto {
		// Automatic collections reset the count while the graph is built,
		// so the containers it made are not c1 - c0: say what the count
		// holds now.
		r.Objects = c1
		made = "in generation 0's count since its last collection"
	}
	r.BlocksBuilt = pymalloc.AllocatedBlocks()
	keep = min(keep, len(units))
	t.printf("graph %s: %s; %s %s, %s\n", g.name, g.describe(n), count(r.Objects, "container"), made,
		count(r.BlocksBuilt-r.BlocksBefore, "pymalloc block"))
	if auto {
		t.printf("automatic collection on while building: counts now %s\n", countStr(counts(col)))
	} else {
		t.printf("gc.disable() while building, so that only the collection asked for runs: counts %s\n", countStr(counts(col)))
	}

	// The program keeps the first keep units in root and drops the rest.
	for _, u := range units[:keep] {
		if err := col.ListAppend(root, u); err != nil {
			return r, err
		}
	}
	for _, u := range units {
		col.Decref(u)
	}
	r.BlocksDropped = pymalloc.AllocatedBlocks()
	t.printf("the program drops its references, keeping %d of %s in a list: pymalloc blocks %s -> %s\n",
		keep, count(len(units), "structure"), withCommas(uint64(r.BlocksBuilt-r.BlocksBefore)), withCommas(uint64(r.BlocksDropped-r.BlocksBefore)))
	r.ChainFreedByRC = r.BlocksDropped == r.BlocksBefore
	if r.ChainFreedByRC {
		t.printf("  (no cycle: reference counting freed everything at once)\n")
	}

	t.printf("\ngc.set_debug(%s); gc.collect(%d):\n", debugNames(flags), gen)
	col.SetDebug(flags)
	finalizersRun, legacyFinalizerRun = 0, 0
	r.Collected = col.Collect(gen)
	col.SetDebug(0)
	r.Finalizers = finalizersRun + legacyFinalizerRun // a legacy tp_del is never called by the collector: 0
	r.BlocksAfter = pymalloc.AllocatedBlocks()
	r.Garbage = col.ListLen(col.Garbage())
	r.CountsAfter = counts(col)
	r.GenStats = col.GetStats()[gen]

	t.printf("\ngc.collect(%d) returned %d; counts now %s\n", gen, r.Collected, countStr(r.CountsAfter))
	t.printf("gc.get_stats()[%d]: collections %d, collected %d, uncollectable %d\n",
		gen, r.GenStats.Collections, r.GenStats.Collected, r.GenStats.Uncollectable)
	if r.Finalizers > 0 {
		t.printf("__del__ ran %s (the collector finalizes all the garbage before it clears any)\n", count(r.Finalizers, "time"))
	}
	t.printf("len(gc.garbage) = %d\n", r.Garbage)
	t.printf("pymalloc blocks in use: %s before the collection, %s after (%s freed)\n",
		withCommas(uint64(r.BlocksDropped-r.BlocksBefore)), withCommas(uint64(max(0, r.BlocksAfter-r.BlocksBefore))),
		withCommas(uint64(max(0, r.BlocksDropped-r.BlocksAfter))))

	// Leave nothing behind: the kept structures, and gc.garbage's.
	col.ListClear(col.Garbage())
	col.Decref(root)
	col.Collect(2)
	return r, t.err
}

// debugNames writes flags as Python would: gc.DEBUG_STATS | ...
func debugNames(flags int) string {
	if flags == 0 {
		return "0"
	}
	if flags == gcmodule.DebugLeak {
		return "gc.DEBUG_LEAK"
	}
	var names []string
	for _, f := range []struct {
		bit  int
		name string
	}{
		{gcmodule.DebugStats, "STATS"}, {gcmodule.DebugCollectable, "COLLECTABLE"},
		{gcmodule.DebugUncollectable, "UNCOLLECTABLE"}, {gcmodule.DebugSaveAll, "SAVEALL"},
	} {
		if flags&f.bit != 0 {
			names = append(names, "gc.DEBUG_"+f.name)
		}
	}
	return strings.Join(names, " | ")
}
