package pymalloc_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// Report-and-continue, for experiments: the fault is written to the
// output and the program goes on.
func ExampleSetFaultMode() {
	var report bytes.Buffer
	defer pymalloc.SetFaultOutput(pymalloc.SetFaultOutput(&report))
	defer pymalloc.SetFaultMode(pymalloc.SetFaultMode(pymalloc.ContinueOnFault))
	pymalloc.SetupDebugHooks()
	defer pymalloc.RemoveDebugHooks()
	p := pymalloc.Malloc(24)
	pymalloc.Free(p)
	pymalloc.Free(p) // a double free: reported, not fatal in this mode
	fmt.Println(strings.Contains(report.String(), "double free"))
	// Output: true
}

// Where reports go (stderr by default).
func ExampleSetFaultOutput() {
	var report bytes.Buffer
	prev := pymalloc.SetFaultOutput(&report)
	defer pymalloc.SetFaultOutput(prev)
	pymalloc.SetupDebugHooks()
	defer pymalloc.RemoveDebugHooks()
	p := pymalloc.Malloc(8)
	pymalloc.Free(p)
	func() {
		defer func() { recover() }()
		pymalloc.Free(p)
	}()
	fmt.Println(report.Len() > 0)
	// Output: true
}

// The quarantine keeps freed blocks filled with 0xDD for a while, to find
// writes after free; its size is a trade between memory and reach.
func ExampleSetQuarantine() {
	prevBlocks, prevBytes := pymalloc.SetQuarantine(16, 4096)
	defer pymalloc.SetQuarantine(prevBlocks, prevBytes)
	blocks, bytes := pymalloc.SetQuarantine(16, 4096)
	fmt.Println(blocks, bytes)
	// Output: 16 4096
}

// The hooks come off again once no block made under them is live.
func ExampleRemoveDebugHooks() {
	pymalloc.SetupDebugHooks()
	fmt.Println(pymalloc.DebugHooksInstalled())
	p := pymalloc.Malloc(10)
	fmt.Println(pymalloc.RemoveDebugHooks() != nil) // p is still live
	pymalloc.Free(p)
	fmt.Println(pymalloc.RemoveDebugHooks(), pymalloc.DebugHooksInstalled())
	// Output:
	// true
	// true
	// <nil> false
}
