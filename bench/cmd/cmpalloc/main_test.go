package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/internal/winetest"
)

// The commands re-execute os.Executable(), which in a test is the test
// binary: TestMain turns it into cmpalloc for the child runs, and for the
// whole command under runCmdProcess.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == childFlag || os.Getenv(asCommand) != "" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// asCommand, set in the test binary's environment, makes it cmpalloc.
const asCommand = "CMPALLOC_TEST_AS_COMMAND"

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// runCmdProcess runs the command in a process of its own with env added
// to the environment: for variables that pymalloc reads only when a
// process starts.
func runCmdProcess(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), asCommand+"=1"), env...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String(), errb.String()
	}
	require.NoError(t, err)
	return exitOK, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	code, _, stderr := runCmd()
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "usage:")
	code, stdout, _ := runCmd("-h")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "cmpalloc replay")
	code, _, stderr = runCmd("dance")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, `unknown command "dance"`)

	for _, args := range [][]string{
		{"replay"},
		{"replay", "-backends", "tcmalloc", "x.gz"},
		{"replay", "/no/such/trace.gz"},
		{"replay", "-rounds", "0", "-backends", "goheap", "main.go"},
		{"churn", "extra"},
		{"gc", "-size", "0"},
		{"chart", "x.txt"},
	} {
		code, _, stderr := runCmd(args...)
		assert.NotEqual(t, exitOK, code, "%q", args)
		assert.NotEmpty(t, stderr, "%q", args)
	}
}

// Whatever would make a child fail or merge rows is refused before the
// first run: nothing is measured, no raw file is written.
func TestReplayRefusesBeforeRunning(t *testing.T) {
	dir := winetest.TempDir(t)
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	good := write("a/x.trace", pytrace.FormatExample)
	sameName := write("b/x.trace", pytrace.FormatExample)
	bad := write("bad.trace", "m 1 10\nf 2\n")
	notExec := write("replayer", "#!/bin/sh\n")
	replayerA := write("a/replay-x", "#!/bin/sh\n")
	replayerB := write("b/replay-x", "#!/bin/sh\n")
	require.NoError(t, os.Chmod(replayerA, 0o755))
	require.NoError(t, os.Chmod(replayerB, 0o755))
	raw := filepath.Join(dir, "raw.txt")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{good, sameName}, `both trace "x"`},
		{[]string{good, bad}, "bad.trace:2:"},
		{[]string{"-backends", "freelist,freelist", good}, `backend "freelist" listed twice`},
		{[]string{"-base", "nosuch", good}, `-base "nosuch"`},
		{[]string{"-c-replayer", notExec, good}, "not an executable file"},
		{[]string{"-c-replayer", dir, good}, "not an executable file"},
		{[]string{"-c-replayer", replayerA, "-c-replayer", replayerB, good}, `both backend "c-x"`},
		{[]string{"-c-replayer", replayerA, "-c-replayer", replayerA, good}, `both backend "c-x"`},
	} {
		if runtime.GOOS == "windows" && strings.HasPrefix(tc.want, "both backend") {
			// Windows files have no execute bit, so every -c-replayer
			// is refused there as not executable (the C replayers are
			// built for unix: ../shared/cpython-replay/build.sh).
			continue
		}
		args := append([]string{"replay", "-rounds", "1", "-backends", "freelist", "-o", raw}, tc.args...)
		if tc.args[0] == "-backends" {
			args = append([]string{"replay", "-rounds", "1", "-o", raw}, tc.args...)
		}
		code, stdout, stderr := runCmd(args...)
		assert.Equal(t, exitUsage, code, "%q", tc.args)
		assert.Contains(t, stderr, tc.want, "%q", tc.args)
		assert.Empty(t, stdout, "%q", tc.args)
		assert.NoFileExists(t, raw, "%q", tc.args)
	}
	code, _, stderr := runCmd("churn", "-rounds", "1", "-backends", "freelist", "-base", "modernc", "-benchtime", "10x")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, `-base "modernc": not a backend of this run`)
}

func TestBackends(t *testing.T) {
	code, stdout, _ := runCmd("backends")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "gopymalloc ")
	assert.Contains(t, stdout, "off-heap")
}

// A whole replay measurement on a small trace: two rounds, two backends,
// each run a child process, then the table and the chart from the raw
// records.
func TestReplayTableChart(t *testing.T) {
	dir := winetest.TempDir(t)
	trace := exampleTrace(t, dir)
	raw := filepath.Join(dir, "raw.txt")
	code, stdout, stderr := runCmd("replay", "-rounds", "2", "-backends", "gopymalloc,goheap", "-o", raw, trace)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "| example | gopymalloc | 2 |")
	assert.Contains(t, stdout, "| example | goheap | 2 |")
	assert.Contains(t, stderr, "round 2/2")

	data, err := os.ReadFile(raw)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(data), "# cmpalloc replay"))
	assert.Equal(t, 4, strings.Count(string(data), "kind=replay"))

	code, stdout, stderr = runCmd("table", "-csv", raw)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "replay,example,goheap,ns_per_op,2,")

	svg := filepath.Join(dir, "replay.svg")
	code, _, stderr = runCmd("chart", "-o", svg, raw)
	require.Equal(t, exitOK, code, stderr)
	data, err = os.ReadFile(svg)
	require.NoError(t, err)
	assert.Contains(t, string(data), "2 rounds, one process per run")
}

func TestWorkloadCommands(t *testing.T) {
	code, stdout, stderr := runCmd("churn", "-rounds", "1", "-backends", "freelist,modernc", "-benchtime", "1000x")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "| freelist | 1 |")
	code, stdout, stderr = runCmd("gc", "-rounds", "1", "-backends", "freelist", "-blocks", "1000")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "| empty | 0 | 1 |")
	assert.Contains(t, stdout, "| freelist | 1000 | 1 |")
}

func TestProfile(t *testing.T) {
	dir := winetest.TempDir(t)
	trace := exampleTrace(t, dir)
	prof := filepath.Join(dir, "cpu.prof")
	code, stdout, stderr := runCmd("profile", "-backend", "goheap", "-repeat", "3", "-o", prof, trace)
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, 3, strings.Count(stdout, "backend=goheap"))
	info, err := os.Stat(prof)
	require.NoError(t, err)
	assert.NotZero(t, info.Size())

	code, _, _ = runCmd("profile", "-backend", "nope", "-o", prof, trace)
	assert.Equal(t, exitUsage, code)
}

// Under GOPYMALLOC=malloc the package-level functions serve the
// large-block allocator: every measuring command refuses gopymalloc-api
// before its first run, and a child run of it fails, where both measured
// the other allocator under gopymalloc-api's name. Backends that do not
// read the variable still run. pymalloc reads the variable when a
// process starts, so each command runs in a process started with it.
func TestAPIBackendUnderGOPYMALLOC(t *testing.T) {
	dir := winetest.TempDir(t)
	trace := exampleTrace(t, dir)
	env := []string{"GOPYMALLOC=malloc"}
	for _, args := range [][]string{
		{"replay", "-rounds", "1", "-backends", "gopymalloc-api", trace},
		{"replay", "-rounds", "1", trace}, // all backends
		{"churn", "-rounds", "1", "-backends", "gopymalloc-api", "-benchtime", "10x"},
		{"bulk", "-rounds", "1", "-backends", "gopymalloc-api", "-benchtime", "10x"},
		{"gc", "-rounds", "1", "-backends", "gopymalloc-api", "-blocks", "10"},
		{"profile", "-backend", "gopymalloc-api", "-o", filepath.Join(dir, "cpu.prof"), trace},
	} {
		code, stdout, stderr := runCmdProcess(t, env, args...)
		assert.Equal(t, exitUsage, code, "%q", args)
		assert.Contains(t, stderr, `gopymalloc-api: GOPYMALLOC="malloc"`, "%q", args)
		assert.NotContains(t, stderr, "round 1/1", "%q: refused before the first run", args)
		assert.Empty(t, stdout, "%q", args)
	}
	code, _, stderr := runCmdProcess(t, env, childFlag, "replay", "-backend", "gopymalloc-api", trace)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, stderr, `GOPYMALLOC="malloc"`)

	code, stdout, stderr := runCmdProcess(t, env, "replay", "-rounds", "1", "-backends", "gopymalloc,freelist", trace)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "| example | freelist | 1 |")
}

// Bad values are refused before the first run, with exit 2 and a message
// that names the flag and the value: nothing is measured, no table is
// printed.
func TestBadValuesRefusedBeforeRunning(t *testing.T) {
	dir := winetest.TempDir(t)
	trace := exampleTrace(t, dir)
	empty := filepath.Join(dir, "empty.trace")
	require.NoError(t, os.WriteFile(empty, []byte("# pytrace 1\n"), 0o644))
	raw := filepath.Join(dir, "raw.txt")
	require.NoError(t, os.WriteFile(raw, []byte("kind=churn backend=freelist ns_per_op=10 round=1\n"), 0o644))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"churn", "-backends", "freelist", "-benchtime", "bogus"}, `-benchtime "bogus": want a duration above 0`},
		{[]string{"churn", "-backends", "freelist", "-benchtime", "0s"}, `-benchtime "0s"`},
		{[]string{"bulk", "-backends", "freelist", "-benchtime", "0x"}, `-benchtime "0x": want a count above 0`},
		{[]string{"bulk", "-backends", "freelist", "-benchtime", "-3x"}, `-benchtime "-3x"`},
		{[]string{"bulk", "-rounds", "1", "-backends", "freelist", "-benchtime", "10x", "-base", "modernc"}, `-base "modernc": only churn has a ratio column`},
		{[]string{"churn", "-rounds", "0", "-backends", "freelist"}, "cmpalloc churn: -rounds 0: want at least 1"},
		{[]string{"replay", "-rounds", "1", "-backends", "freelist", "-wait-idle", "-1s", trace}, "-wait-idle -1s: want 0"},
		{[]string{"replay", "-rounds", "1", "-backends", "freelist", empty}, "empty.trace: no ops to replay"},
		{[]string{"gc", "-backends", "freelist", "-blocks", "-5"}, "-blocks -5: want 0 or more"},
		{[]string{"gc", "-backends", "freelist", "-size", "0"}, "-size 0: want 1 or more bytes"},
		{[]string{"gc", "-backends", "freelist", "-collections", "0"}, "-collections 0: want 1 or more"},
		{[]string{"gc", "-backends", "freelist", "-warmup", "-1s"}, "-warmup -1s: want 0 or more"},
		{[]string{"table"}, "want at least one raw file"},
		{[]string{"table", "-base", "nosuch", raw}, `-base "nosuch": no backend of that name`},
	} {
		code, stdout, stderr := runCmd(tc.args...)
		assert.Equal(t, exitUsage, code, "%q", tc.args)
		assert.Contains(t, stderr, tc.want, "%q", tc.args)
		assert.NotContains(t, stderr, "round 1/", "%q: nothing runs", tc.args)
		assert.Empty(t, stdout, "%q", tc.args)
	}
}

// exampleTrace writes FORMAT.md's example trace into dir and returns its
// path.
func exampleTrace(t *testing.T, dir string) string {
	t.Helper()
	trace := filepath.Join(dir, "example.trace")
	require.NoError(t, os.WriteFile(trace, []byte(pytrace.FormatExample), 0o644))
	return trace
}
