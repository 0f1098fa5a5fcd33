package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"testing"
)

// ChildFlag is the hidden flag with which the command re-executes itself
// for one run in a fresh process: `cmpalloc -child KIND [flags] [TRACE]`.
// A fresh process per run is what replay.c does (one replay per process):
// every run starts from an empty allocator, an empty Go heap and a new RSS
// high-water mark, and no run inherits another's cached memory or
// collector pacing.
const ChildFlag = "-child"

// ChildArgs returns the arguments after the executable's name that make
// it run one measurement of kind for backend: kind is replay (then
// extra ends with the trace's path), churn, bulk, churnmem, bulkmem or gc.
func ChildArgs(kind, backend string, extra ...string) []string {
	return append([]string{ChildFlag, kind, "-backend", backend}, extra...)
}

// Child runs the measurement that ChildArgs describes (args are the
// arguments after ChildFlag) and writes its record, one line, to stdout.
func Child(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("child: no kind")
	}
	kind := args[0]
	fs := flag.NewFlagSet("child "+kind, flag.ContinueOnError)
	name := fs.String("backend", "", "")
	noTouch := fs.Bool("no-touch", false, "")
	benchtime := fs.String("benchtime", "1s", "")
	blocks := fs.Int("blocks", DefaultGCOptions.Blocks, "")
	size := fs.Uint("size", uint(DefaultGCOptions.Size), "")
	collections := fs.Int("collections", DefaultGCOptions.Collections, "")
	warm := fs.Duration("warmup", DefaultGCOptions.WarmUp, "")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var rec Record
	var err error
	if kind == "gc" {
		rec, err = RunGC(*name, GCOptions{Blocks: *blocks, Size: uintptr(*size), Collections: *collections, WarmUp: *warm})
		return emit(stdout, rec, err)
	}
	b, ok := Lookup(*name)
	if !ok {
		return fmt.Errorf("child: unknown backend %q", *name)
	}
	switch kind {
	case "replay":
		if fs.NArg() != 1 {
			return errors.New("child replay: want one trace")
		}
		t, lerr := LoadTrace(fs.Arg(0))
		if lerr != nil {
			return lerr
		}
		rec, err = b.Replay(t, !*noTouch)
		err = errors.Join(err, t.Release())
	case "churn", "bulk":
		if err := CheckBenchtime(*benchtime); err != nil {
			return fmt.Errorf("child: %w", err)
		}
		testing.Init()
		if err := flag.Set("test.benchtime", *benchtime); err != nil {
			return fmt.Errorf("child: -benchtime %q: %w", *benchtime, err)
		}
		if kind == "churn" {
			rec, err = RunChurn(b)
		} else {
			rec, err = RunBulk(b)
		}
	case "bulkmem":
		rec, err = RunBulkMemory(b)
	case "churnmem":
		rec, err = RunChurnMemory(b)
	default:
		return fmt.Errorf("child: unknown kind %q", kind)
	}
	return emit(stdout, rec, err)
}

func emit(w io.Writer, rec Record, err error) error {
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, rec)
	return err
}
