package bench

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/winetest"
)

// needShell skips a test whose jobs are /bin/sh command lines where this
// process cannot run /bin/sh: a windows binary cannot, even under Wine,
// where the path exists (Z:\bin\sh) but is no windows program.
func needShell(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("/bin/sh"); err != nil {
		t.Skipf("cannot run /bin/sh here: %v", err)
	}
}

func echoJob(label, line string) Job {
	return Job{Label: label, Argv: []string{"/bin/sh", "-c", "echo noise; echo '" + line + "'"}, Set: map[string]string{"kind": "replay"}}
}

func TestRunnerRotatesAndRecords(t *testing.T) {
	needShell(t)
	sets := [][]Job{{
		echoJob("a", "backend=a trace=/x/t.trace.gz ns_per_op=1"),
		echoJob("b", "backend=b trace=t ns_per_op=2"),
		echoJob("c", "backend=pymalloc trace=t ns_per_op=3"),
	}}
	sets[0][2].Set["backend"] = "c-pymalloc"
	var raw, progress bytes.Buffer
	recs, err := Runner{Rounds: 3, Raw: &raw, Progress: &progress}.Run(sets)
	require.NoError(t, err)
	var order []string
	for _, r := range recs {
		order = append(order, r.Get("backend")+r.Get("round"))
		assert.Equal(t, "replay", r.Get("kind"))
		assert.Equal(t, "t", r.Get("trace"), "a path becomes the trace's name")
	}
	assert.Equal(t, []string{"a1", "b1", "c-pymalloc1", "b2", "c-pymalloc2", "a2", "c-pymalloc3", "a3", "b3"}, order)
	assert.Equal(t, 9, strings.Count(raw.String(), "\n"))
	back, _, err := ReadRecords(&raw)
	require.NoError(t, err)
	assert.Len(t, back, 9)
	assert.Contains(t, progress.String(), "round 2/3")
}

func TestRunnerFails(t *testing.T) {
	needShell(t)
	var stderr bytes.Buffer
	_, err := Runner{Rounds: 1, Stderr: &stderr}.Run([][]Job{{{Label: "bad", Argv: []string{"/bin/sh", "-c", "echo oops >&2; exit 3"}}}})
	assert.ErrorContains(t, err, "round 1: bad")
	assert.Contains(t, stderr.String(), "oops")
	_, err = Runner{Rounds: 1}.Run([][]Job{{{Label: "mute", Argv: []string{"/bin/true"}}}})
	assert.ErrorContains(t, err, "empty record")
}

func TestReplayerName(t *testing.T) {
	assert.Equal(t, "c-pymalloc", ReplayerName("/root/cref/replay-pymalloc"))
	assert.Equal(t, "c-glibc", ReplayerName("replay-glibc"))
}

func TestChild(t *testing.T) {
	path := filepath.Join(winetest.TempDir(t), "tiny.trace")
	require.NoError(t, os.WriteFile(path, []byte(randomTraceText(5, 3000)), 0o644))
	run := func(args ...string) Record {
		t.Helper()
		var out bytes.Buffer
		require.NoError(t, Child(args, &out))
		rec, err := ParseRecord(out.String())
		require.NoError(t, err)
		return rec
	}
	rec := run(ChildArgs("replay", "freelist", "-no-touch", path)[1:]...)
	assert.Equal(t, "tiny", rec.Get("trace"))
	assert.Equal(t, "0", rec.Get("touch"))

	rec = run(ChildArgs("churn", "gopymalloc", "-benchtime", "100x")[1:]...)
	assert.Equal(t, "churn", rec.Get("kind"))
	assert.Equal(t, "100", rec.Get("n"))

	rec = run(ChildArgs("bulk", "modernc", "-benchtime", "1000x")[1:]...)
	assert.Equal(t, "1000", rec.Get("n"))

	rec = run(ChildArgs("gc", "goheap", "-blocks", "1000", "-collections", "2")[1:]...)
	assert.Equal(t, "1000", rec.Get("blocks"))
	_, ok := rec.Float("gc_ms")
	assert.True(t, ok)

	rec = run(ChildArgs("gc", EmptyHeap, "-blocks", "1000")[1:]...)
	assert.Equal(t, "0", rec.Get("blocks"))

	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no kind"},
		{[]string{"replay", "-backend", "nope", path}, `unknown backend "nope"`},
		{[]string{"dance", "-backend", "goheap"}, `unknown kind "dance"`},
		{[]string{"replay", "-backend", "goheap"}, "want one trace"},
		{[]string{"replay", "-backend", "goheap", path, path}, "want one trace"},
		{[]string{"replay", "-backend", "goheap", "/no/such.trace"}, "/no/such.trace"},
		{[]string{"churn", "-backend", "freelist", "-benchtime", "0x"}, `-benchtime "0x"`},
		{[]string{"gc", "-backend", "nope"}, `unknown backend "nope"`},
		{[]string{"gc", "-backend", "goheap", "-blocks", "x"}, "-blocks"},
		{[]string{"gc", "-backend", "goheap", "-size", "0"}, "-size 0"},
		{[]string{"bulkmem", "-backend", "freelist", "-frobnicate"}, "-frobnicate"},
	} {
		var out bytes.Buffer
		err := Child(tc.args, &out)
		assert.ErrorContains(t, err, tc.want, "%q", tc.args)
		assert.Empty(t, out.String(), "%q: no record beside an error", tc.args)
	}
}

func TestBulkMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a million blocks per backend")
	}
	for _, b := range measurableBackends(t) {
		rec, err := RunBulkMemory(b)
		require.NoError(t, err, b.Name)
		assert.Equal(t, "1000000", rec.Get("blocks"))
		// Nothing is asserted about the figure: on a shared machine RSS
		// is only read, and a test would be a timed (or sized) assertion.
		_, ok := rec.Float("first_pass_ns_per_block")
		assert.True(t, ok)
	}
}

func TestBusyCPUs(t *testing.T) {
	needShell(t)
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc/stat")
	}
	b, err := busyCPUs(50*time.Millisecond, runtime.NumCPU())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, b, 0.0)
	assert.LessOrEqual(t, b, float64(runtime.NumCPU())+0.01)
	// A busy machine is not waited for longer than asked.
	start := time.Now()
	waitIdle(10*time.Millisecond, runtime.NumCPU())
	assert.Less(t, time.Since(start), 5*time.Second)

	recs, err := Runner{Rounds: 1, IdleWait: time.Millisecond}.Run([][]Job{{echoJob("a", "backend=a")}})
	require.NoError(t, err)
	_, ok := recs[0].Float("busy_cpus_before")
	assert.True(t, ok)
}
