package pymalloc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// GOPYMALLOC is read when the package is initialised, so each value is
// tried in a child process: this test binary run again with the variable
// set, running only TestGOPYMALLOCChild.

const childEnv = "GOPYMALLOC_TEST_CHILD"

func runChild(t *testing.T, value string) (stdout, stderr string, err error) {
	t.Helper()
	return runChildTest(t, "TestGOPYMALLOCChild", EnvVar+"="+value)
}

// runChildTest runs one test of this binary in a child process with env
// added to the environment. The package's own variables are taken out of
// what the child inherits, so that it runs with exactly those the test
// gives it: under GOPYMALLOC=debug go test ./..., a child that inherited
// the hooks would hold freed blocks in their quarantine and keep arenas
// TestArenasChild expects released.
func runChildTest(t *testing.T, test string, env ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	inherited := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == EnvVar || name == HugePagesEnvVar || name == ArenasEnvVar
	})
	cmd.Env = append(append(inherited, env...), childEnv+"=1")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func TestGOPYMALLOC(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary 8 times")
	}
	for value, want := range map[string]string{
		"": "pymalloc", "default": "pymalloc", "pymalloc": "pymalloc",
		"debug": "pymalloc_debug", "pymalloc_debug": "pymalloc_debug",
		"malloc": "malloc", "malloc_debug": "malloc_debug",
	} {
		t.Run("value="+value, func(t *testing.T) {
			stdout, stderr, err := runChild(t, value)
			require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stdout, "allocators: "+want+"\n")
			assert.Contains(t, stdout, "checks: ok\n")
		})
	}
	t.Run("unknown", func(t *testing.T) {
		stdout, stderr, err := runChild(t, "bogus")
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit)
		assert.Equal(t, 1, exit.ExitCode(), "CPython exits with status 1 too")
		assert.Equal(t, `Fatal error: pymalloc: GOPYMALLOC="bogus": unknown allocator; accepted values: pymalloc, pymalloc_debug, malloc, malloc_debug, debug, default, or unset`+"\n", stderr)
		assert.Empty(t, stdout, "the program stopped before running anything")
	})
}

// TestGOPYMALLOCChild runs in the child only: it prints the allocators'
// name and checks that they behave as the name says.
func TestGOPYMALLOCChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("run by TestGOPYMALLOC in a child process")
	}
	name := AllocatorName()
	fmt.Printf("allocators: %s\n", name)
	p := Malloc(10)
	pooled := ownedByHeap(p)
	if name == "pymalloc_debug" {
		pooled = ownedByHeap(unsafe.Add(p, -16))
	}
	assert.Equal(t, name == "pymalloc" || name == "pymalloc_debug", pooled, "pymalloc serves small requests")
	Free(p)
	var dump bytes.Buffer
	require.NoError(t, WriteDebugMallocStats(&dump))
	assert.Equal(t, pooled, dump.Len() > 0, "the pymalloc section is written only when pymalloc serves OBJ, as in CPython")
	if DebugHooksInstalled() {
		SetFaultOutput(&bytes.Buffer{})
		mustFault(t, FaultDoubleFree, func() { Free(p) })
		q := MemMalloc(16)
		mustFault(t, FaultWrongDomain, func() { Free(q) })
		MemFree(q)
	}
	if !t.Failed() {
		fmt.Println("checks: ok")
	}
}

func TestGOPYMALLOC_HUGEPAGES(t *testing.T) {
	testEnvVar(t, "TestHugePagesChild", HugePagesEnvVar, "arenas: ", map[string]string{
		"": "obmalloc.MmapArenas", "0": "obmalloc.MmapArenas", "1": "*obmalloc.HugePageArenas",
	}, "yes", `Fatal error: pymalloc: GOPYMALLOC_HUGEPAGES="yes": want 1 (huge pages), 0 or unset`)
}

// testEnvVar runs the child test once per value of the environment
// variable, which must print prefix and the value's meaning and pass its
// checks, and once with a bad value, which must stop the program at
// start-up with exit status 1 and the message.
func testEnvVar(t *testing.T, child, envVar, prefix string, values map[string]string, bad, message string) {
	if testing.Short() {
		t.Skipf("runs the test binary %d times", len(values)+1)
	}
	for value, want := range values {
		t.Run("value="+value, func(t *testing.T) {
			stdout, stderr, err := runChildTest(t, child, envVar+"="+value)
			require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stdout, prefix+want+"\n")
			assert.Contains(t, stdout, "checks: ok\n")
		})
	}
	t.Run("unknown", func(t *testing.T) {
		stdout, stderr, err := runChildTest(t, child, envVar+"="+bad)
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit)
		assert.Equal(t, 1, exit.ExitCode())
		assert.Equal(t, message+"\n", stderr)
		assert.Empty(t, stdout)
	})
}

// TestHugePagesChild runs in the child only: it names the arena allocator
// and checks that the default heap works on it.
func TestHugePagesChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("run by TestGOPYMALLOC_HUGEPAGES in a child process")
	}
	fmt.Printf("arenas: %T\n", GetArenaAllocator())
	ps := make([]unsafe.Pointer, 20000)
	for i := range ps {
		ps[i] = Malloc(uintptr(1 + i%512))
		require.NotNil(t, ps[i])
	}
	for _, p := range ps {
		Free(p)
	}
	require.NoError(t, Check())
	if os.Getenv(HugePagesEnvVar) == "1" {
		assert.Zero(t, Stats().BytesLostToArenaAlignment, "huge-page arenas start on pool boundaries")
	}
	if !t.Failed() {
		fmt.Println("checks: ok")
	}
}

// TestMain puts the default allocators back when GOPYMALLOC chose others
// for this run (GOPYMALLOC=debug go test ./...): this package's tests
// install the hooks they need themselves, and GOPYMALLOC is tested in
// child processes.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "" && AllocatorName() != "pymalloc" {
		if err := RemoveDebugHooks(); err != nil {
			panic(err)
		}
		domains[DomainRaw].Store(&holder{rawHeap})
		domains[DomainMem].Store(&holder{defaultHeap})
		domains[DomainObj].Store(&holder{defaultHeap})
	}
	os.Exit(m.Run())
}

func TestGOPYMALLOC_ARENAS(t *testing.T) {
	testEnvVar(t, "TestArenasChild", ArenasEnvVar, "policy: ", map[string]string{
		"": "keep", "keep": "keep", "release": "release",
	}, "never", `Fatal error: pymalloc: GOPYMALLOC_ARENAS="never": want keep, release or unset`)
}

// TestArenasChild runs in the child only: it fills many arenas, frees
// everything, and checks that the arenas were kept or released as the
// policy says.
func TestArenasChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("run by TestGOPYMALLOC_ARENAS in a child process")
	}
	policy := defaultHeap.shards[0].h.Config().Policy // what the heap was made with
	require.Equal(t, policy, ArenaPolicy(), "ArenaPolicy reports the policy the heap was made with")
	fmt.Printf("policy: %v\n", ArenaPolicy())
	release := policy == obmalloc.ReleaseArenas
	ps := make([]unsafe.Pointer, 200000) // about 50 MiB of blocks: dozens of arenas
	for i := range ps {
		ps[i] = Malloc(uintptr(1 + i%512))
		require.NotNil(t, ps[i])
	}
	mapped := Stats().ArenasAllocatedTotal
	for _, p := range ps {
		Free(p)
	}
	require.NoError(t, Check())
	s := Stats()
	if release {
		assert.Equal(t, mapped-1, s.ArenasReclaimed, "every arena unmapped but the one kept")
	} else {
		assert.Zero(t, s.ArenasReclaimed)
	}
	if !t.Failed() {
		fmt.Println("checks: ok")
	}
}
