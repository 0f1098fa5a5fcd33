package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The story: how Python manages memory, in five short chapters, each
// told on the running allocator. Nothing in it is canned: every number is
// read from a heap, a collector or the kernel while the chapter runs, and
// the prose around the numbers only says what they mean. Each chapter
// has its own file (ch1_heap.go ... ch5_stats.go).

// storyConfig sets the sizes of the story's experiments. The defaults are
// what "go run ./cmd/demo" uses; the test tells the same story smaller.
type storyConfig struct {
	// ManyObjects is how many objects chapter 4 allocates, frees and
	// allocates again: enough megabytes to stand out of the process's RSS.
	ManyObjects int
	// CycleLists is how many self-referencing lists chapter 3 makes to
	// show automatic collection; 9,000 is enough for twelve collections,
	// the twelfth of generation 1.
	CycleLists int
	// WorkloadObjects is the size of the workload whose statistics
	// chapter 5 prints.
	WorkloadObjects int
}

var defaultStory = storyConfig{ManyObjects: 1_000_000, CycleLists: 9_000, WorkloadObjects: 20_000}

// cpython names the CPython whose object sizes the story quotes: a 64-bit
// one's, whose allocator layout the port has on every system. On a 32-bit
// system, where CPython's own objects are about half as big, the story
// says which.
var cpython = map[bool]string{true: "CPython", false: "a 64-bit CPython"}[strconv.IntSize == 64]

// chapter is one chapter: its title and what tells it.
type chapter struct {
	title string
	tell  func(t *teller, cfg storyConfig, f *storyFigures) error
}

var chapters = []chapter{
	{"The private heap: arenas, pools and blocks", tellHeap},
	{"Reference counting: getDays", tellRefcount},
	{"Cycles, and the collector that finds them", tellCycles},
	{"Freed memory goes back to the allocator", tellKept},
	{"The statistics, as sys._debugmallocstats() prints them", tellStats},
}

// storyFigures are the key figures of a telling, for the test that checks
// the story end to end: the test reads these, and checks that the text
// printed them.
type storyFigures struct {
	// Chapter 1: where each object went.
	Placed []placedObject

	// Chapter 2.
	DaysRefcountInside int   // refcount of days during getDays
	DayStrRefcounts    []int // refcount of each day name, held by the list only
	BlocksBeforeCall   int   // pymalloc blocks in use before, during, after a call whose result is dropped
	BlocksInsideCall   int
	BlocksAfterCall    int
	ClassRowsRestored  bool  // every class row of pymalloc's stats as before the call
	KeptRefcounts      []int // week = getDays(); weekdays = week; del week
	BlocksAfterKept    int   // after del weekdays too

	// Chapter 3.
	CycleRefcounts    [2]int // a and b after del a, b
	CycleBlocksHeld   int    // blocks the dropped cycle still held
	CycleCollected    int    // what Collect returned
	CycleBlocksAfter  int    // blocks in use after, equal to before the cycle
	CycleBlocksBefore int
	AutoCollections   []autoCollection
	AutoCountStart    [3]int // counts before the loop

	// Chapter 4, under KeepArenas then ReleaseArenas.
	Kept, Released keptFigures

	// Chapter 5.
	DumpArenas        int
	DumpBytesAddUp    bool // the six byte lines add up to arenas × arena size
	DumpRowsAddUp     bool // blocks in use + available = pools × blocks per pool, every row
	DumpBlocksInUse   int
	DumpLiveOfProgram int
}

// teller writes the story, remembering the first write error so that the
// chapters can print without checking each line.
type teller struct {
	w   io.Writer
	err error
}

func (t *teller) printf(format string, a ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, a...)
	}
}

// para prints prose wrapped to 76 columns, indented by two spaces, then a
// blank line. The words are the prose's, the numbers are passed in.
func (t *teller) para(format string, a ...any) {
	words := strings.Fields(fmt.Sprintf(format, a...))
	line := " "
	for _, w := range words {
		if len(line)+1+len(w) > 78 && line != " " {
			t.printf("%s\n", line)
			line = " "
		}
		line += " " + w
	}
	t.printf("%s\n\n", line)
}

// indented returns a writer that prefixes each line with n spaces, for
// output that is not the story's own (the collector's DEBUG_STATS lines,
// the statistics dump).
func (t *teller) indented(n int) io.Writer {
	return &indentWriter{t: t, prefix: strings.Repeat(" ", n), atStart: true}
}

type indentWriter struct {
	t       *teller
	prefix  string
	atStart bool
}

func (iw *indentWriter) Write(b []byte) (int, error) {
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if iw.atStart {
			iw.t.printf("%s", iw.prefix)
		}
		iw.t.printf("%s", line)
		iw.atStart = line[len(line)-1] == '\n'
	}
	return len(b), iw.t.err
}

// tellStory tells the chapters chosen (all of them for only == 0).
func tellStory(w io.Writer, cfg storyConfig, only int) (*storyFigures, error) {
	t := &teller{w: w}
	f := &storyFigures{}
	if only == 0 {
		t.printf("How Python manages memory, told on gopymalloc: CPython 3.11's allocator and\n" +
			"cycle collector ported to Go. Every figure below was measured just now.\n\n")
	}
	for i, c := range chapters {
		if only != 0 && only != i+1 {
			continue
		}
		heading := fmt.Sprintf("Chapter %d. %s", i+1, c.title)
		t.printf("%s\n%s\n\n", heading, strings.Repeat("=", len(heading)))
		if err := c.tell(t, cfg, f); err != nil {
			return f, fmt.Errorf("chapter %d: %w", i+1, err)
		}
		if t.err != nil {
			return f, t.err
		}
	}
	return f, t.err
}

// storySynopsis is the story subcommand's command line.
const storySynopsis = "demo story [-chapter N] [-objects N]"

func storyUsage(w io.Writer) {
	fmt.Fprint(w, "  "+storySynopsis+`
                how Python manages memory, in five chapters: the private
                heap, reference counting, cycles and the collector, freed
                memory kept by the process, the statistics
    -chapter N      tell only chapter N (1-5)
    -objects N      objects chapter 4 allocates and frees (default 1000000)
`)
}

// storyCmd is "demo story", and "demo" alone.
func storyCmd(args []string, stdout, stderr io.Writer) int {
	c := newCLI("story", storySynopsis, storyUsage, stdout, stderr)
	only := c.fs.Int("chapter", 0, "")
	objects := c.fs.Int("objects", defaultStory.ManyObjects, "")
	if code, done := c.parse(args); done {
		return code
	}
	if code, done := c.noArgs(); done {
		return code
	}
	if *only < 0 || *only > len(chapters) {
		return c.bad("-chapter %d: want 1 to %d (0, the default, tells them all)", *only, len(chapters))
	}
	if *objects < 1 {
		return c.bad("-objects %d: want at least 1", *objects)
	}
	// Only chapter 4 allocates that many objects; another would ignore it.
	if *only != 0 && *only != 4 && flagGiven(c.fs, "objects") {
		return c.bad("-objects %d with -chapter %d: -objects sizes chapter 4 only", *objects, *only)
	}
	cfg := defaultStory
	cfg.ManyObjects = *objects
	if _, err := tellStory(stdout, cfg, *only); err != nil {
		return c.fail(err)
	}
	return exitOK
}
