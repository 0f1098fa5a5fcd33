package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/gopymalloc/gopymalloc/bench"
)

// profileCmd is "cmpalloc profile": the replays of one backend under the
// CPU profiler, in this process, so that `go tool pprof -list replayOps`
// shows where a backend's time goes in the very loop the tables time.
// The profile also covers each replay's set-up (the ID table) and the
// collector's work on other threads.
func profileCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("profile", stderr)
	name := fs.String("backend", "", "")
	repeat := fs.Int("repeat", 10, "")
	out := fs.String("o", "", "")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	b, ok := bench.Lookup(*name)
	if !ok || *out == "" || fs.NArg() != 1 || *repeat < 1 {
		fmt.Fprintln(stderr, "cmpalloc profile: want -backend NAME (one of cmpalloc backends), -o FILE, -repeat >= 1 and one trace")
		return exitUsage
	}
	if err := bench.CheckBackends([]bench.Backend{b}); err != nil {
		fmt.Fprintln(stderr, "cmpalloc profile:", err)
		return exitUsage
	}
	t, err := bench.LoadTrace(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "cmpalloc profile:", err)
		return exitFail
	}
	f, err := os.Create(*out)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(stderr, "cmpalloc profile:", err)
		return exitFail
	}
	for range *repeat {
		rec, rerr := b.Replay(t, true)
		if rerr != nil {
			err = rerr
			break
		}
		fmt.Fprintln(stdout, rec)
	}
	pprof.StopCPUProfile()
	err = errors.Join(err, f.Close(), t.Release())
	if err != nil {
		fmt.Fprintln(stderr, "cmpalloc profile:", err)
		return exitFail
	}
	return exitOK
}
