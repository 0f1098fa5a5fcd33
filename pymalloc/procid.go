package pymalloc

import _ "unsafe" // for go:linkname

// procID returns the index of the processor (the runtime's P) the calling
// goroutine runs on, as sync.Pool finds its per-P slot. The default heap
// uses it only to pick a shard: the goroutine may move to another P at
// once, which costs locality, never correctness.
func procID() int {
	id := runtimeProcPin()
	runtimeProcUnpin()
	return id
}

// The runtime keeps procPin and procUnpin reachable by linkname for
// packages outside the standard library (go.dev/issue/67401).
//
//go:linkname runtimeProcPin runtime.procPin
func runtimeProcPin() int

//go:linkname runtimeProcUnpin runtime.procUnpin
func runtimeProcUnpin()
