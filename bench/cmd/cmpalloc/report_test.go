package main

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/bench"
	"github.com/gopymalloc/gopymalloc/internal/winetest"
)

func TestExpectedRounds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		comments []string
		want     int
	}{
		{"rounds line", []string{"# cmpalloc replay -rounds 9 x.gz", "# rounds: 3"}, 3},
		{"older file: -rounds N", []string{"# cmpalloc replay -rounds 9 -wait-idle 30s x.gz"}, 9},
		{"older file: -rounds=N", []string{"# cmpalloc gc -rounds=4"}, 4},
		{"older file: --rounds N", []string{"# cmpalloc churn --rounds 2 -o r.txt"}, 2},
		{"older file: the default", []string{"# cmpalloc bulk -o r.txt"}, 5},
		{"not a measuring command", []string{"# cmpalloc table r.txt"}, 0},
		{"no header", []string{"# date: 2026"}, 0},
		{"nothing", nil, 0},
	} {
		assert.Equal(t, tc.want, expectedRounds(tc.comments), tc.name)
	}
}

func TestIncomplete(t *testing.T) {
	recs := func(lines ...string) []bench.Record {
		var out []bench.Record
		for _, l := range lines {
			r, err := bench.ParseRecord(l)
			require.NoError(t, err)
			out = append(out, r)
		}
		return out
	}
	two := recs(
		"kind=replay backend=a trace=/x/t.trace.gz ns_per_op=1 round=1",
		"backend=c-b trace=t.trace.gz ns_per_op=1 round=1", // a C replayer's line: no kind
		"kind=replay backend=a trace=t ns_per_op=1 round=2",
		"kind=replay backend=c-b trace=t ns_per_op=1 round=2",
	)
	for _, tc := range []struct {
		name     string
		recs     []bench.Record
		comments []string
		want     string
	}{
		{"whole", two, []string{"# rounds: 2"}, ""},
		{"short", two[:3], []string{"# rounds: 2"}, "replay t c-b has 1 run of the 2 rounds asked for"},
		{"one round asked", two, []string{"# rounds: 1"}, "replay t a has 2 runs of the 1 round asked for"},
		{"more rounds asked", two, []string{"# cmpalloc replay -rounds 3 t.gz"}, "replay t a has 2 runs of the 3 rounds asked for"},
		{"stopped", two, []string{"# rounds: 2", "# stopped: round 3: a t: exit status 1"}, "the measurement stopped: round 3: a t: exit status 1"},
		{"rounds unknown", two[:3], nil, ""},
		{"workloads", recs("kind=churn backend=a ns_per_op=1", "kind=churnmem backend=a rss_peak_kb=1"), []string{"# rounds: 1"}, ""},
	} {
		assert.Equal(t, tc.want, incomplete(tc.recs, tc.comments), tc.name)
	}
}

// A measurement that fails in its second round exits 1 with no table;
// the raw file keeps the first round's records and says where it
// stopped, and table and chart refuse it unless -incomplete.
func TestStoppedRunIsNotSummarised(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the replayer is a shell script, which windows cannot run")
	}
	dir := winetest.TempDir(t)
	trace := exampleTrace(t, dir)
	// A replayer that works once, then fails.
	replayer := filepath.Join(dir, "replay-flaky")
	require.NoError(t, os.WriteFile(replayer, []byte("#!/bin/sh\n"+
		"if [ -e "+dir+"/ran ]; then echo 'flaky: out of luck' >&2; exit 1; fi\n"+
		"touch "+dir+"/ran\necho \"backend=flaky trace=$1 ops=7 ns_per_op=3.5\"\n"), 0o755))
	raw := filepath.Join(dir, "raw.txt")
	code, stdout, stderr := runCmd("replay", "-rounds", "3", "-backends", "freelist", "-c-replayer", replayer, "-o", raw, trace)
	assert.Equal(t, exitFail, code)
	assert.Empty(t, stdout, "no table")
	assert.Contains(t, stderr, "cmpalloc replay: round 2: c-flaky example")
	data, err := os.ReadFile(raw)
	require.NoError(t, err)
	assert.Contains(t, string(data), "\n# rounds: 3\n")
	assert.Equal(t, 2, strings.Count(string(data), "kind=replay"), "round 1's records")
	assert.Contains(t, string(data), "\n# stopped: round 2: c-flaky example:")

	for _, args := range [][]string{{"table", raw}, {"table", "-csv", raw}, {"chart", "-o", filepath.Join(dir, "x.svg"), raw}} {
		code, stdout, stderr = runCmd(args...)
		assert.Equal(t, exitFail, code, "%q", args)
		assert.Empty(t, stdout, "%q", args)
		assert.Contains(t, stderr, raw+": incomplete: the measurement stopped: round 2: c-flaky example", "%q", args)
		assert.NoFileExists(t, filepath.Join(dir, "x.svg"))
	}
	code, stdout, stderr = runCmd("table", "-incomplete", raw)
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "| example | freelist | 1 |")
	assert.Contains(t, stderr, "warning: "+raw+": incomplete")
}

// Every raw file in bench/results makes the rounds its header asked for.
func TestPublishedRawFilesAreWhole(t *testing.T) {
	paths, err := filepath.Glob("../../results/*.txt")
	require.NoError(t, err)
	n := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		if !strings.HasPrefix(string(data), "# cmpalloc ") {
			continue // go test output and logs
		}
		n++
		_, _, err = readRaw([]string{p}, false, nil)
		assert.NoError(t, err, p)
	}
	assert.NotZero(t, n, "no cmpalloc raw file found")
}

func TestDefaultNote(t *testing.T) {
	rec := func(line string) bench.Record {
		r, err := bench.ParseRecord(line)
		require.NoError(t, err)
		return r
	}
	const tail = "; the C replayers rerun here were interleaved in the same rounds.\nHatched: figures from elsewhere, not measured here: " + bench.ReferenceSource + "."
	for _, tc := range []struct {
		name     string
		recs     []bench.Record
		comments []string
		want     string
	}{
		{"header and rounds",
			[]bench.Record{rec("backend=a round=1"), rec("backend=a round=3"), rec("backend=b round=2")},
			[]string{"# cmpalloc replay -rounds 3", "# date: 2026-11-29T14:27:18Z", "# cpu: AMD EPYC, 2 logical CPUs, GOMAXPROCS 2"},
			"Measured here 2026-11-29 (AMD EPYC), 3 rounds, one process per run" + tail},
		{"the first header wins",
			[]bench.Record{rec("backend=a round=1")},
			[]string{"# date: 2026-01-02T00:00:00Z", "# date: 2027-01-01T00:00:00Z", "# cpu: X, 1 logical CPU"},
			"Measured here 2026-01-02 (X), 1 round, one process per run" + tail},
		{"no header, no rounds (C replayer lines)",
			[]bench.Record{rec("backend=pymalloc ns_per_op=1")}, nil,
			"Measured here" + tail},
	} {
		assert.Equal(t, tc.want, defaultNote(tc.recs, tc.comments), tc.name)
	}
}

func TestHeader(t *testing.T) {
	h := header([]string{"gc", "-rounds", "3"}, 3)
	require.GreaterOrEqual(t, len(h), 6)
	assert.Equal(t, "# cmpalloc gc -rounds 3", h[0])
	assert.Equal(t, "# rounds: 3", h[1])
	assert.Equal(t, 3, expectedRounds(h), "the header says its rounds")
	for _, prefix := range []string{"# date: ", "# go: go", "# cpu: ", "# GOGC: "} {
		assert.True(t, slices.ContainsFunc(h, func(l string) bool { return strings.HasPrefix(l, prefix) }), prefix)
	}
}
