package main

import (
	"bufio"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/gopymalloc/gopymalloc/internal/workload"
)

// defaultChurnPairs is the churn trace's free+malloc pairs after the window
// unless -pairs says otherwise.
const defaultChurnPairs = 3_000_000

// traceCmd is "cmpalloc trace". It exists because the C reference
// replayers (CPython's own pymalloc, glibc, mimalloc, jemalloc) only replay
// pytrace files: written out as a trace, the allocator core's churn and
// bulk workloads (internal/workload) run through them, and through demo
// replay, op for op as the Go backends run them.
func traceCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("trace", stderr)
	pairs := fs.Int("pairs", defaultChurnPairs, "")
	out := fs.String("o", "", "")
	// The synopsis puts the workload first, where flag.Parse would stop;
	// after the flags is accepted too.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return exitUsage
		}
	}
	pairsSet := false
	fs.Visit(func(f *flag.Flag) { pairsSet = pairsSet || f.Name == "pairs" })
	fail := func(msg string) int {
		fmt.Fprintln(stderr, "cmpalloc trace:", msg)
		fmt.Fprintln(stderr, "usage: cmpalloc trace churn|bulk [-pairs N] -o FILE.trace.gz")
		return exitUsage
	}
	var gen func(io.Writer) error
	switch {
	case fs.NArg() > 0:
		return fail(fmt.Sprintf("unexpected arguments %q", fs.Args()))
	case name == "":
		return fail("no workload given (churn or bulk)")
	case name == "churn":
		if *pairs < 1 {
			return fail("-pairs must be at least 1")
		}
		n := *pairs
		gen = func(w io.Writer) error { return writeChurn(w, n) }
	case name == "bulk":
		if pairsSet {
			return fail("-pairs applies to churn only")
		}
		gen = func(w io.Writer) error { return writeBulk(w, workload.BulkBlocks) }
	default:
		return fail(fmt.Sprintf("unknown workload %q (churn or bulk)", name))
	}
	switch {
	case *out == "":
		return fail("-o FILE.trace.gz is required")
	case !strings.HasSuffix(*out, ".gz"):
		// The trace readers decide by the suffix whether to gunzip.
		return fail(fmt.Sprintf("-o %s: the name must end in .gz", *out))
	}
	if err := writeTraceFile(*out, gen); err != nil {
		fmt.Fprintf(stderr, "cmpalloc trace: writing %s: %v\n", *out, err)
		return exitFail
	}
	return exitOK
}

// writeTraceFile writes gen's text gzip'd to path. On any error it removes
// what it wrote, so no truncated trace is left for a replayer to reject
// later.
func writeTraceFile(path string, gen func(io.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	// Buffers on both sides of the compressor: op lines are a few bytes
	// each, and the compressor's output comes in small pieces too.
	fw := bufio.NewWriterSize(f, 1<<16)
	zw := gzip.NewWriter(fw) // no name, no mtime: the same bytes every time
	err = gen(zw)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if ferr := fw.Flush(); err == nil {
		err = ferr
	}
	return errors.Join(err, f.Close())
}

// opWriter formats trace lines with strconv rather than fmt: the churn
// trace has millions of them. bufio's first error sticks and comes back
// from flush.
type opWriter struct {
	w   *bufio.Writer
	buf []byte
}

func newOpWriter(w io.Writer) *opWriter {
	return &opWriter{w: bufio.NewWriterSize(w, 1<<16), buf: make([]byte, 0, 64)}
}

// header writes the comment lines that FORMAT.md's header starts with,
// those that apply to a synthetic trace.
func (o *opWriter) header(command, workloadName string, mallocs, frees int) {
	fmt.Fprintf(o.w, "# pytrace 1\n# command: %s\n", command)
	fmt.Fprintf(o.w, "# note: synthetic: the allocator core's %s workload, internal/workload\n", workloadName)
	fmt.Fprintf(o.w, "# ops: %d m: %d c: 0 r: 0 f: %d\n", mallocs+frees, mallocs, frees)
	// Every op that creates an ID is an m, so the largest ID is their count.
	fmt.Fprintf(o.w, "# max_id: %d\n", mallocs)
}

func (o *opWriter) malloc(id uint64, size uintptr) {
	b := append(o.buf[:0], 'm', ' ')
	b = strconv.AppendUint(b, id, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(size), 10)
	o.w.Write(append(b, '\n'))
}

func (o *opWriter) free(id uint64) {
	b := append(o.buf[:0], 'f', ' ')
	b = strconv.AppendUint(b, id, 10)
	o.w.Write(append(b, '\n'))
}

func (o *opWriter) flush() error { return o.w.Flush() }

// writeChurn writes workload.Churn as a trace: the window's mallocs, then
// pairs iterations of its loop, each freeing the block in slot
// i%ChurnWindow and putting a new one there. The window left live at the
// end is not freed: Churn frees it after its timer stops, outside what it
// measures.
func writeChurn(w io.Writer, pairs int) error {
	const window = workload.ChurnWindow
	sizes := workload.Sizes(1<<16, 1, 512) // Churn's sizes, same seed
	o := newOpWriter(w)
	o.header("cmpalloc trace churn -pairs "+strconv.Itoa(pairs), "churn", window+pairs, pairs)
	live := make([]uint64, window) // the ID in each slot
	next := uint64(1)
	for i := range live {
		o.malloc(next, sizes[i])
		live[i] = next
		next++
	}
	for i := 0; i < pairs; i++ {
		slot := i % window
		o.free(live[slot])
		o.malloc(next, sizes[i&(1<<16-1)])
		live[slot] = next
		next++
	}
	return o.flush()
}

// writeBulk writes one round of workload.Bulk as a trace: blocks mallocs,
// then a free of each in allocation order. The command uses BulkBlocks;
// tests pass fewer.
func writeBulk(w io.Writer, blocks int) error {
	sizes := workload.Sizes(blocks, 16, 256)
	o := newOpWriter(w)
	o.header("cmpalloc trace bulk", "bulk", blocks, blocks)
	for i, n := range sizes {
		o.malloc(uint64(i+1), n)
	}
	for i := range blocks {
		o.free(uint64(i + 1))
	}
	return o.flush()
}
