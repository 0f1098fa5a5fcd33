package pymalloc

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The audit of CPython 3.11's tests of the allocator API in
// Lib/test/test_capi/test_misc.py (PyMemDebugTests and its subclasses,
// test_set_nomemory, and the C tests of _testcapi that Test_testcapi
// runs), against the port; docs/reliability.md lists every case. Each
// test names the CPython test it ports.

// setups are the ways the domains can be stacked that a CPython test
// would meet under PYTHONMALLOC and -X tracemalloc.
var setups = []struct {
	name           string
	hooks, tracing bool
}{
	{"plain", false, false},
	{"debug hooks", true, false},
	{"tracing", false, true},
	{"debug hooks and tracing", true, true},
}

// withSetup installs what setup s asks for, for one test.
func withSetup(t *testing.T, hooks, tracing bool) {
	t.Helper()
	if hooks {
		withDebugHooks(t)
	}
	if tracing {
		withTracing(t, 1)
	}
}

// _testcapi.test_pymem_alloc0 (Test_testcapi), also run by
// test_tracemalloc's TestCommandLine.test_pymem_alloc0 under
// -X tracemalloc (issue 21639, a crash on PyMem_Malloc(0) while tracing):
// malloc(0) and calloc(0, 0) of every domain return a block, not NULL,
// which its free takes back.
func TestPyMemAlloc0(t *testing.T) {
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			withSetup(t, s.hooks, s.tracing)
			for _, f := range families {
				p := f.malloc(0)
				require.NotNil(t, p, "%s malloc(0)", f.name)
				f.free(p)
				c := f.calloc(0, 0)
				require.NotNil(t, c, "%s calloc(0, 0)", f.name)
				f.free(c)
			}
			require.NoError(t, Check())
		})
	}
}

// argsHook is _testcapi's alloc_hook_t: an allocator that records the
// arguments of the last call of each method and passes the call on.
type argsHook struct {
	next                 Allocator
	mallocSize           uintptr
	callocNelem, callocN uintptr
	reallocPtr           unsafe.Pointer
	reallocSize          uintptr
	freePtr              unsafe.Pointer
	calls                int
}

func (h *argsHook) Malloc(n uintptr) unsafe.Pointer {
	h.calls++
	h.mallocSize = n
	return h.next.Malloc(n)
}

func (h *argsHook) Calloc(nelem, elsize uintptr) unsafe.Pointer {
	h.calls++
	h.callocNelem, h.callocN = nelem, elsize
	return h.next.Calloc(nelem, elsize)
}

func (h *argsHook) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	h.calls++
	h.reallocPtr, h.reallocSize = p, n
	return h.next.Realloc(p, n)
}

func (h *argsHook) Free(p unsafe.Pointer) {
	h.calls++
	h.freePtr = p
	h.next.Free(p)
}

// _testcapi.test_pymem_setrawallocators, test_pymem_setallocators and
// test_pyobject_setallocators (Test_testcapi): a hook installed with
// SetAllocator over the domain's allocator from GetAllocator gets each
// call of the domain's functions with the program's arguments (malloc
// 42, realloc to 200, free, calloc 2 x 5, free), and putting the old
// allocator back restores the domain. CPython's check of the hook's ctx
// has no counterpart: a Go hook is its own receiver.
func TestSetAllocatorHookSeesTheArguments(t *testing.T) {
	for _, s := range setups[:2] { // tracing would trace the hook's blocks, which changes nothing here
		for i, d := range []Domain{DomainObj, DomainMem, DomainRaw} {
			f := families[i]
			t.Run(s.name+"/"+d.String(), func(t *testing.T) {
				withSetup(t, s.hooks, false)
				prev := GetAllocator(d)
				h := &argsHook{next: prev}
				SetAllocator(d, h)
				restored := false
				t.Cleanup(func() {
					if !restored {
						SetAllocator(d, prev)
					}
				})

				p := f.malloc(42)
				require.NotNil(t, p, "malloc")
				assert.Equal(t, uintptr(42), h.mallocSize, "malloc size")
				p2 := f.realloc(p, 200)
				require.NotNil(t, p2, "realloc")
				assert.Equal(t, p, h.reallocPtr, "realloc pointer")
				assert.Equal(t, uintptr(200), h.reallocSize, "realloc size")
				f.free(p2)
				assert.Equal(t, p2, h.freePtr, "free pointer")

				c := f.calloc(2, 5)
				require.NotNil(t, c, "calloc")
				assert.Equal(t, [2]uintptr{2, 5}, [2]uintptr{h.callocNelem, h.callocN}, "calloc nelem and elsize")
				h.freePtr = nil
				f.free(c)
				assert.Equal(t, c, h.freePtr, "calloc free pointer")
				assert.Equal(t, 5, h.calls, "one call of the hook per call of the domain's functions")

				SetAllocator(d, prev)
				restored = true
				assert.Same(t, prev, GetAllocator(d), "the domain is back as it was")
				f.free(f.malloc(8))
				assert.Equal(t, 5, h.calls, "the removed hook hears nothing more")
			})
		}
	}
}

// PyMemDebugTests (test_buffer_overflow, test_api_misuse) run python
// under PYTHONMALLOC=debug, pymalloc_debug and malloc_debug
// (PyMemDebugTests, PyMemPymallocDebugTests, PyMemMallocDebugTests); a
// child process of this test binary does the same misuse under each
// GOPYMALLOC value, and its stderr must match CPython's regular
// expression up to the allocation-traceback hint, which names StartTracing
// here, and the fatal line, which names the Go call (docs/reliability.md,
// "Turning the checks on"). The child dies of the Fault's panic, as
// python of the fatal error.

const misuseEnv = "GOPYMALLOC_TEST_MISUSE"

// cpythonPtr is PyMemDebugTests.PTR_REGEX.
const cpythonPtr = `(?:0x)?[0-9a-fA-F]+`

func TestPyMemDebugTests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary 6 times")
	}
	cases := []struct {
		misuse string
		// cpython is the test's regular expression up to the hint, the
		// port's hint and fatal line follow.
		cpython, port string
	}{
		{"buffer_overflow",
			`Debug memory block at address p={ptr}: API 'm'\n` +
				`    16 bytes originally requested\n` +
				`    The [0-9] pad bytes at p-[0-9] are FORBIDDENBYTE, as expected.\n` +
				`    The [0-9] pad bytes at tail={ptr} are not all FORBIDDENBYTE \(0x[0-9a-f]{2}\):\n` +
				`        at tail\+0: 0x78 \*\*\* OUCH\n` +
				`        at tail\+1: 0xfd\n` +
				`        at tail\+2: 0xfd\n` +
				`        .*\n` +
				`(    The block was made by call #[0-9]+ to debug malloc/realloc.\n)?` +
				`    Data at p: cd cd cd .*\n` +
				`\n`,
			`Enable tracing \(pymalloc.StartTracing\) to get the memory block allocation traceback\n` +
				`\n` +
				`Fatal error: pymalloc.MemFree: bad trailing pad byte`},
		{"api_misuse",
			`Debug memory block at address p={ptr}: API 'm'\n` +
				`    16 bytes originally requested\n` +
				`    The [0-9] pad bytes at p-[0-9] are FORBIDDENBYTE, as expected.\n` +
				`    The [0-9] pad bytes at tail={ptr} are FORBIDDENBYTE, as expected.\n` +
				`(    The block was made by call #[0-9]+ to debug malloc/realloc.\n)?` +
				`    Data at p: cd cd cd .*\n` +
				`\n`,
			`Enable tracing \(pymalloc.StartTracing\) to get the memory block allocation traceback\n` +
				`\n` +
				`Fatal error: pymalloc.RawFree: bad ID: Allocated using API 'm', verified using API 'r'\n`},
	}
	for _, value := range []string{"debug", "pymalloc_debug", "malloc_debug"} {
		for _, tc := range cases {
			t.Run(value+"/"+tc.misuse, func(t *testing.T) {
				stdout, stderr, err := runChildTest(t, "TestPyMemDebugChild", EnvVar+"="+value, misuseEnv+"="+tc.misuse)
				var exit *exec.ExitError
				require.ErrorAs(t, err, &exit, "the child must fail; stdout:\n%s\nstderr:\n%s", stdout, stderr)
				re := regexp.MustCompile(`(?s)` + regexp.MustCompile(`\{ptr\}`).ReplaceAllLiteralString(tc.cpython+tc.port, cpythonPtr))
				assert.Regexp(t, re, stderr)
				name := value
				if value == "debug" {
					name = "pymalloc_debug"
				}
				assert.Contains(t, stdout, "allocators: "+name+"\n", "the child ran under the allocators asked for")
			})
		}
	}
}

// TestPyMemDebugChild runs in the child only: _testcapi's
// pymem_buffer_overflow (PyMem_Malloc(16), 'x' written at p[16],
// PyMem_Free) or pymem_api_misuse (PyMem_Malloc(16), PyMem_RawFree).
func TestPyMemDebugChild(t *testing.T) {
	misuse := os.Getenv(misuseEnv)
	if os.Getenv(childEnv) == "" || misuse == "" {
		t.Skip("run by TestPyMemDebugTests in a child process")
	}
	os.Stdout.WriteString("allocators: " + AllocatorName() + "\n")
	p := MemMalloc(16)
	require.NotNil(t, p)
	switch misuse {
	case "buffer_overflow":
		*(*byte)(unsafe.Add(p, 16)) = 'x'
		MemFree(p)
	case "api_misuse":
		RawFree(p)
	default:
		t.Fatalf("%s=%q: unknown misuse", misuseEnv, misuse)
	}
	t.Error("the misuse was not detected")
}
