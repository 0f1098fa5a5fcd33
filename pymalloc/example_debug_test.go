package pymalloc_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// Examples of the debug hooks, GOPYMALLOC's names and tracing. Each one
// puts back what it changes: examples share the process with the tests.

// The debug hooks, as PYTHONMALLOC=debug: a write past the end of a block
// is found when the block is freed, and reported in CPython's layout.
// Here the report goes to a buffer and the program continues; by default
// it goes to stderr and the call panics with a pymalloc.Fault.
func ExampleSetupDebugHooks() {
	var report bytes.Buffer
	defer pymalloc.SetFaultOutput(pymalloc.SetFaultOutput(&report))
	defer pymalloc.SetFaultMode(pymalloc.SetFaultMode(pymalloc.ContinueOnFault))
	pymalloc.SetupDebugHooks() // or GOPYMALLOC=debug in the environment
	defer pymalloc.RemoveDebugHooks()

	p := pymalloc.Malloc(9)
	copy(unsafe.Slice((*byte)(p), 12), "abcdefgh\x00AAA") // 3 bytes too many
	pymalloc.Free(p)

	for _, line := range strings.Split(report.String(), "\n") {
		if !strings.Contains(line, "=0x") { // leave out the lines with addresses
			fmt.Println(line)
		}
	}
	// Output:
	//     9 bytes originally requested
	//     The 7 pad bytes at p-7 are FORBIDDENBYTE, as expected.
	//         at tail+0: 0x41 *** OUCH
	//         at tail+1: 0x41 *** OUCH
	//         at tail+2: 0x41 *** OUCH
	//         at tail+3: 0xfd
	//         at tail+4: 0xfd
	//         at tail+5: 0xfd
	//         at tail+6: 0xfd
	//         at tail+7: 0xfd
	//     Data at p: 61 62 63 64 65 66 67 68 00
	//
	// Enable tracing (pymalloc.StartTracing) to get the memory block allocation traceback
	//
	// Fatal error: pymalloc.Free: bad trailing pad byte
}

// A double free, which CPython's hooks cannot see, stops the call with a
// Fault that the program can recover.
func ExampleFault() {
	defer pymalloc.SetFaultOutput(pymalloc.SetFaultOutput(&bytes.Buffer{}))
	pymalloc.SetupDebugHooks()
	defer pymalloc.RemoveDebugHooks()

	p := pymalloc.MemMalloc(24)
	pymalloc.MemFree(p)
	err := func() (err error) {
		defer func() { err, _ = recover().(error) }()
		pymalloc.MemFree(p)
		return nil
	}()
	var f pymalloc.Fault
	if errors.As(err, &f) {
		fmt.Println(f.Kind, "in", f.Call)
		fmt.Println(f.Problem)
	}
	// Output:
	// double free in pymalloc.MemFree
	// double free: the block was already freed by pymalloc.MemFree
}

// A leak found as tracemalloc finds one: two snapshots, compared by line.
// The cache below keeps one block per request it has seen.
type cache struct{ entries []unsafe.Pointer }

func (c *cache) remember(n int) { c.entries = append(c.entries, pymalloc.Malloc(uintptr(n))) }

func handle(c *cache, req int) {
	buf := pymalloc.Malloc(256) // freed: not a leak
	defer pymalloc.Free(buf)
	c.remember(32 + req%2*16)
}

func ExampleSnapshot_CompareTo() {
	if err := pymalloc.StartTracing(1); err != nil {
		panic(err)
	}
	defer pymalloc.StopTracing()
	c := &cache{}
	before, _ := pymalloc.TakeSnapshot()
	for req := range 100 {
		handle(c, req)
	}
	after, _ := pymalloc.TakeSnapshot()

	top := after.CompareTo(before, pymalloc.ByLine, false)[0]
	f := top.Traceback[0]
	fmt.Printf("%s grew by %d blocks, %d bytes\n", f.Function[strings.LastIndex(f.Function, "/")+1:], top.CountDiff, top.SizeDiff)
	current, peak := pymalloc.TracedMemory()
	fmt.Printf("traced now %d bytes, at the peak %d\n", current, peak)
	fmt.Println("blocks in the", pymalloc.LiveProfileName, "profile:", pymalloc.LiveProfile().Count())
	for _, p := range c.entries {
		pymalloc.Free(p)
	}
	// Output:
	// pymalloc_test.(*cache).remember grew by 100 blocks, 4000 bytes
	// traced now 4000 bytes, at the peak 4256
	// blocks in the gopymalloc.live profile: 100
}

// Statistics grouped by line, in tracemalloc's words.
func ExampleSnapshot_Statistics() {
	_ = pymalloc.StartTracing(1)
	defer pymalloc.StopTracing()
	var ps []unsafe.Pointer
	for range 10 {
		ps = append(ps, pymalloc.MemMalloc(1000))
	}
	s, _ := pymalloc.TakeSnapshot()
	for _, st := range s.Statistics(pymalloc.ByLine, false) {
		text := st.String()
		fmt.Println(text[strings.LastIndex(text, "/")+1:]) // the file's base name
	}
	for _, p := range ps {
		pymalloc.MemFree(p)
	}
	// Output:
	// example_debug_test.go:124: size=10000 B, count=10, average=1000 B
}

// Filter keeps the traces a function accepts, here those of one domain;
// Format prints a traceback as tracemalloc does.
func ExampleSnapshot_Filter() {
	_ = pymalloc.StartTracing(1)
	defer pymalloc.StopTracing()
	obj, mem := pymalloc.Malloc(40), pymalloc.MemMalloc(24)
	defer pymalloc.Free(obj)
	defer pymalloc.MemFree(mem)
	s, _ := pymalloc.TakeSnapshot()
	memOnly := s.Filter(func(t pymalloc.Trace) bool { return t.Domain == pymalloc.DomainMem })
	for _, t := range memOnly.Traces {
		fmt.Println(t.Domain, t.Size, len(t.Traceback.Format()), "line per frame")
	}
	// Output: MEM 24 1 line per frame
}

// The live blocks as a pprof profile, for go tool pprof.
func ExampleLiveProfile() {
	_ = pymalloc.StartTracing(1)
	defer pymalloc.StopTracing()
	p := pymalloc.Malloc(100)
	defer pymalloc.Free(p)
	f, err := os.CreateTemp("", "live-*.pb.gz")
	if err != nil {
		panic(err)
	}
	defer os.Remove(f.Name())
	// go tool pprof -top prog live-....pb.gz lists the functions that hold
	// the blocks.
	if err := pymalloc.LiveProfile().WriteTo(f, 0); err != nil {
		panic(err)
	}
	fmt.Println(pymalloc.LiveProfile().Name(), pymalloc.LiveProfile().Count())
	// Output: gopymalloc.live 1
}

// GOPYMALLOC's values name the allocators, as PYTHONMALLOC's do.
func ExampleAllocatorName() {
	fmt.Println(pymalloc.AllocatorName())
	pymalloc.SetupDebugHooks()
	fmt.Println(pymalloc.AllocatorName())
	_ = pymalloc.RemoveDebugHooks()
	// Output:
	// pymalloc
	// pymalloc_debug
}

// The traced bytes now and at their peak, as tracemalloc.get_traced_memory.
func ExampleStartTracing() {
	if err := pymalloc.StartTracing(1); err != nil {
		panic(err)
	}
	defer pymalloc.StopTracing()
	a := pymalloc.Malloc(1000)
	b := pymalloc.RawMalloc(500)
	pymalloc.Free(a)
	current, peak := pymalloc.TracedMemory()
	fmt.Println(current, peak)
	pymalloc.ResetPeak()
	_, peak = pymalloc.TracedMemory()
	fmt.Println(peak)
	pymalloc.RawFree(b)
	// Output:
	// 500 1500
	// 500
}

// Where a block was allocated, as tracemalloc.get_object_traceback.
func ExampleBlockTraceback() {
	_ = pymalloc.StartTracing(2)
	defer pymalloc.StopTracing()
	v := pymalloc.New[[4]float64]()
	defer pymalloc.Delete(v)
	tb := pymalloc.BlockTraceback(unsafe.Pointer(v))
	fmt.Println(tb[0].Function)
	// Output: github.com/gopymalloc/gopymalloc/pymalloc_test.ExampleBlockTraceback
}

// A write to a freed block is found when the block leaves the
// quarantine, here at once.
func ExampleFlushQuarantine() {
	defer pymalloc.SetFaultOutput(pymalloc.SetFaultOutput(&bytes.Buffer{}))
	pymalloc.SetupDebugHooks()
	defer pymalloc.RemoveDebugHooks()
	p := pymalloc.Malloc(16)
	pymalloc.Free(p)
	*(*byte)(p) = 1 // a dangling write
	defer func() {
		f := recover().(pymalloc.Fault)
		fmt.Println(f.Kind, "found by", f.Call)
	}()
	pymalloc.FlushQuarantine()
	// Output: write after free found by pymalloc.FlushQuarantine
}
