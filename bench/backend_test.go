package bench

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/pymalloc"
)

func TestReplayEveryBackend(t *testing.T) {
	traces := map[string]string{
		"format_example": pytrace.FormatExample,
		"random":         randomTraceText(1, 20_000),
	}
	for _, b := range measurableBackends(t) {
		for name, text := range traces {
			t.Run(b.Name+"/"+name, func(t *testing.T) {
				tr := loadText(t, name, text)
				rec, err := b.Replay(tr, true)
				require.NoError(t, err)
				assert.Equal(t, b.Name, rec.Get("backend"))
				assert.Equal(t, name, rec.Get("trace"))
				assert.Equal(t, strconv.Itoa(len(tr.Ops)), rec.Get("ops"))
				for _, k := range []string{"ns_per_op", "seconds", "rss_peak_kb", "replay_rss_kb", "gc_cycles"} {
					_, ok := rec.Float(k)
					assert.True(t, ok, "key %s in %s", k, rec)
				}
				again, err := ParseRecord(rec.String())
				require.NoError(t, err)
				assert.Equal(t, rec.String(), again.String())
			})
		}
	}
}

// The Go-heap loops clear a slot when its block dies, so after a replay
// exactly the blocks live at the end are still held: the collector can
// take the rest.
func TestGoHeapLoopDropsDeadBlocks(t *testing.T) {
	tr := loadText(t, "random", randomTraceText(2, 5000))
	for _, a := range []goHeapAllocator{goHeap{}, newSyncPool()} {
		table := newSliceTable(tr.MaxID)
		require.Zero(t, a.replayOps(tr.Ops, tr.Callocs, table.base(), true))
		held := 0
		for _, s := range table.slots {
			if s != nil {
				held++
			}
		}
		assert.Equal(t, int(tr.Stats.LiveAtEnd), held)
	}
}

// full is a backend's whole API (malloc, calloc, realloc, free) seen
// through []byte, so that one test checks the contents of every backend's
// blocks.
type full interface {
	malloc(n uintptr) []byte
	calloc(nelem, elsize uintptr) []byte
	realloc(b []byte, n uintptr) []byte
	free(b []byte)
	close() error
}

type ptrFull[A offHeapAllocator] struct{ a A }

func view(p unsafe.Pointer, n uintptr) []byte {
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(p), max(n, 1))[:n]
}

func (f ptrFull[A]) malloc(n uintptr) []byte { return view(f.a.Malloc(n), n) }
func (f ptrFull[A]) calloc(ne, es uintptr) []byte {
	return view(f.a.Calloc(ne, es), ne*es)
}
func (f ptrFull[A]) realloc(b []byte, n uintptr) []byte {
	return view(f.a.Realloc(unsafe.Pointer(unsafe.SliceData(b[:cap(b)])), n), n)
}
func (f ptrFull[A]) free(b []byte) { f.a.Free(unsafe.Pointer(unsafe.SliceData(b[:cap(b)]))) }
func (f ptrFull[A]) close() error  { return f.a.Close() }

type sliceFull[A goHeapAllocator] struct{ a A }

func (f sliceFull[A]) malloc(n uintptr) []byte            { return f.a.Alloc(n) }
func (f sliceFull[A]) calloc(ne, es uintptr) []byte       { return f.a.Calloc(ne, es) }
func (f sliceFull[A]) realloc(b []byte, n uintptr) []byte { return f.a.Realloc(b, n) }
func (f sliceFull[A]) free(b []byte)                      { f.a.Free(b) }
func (f sliceFull[A]) close() error                       { return nil }

// fullAPIs makes each backend's full API; every backend must have one.
var fullAPIs = map[string]func() (full, error){
	"gopymalloc":      func() (full, error) { a, err := openHeap(); return ptrFull[heapBackend]{a}, err },
	"gopymalloc-huge": func() (full, error) { a, err := openHugeHeap(); return ptrFull[heapBackend]{a}, err },
	"gopymalloc-prefault": func() (full, error) {
		a, err := openPrefaultHeap()
		return ptrFull[heapBackend]{a}, err
	},
	"gopymalloc-api": func() (full, error) {
		return ptrFull[apiBackend]{apiBackend{}}, nil
	},
	"modernc":  func() (full, error) { a, err := openModernc(); return ptrFull[moderncAlloc]{a}, err },
	"goheap":   func() (full, error) { return sliceFull[goHeap]{goHeap{}}, nil },
	"syncpool": func() (full, error) { return sliceFull[syncPool]{newSyncPool()}, nil },
	"freelist": func() (full, error) { return ptrFull[*freeList]{new(freeList)}, nil },
}

// TestContents runs random malloc, calloc, realloc and free calls on each
// backend against a model: every live block keeps the bytes written into
// it (so no two live blocks overlap), realloc keeps the common prefix,
// calloc returns zeros, and requests of 0 bytes succeed.
func TestContents(t *testing.T) {
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) {
			mk, ok := fullAPIs[b.Name]
			require.True(t, ok, "no full API for backend %s", b.Name)
			a, err := mk()
			require.NoError(t, err)
			defer func() { require.NoError(t, a.close()) }()

			type block struct {
				b    []byte
				fill byte
			}
			fillBlock := func(bl *block, from int, v byte) {
				for i := from; i < len(bl.b); i++ {
					bl.b[i] = v + byte(i)
				}
			}
			intact := func(bl block) bool {
				for i, c := range bl.b {
					if c != bl.fill+byte(i) {
						return false
					}
				}
				return true
			}
			r := rand.New(rand.NewPCG(3, 4))
			size := func() uintptr {
				switch r.IntN(8) {
				case 0:
					return 0
				case 1:
					return uintptr(513 + r.IntN(70_000))
				}
				return uintptr(1 + r.IntN(512))
			}
			var live []block
			for step := range 4000 {
				switch k := r.IntN(8); {
				case k < 3 || len(live) == 0:
					n := size()
					bl := block{b: a.malloc(n), fill: byte(step)}
					require.Len(t, bl.b, int(n))
					require.True(t, n != 0 || bl.b != nil, "malloc(0) failed")
					fillBlock(&bl, 0, bl.fill)
					live = append(live, bl)
				case k == 3:
					ne, es := uintptr(1+r.IntN(20)), uintptr(r.IntN(40))
					bl := block{b: a.calloc(ne, es), fill: byte(step)}
					require.Len(t, bl.b, int(ne*es))
					for _, c := range bl.b {
						require.Zero(t, c, "calloc returned dirty memory")
					}
					fillBlock(&bl, 0, bl.fill)
					live = append(live, bl)
				case k < 6:
					i := r.IntN(len(live))
					old := live[i]
					require.True(t, intact(old), "block changed before realloc")
					n := size()
					nb := a.realloc(old.b, n)
					require.Len(t, nb, int(n))
					bl := block{b: nb, fill: old.fill}
					keep := min(len(old.b), int(n))
					require.True(t, intact(block{b: nb[:keep], fill: old.fill}), "realloc lost contents")
					fillBlock(&bl, keep, bl.fill)
					live[i] = bl
				default:
					i := r.IntN(len(live))
					require.True(t, intact(live[i]), "block changed before free")
					a.free(live[i].b)
					live[i] = live[len(live)-1]
					live = live[:len(live)-1]
				}
			}
			for _, bl := range live {
				require.True(t, intact(bl), "block changed")
				a.free(bl.b)
			}
		})
	}
}

func TestSizeZeroAndOverflow(t *testing.T) {
	for name, mk := range fullAPIs {
		a, err := mk()
		require.NoError(t, err)
		p := a.malloc(0)
		assert.NotNil(t, p, "%s: malloc(0)", name)
		q := a.realloc(p, 0)
		assert.NotNil(t, q, "%s: realloc(p, 0)", name)
		a.free(q)
		if name != "gopymalloc" && name != "gopymalloc-api" { // CPython refuses only above PY_SSIZE_T_MAX
			assert.Nil(t, a.calloc(maxRequest, maxRequest), "%s: calloc overflow", name)
		}
		require.NoError(t, a.close())
	}
}

func TestInstancesRoundTrip(t *testing.T) {
	for _, b := range measurableBackends(t) {
		inst, err := b.Open()
		require.NoError(t, err)
		var ps []unsafe.Pointer
		for i := range 1000 {
			p := inst.Malloc(uintptr(1 + i%700))
			require.NotNil(t, p)
			*(*byte)(p) = 7
			ps = append(ps, p)
		}
		for _, p := range ps {
			assert.Equal(t, byte(7), *(*byte)(p))
			inst.Free(p)
		}
		require.NoError(t, inst.Close(), b.Name)
	}
}

func TestFreeListClasses(t *testing.T) {
	// The largest request's class and size by word size (maxRequest is
	// 2^40 on 64-bit, 2^31-1 on 32-bit); uint64, as 2^40 overflows a
	// 32-bit uintptr even in a case that is not taken.
	top := map[int]struct{ class, size uint64 }{
		64: {62, 1 << 40},
		32: {53, 1 << 31},
	}[bits.UintSize]
	require.NotZero(t, top.size, "no case for %d-bit words", bits.UintSize)
	for _, tc := range []struct{ n, class, size uintptr }{
		{0, 0, 16}, {1, 0, 16}, {16, 0, 16}, {17, 1, 32}, {512, 31, 512},
		{513, 32, 1024}, {1024, 32, 1024}, {1025, 33, 2048},
		{maxRequest, uintptr(top.class), uintptr(top.size)},
	} {
		assert.Equal(t, tc.class, flClass(tc.n), "class of %d", tc.n)
		assert.Equal(t, tc.size, flSize(flClass(tc.n)), "size of class of %d", tc.n)
	}
}

func TestParseBackends(t *testing.T) {
	for _, tc := range []struct {
		list string
		want []string // nil: every backend
		err  string
	}{
		{list: ""},
		{list: "all"},
		{list: "goheap,gopymalloc", want: []string{"goheap", "gopymalloc"}},
		{list: "freelist", want: []string{"freelist"}},
		{list: "gopymalloc,tcmalloc", err: `unknown backend "tcmalloc" (known: gopymalloc, `},
		{list: "gopymalloc,", err: `unknown backend ""`},
		{list: "all,goheap", err: `unknown backend "all"`},
		{list: "freelist,modernc,freelist", err: `backend "freelist" listed twice`},
	} {
		got, err := ParseBackends(tc.list)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, "%q", tc.list)
			continue
		}
		require.NoError(t, err, "%q", tc.list)
		want := tc.want
		if want == nil {
			want = Names()
		}
		var names []string
		for _, b := range got {
			names = append(names, b.Name)
		}
		assert.Equal(t, want, names, "%q", tc.list)
	}
}

func TestSizeClassesAndCallocSize(t *testing.T) {
	for _, tc := range []struct{ n, class uintptr }{
		{0, 0}, {1, 0}, {16, 0}, {17, 1}, {32, 1}, {33, 2}, {511, 31}, {512, 31},
	} {
		assert.Equal(t, tc.class, smallClass(tc.n), "class of %d", tc.n)
	}
	for _, tc := range []struct {
		nelem, elsize, n uintptr
		ok               bool
	}{
		{0, 0, 0, true},
		{3, 40, 120, true},
		{1, maxRequest, maxRequest, true},
		{1, maxRequest + 1, maxRequest + 1, false},
		// A product of 2^64 overflows 64 bits; on 32-bit it is 2^32,
		// which callocSize (multiplying in 64 bits) finds above maxRequest.
		{1 << (bits.UintSize / 2), 1 << (bits.UintSize / 2), 0, false},
		{1 << 20, maxRequest >> 20, 1 << 20 * (maxRequest >> 20), true}, // 2^40 on 64-bit
		{1 << 20, maxRequest>>20 + 1, 0, false},
	} {
		n, ok := callocSize(tc.nelem, tc.elsize)
		assert.Equal(t, tc.ok, ok, "calloc(%d, %d)", tc.nelem, tc.elsize)
		if ok {
			assert.Equal(t, tc.n, n, "calloc(%d, %d)", tc.nelem, tc.elsize)
		}
	}
}

// apiCheckChild, set in a child's environment, makes the test binary
// print what gopymalloc-api's check and opening say (TestMain) instead of
// running the tests: pymalloc reads its variables when the process
// starts, so a variable can only be tried in a fresh process.
const apiCheckChild = "BENCH_TEST_API_CHECK_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(apiCheckChild) != "" {
		b, _ := Lookup("gopymalloc-api")
		fmt.Printf("check: %v\n", CheckBackends([]Backend{b}))
		inst, err := b.Open()
		if err == nil {
			err = inst.Close()
		}
		fmt.Printf("open: %v\n", err)
		fmt.Printf("others: %v\n", CheckBackends([]Backend{gopymallocBackend, goHeapBackend}))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// gopymalloc-api measures the default heap; the variables that would put
// something else behind pymalloc.Malloc in a child are refused, by the
// check a command runs first and by the instance's opening.
func TestAPIBackendRefusesOtherAllocators(t *testing.T) {
	// The suite's own GOPYMALLOC* variables stay out of the children.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOPYMALLOC") {
			env = append(env, kv)
		}
	}
	for _, tc := range []struct {
		name, value string
		ok          bool
		why         string
	}{
		{"GOPYMALLOC", "", true, ""},
		{"GOPYMALLOC", "pymalloc", true, ""},
		{"GOPYMALLOC", "default", true, ""},
		{"GOPYMALLOC", "malloc", false, "serve malloc, not the default heap"},
		{"GOPYMALLOC", "debug", false, "serve pymalloc_debug, not the default heap"},
		{"GOPYMALLOC", "pymalloc_debug", false, "serve pymalloc_debug, not the default heap"},
		{"GOPYMALLOC_HUGEPAGES", "0", true, ""},
		{"GOPYMALLOC_HUGEPAGES", "1", false, "arenas come from *obmalloc.HugePageArenas"},
		{"GOPYMALLOC_ARENAS", "keep", true, ""},
		{"GOPYMALLOC_ARENAS", "release", false, "unmaps wholly free arenas"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(slices.Clone(env), apiCheckChild+"=1", tc.name+"="+tc.value)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			if tc.ok {
				assert.Equal(t, "check: <nil>\nopen: <nil>\nothers: <nil>\n", string(out))
				return
			}
			want := "gopymalloc-api: " + tc.name + "=" + strconv.Quote(tc.value) + ": "
			lines := strings.Split(string(out), "\n")
			require.Len(t, lines, 4, "%s", out)
			for _, l := range lines[:2] {
				assert.Contains(t, l, want)
				assert.Contains(t, l, tc.why)
			}
			// The other backends do not depend on these variables.
			assert.Equal(t, "others: <nil>", lines[2])
		})
	}
}

// The check asks the heap for its policy, which the variable chose at
// start-up: setting GOPYMALLOC_ARENAS later, even to a value pymalloc
// would refuse, changes nothing that is measured, so nothing is refused.
func TestAPIBackendAsksTheHeapForItsArenaPolicy(t *testing.T) {
	b, ok := Lookup("gopymalloc-api")
	require.True(t, ok)
	if err := CheckBackends([]Backend{b}); err != nil {
		t.Skipf("refused already, under the suite's environment: %v", err)
	}
	for _, v := range []string{"release", "sometimes"} {
		t.Setenv(pymalloc.ArenasEnvVar, v)
		assert.NoError(t, CheckBackends([]Backend{b}), "%s=%s set after start-up", pymalloc.ArenasEnvVar, v)
	}
}

// What the process holds is checked, not only the variables: with
// tracing on, the package-level functions serve the tracers.
func TestAPIBackendRefusesTracing(t *testing.T) {
	b, ok := Lookup("gopymalloc-api")
	require.True(t, ok)
	if err := CheckBackends([]Backend{b}); err != nil {
		t.Skipf("refused already, under the suite's environment: %v", err)
	}
	require.NoError(t, pymalloc.StartTracing(1))
	err := CheckBackends([]Backend{b})
	pymalloc.StopTracing()
	assert.EqualError(t, err, "gopymalloc-api: the package-level functions serve allocators of their own (tracing, or ones a program installed), not the default heap this backend measures; leave gopymalloc-api out")
	assert.NoError(t, CheckBackends([]Backend{b}), "tracing off again")
}
