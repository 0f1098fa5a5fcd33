package bench

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
)

// Trace is a validated trace whose ops have been moved out of the Go heap.
//
// The reader returns the ops as one Go slice of about 64 MB. For the
// off-heap allocators that would not matter, but for the Go-heap ones it
// would: the collector paces itself on the live heap, and 64 MB of trace
// would let a replay through make allocate twice as much before each
// collection as the same program without a trace in memory. replay.c keeps
// its trace in mmap'd memory too.
type Trace struct {
	Name    string
	Ops     []pytrace.Op
	Callocs []pytrace.CallocArgs
	MaxID   uint32
	Stats   pytrace.Stats

	mem []offHeap
}

// moveOffHeap copies t's ops and calloc arguments to memory from mmap and
// drops t's references to the Go copies (the caller's next collection
// frees them).
func moveOffHeap(t *pytrace.Trace) (*Trace, error) {
	ops, m1, err := offHeapSlice[pytrace.Op](len(t.Ops))
	if err != nil {
		return nil, err
	}
	calls, m2, err := offHeapSlice[pytrace.CallocArgs](len(t.Callocs))
	if err != nil {
		return nil, errors.Join(err, m1.free())
	}
	copy(ops, t.Ops)
	copy(calls, t.Callocs)
	out := &Trace{Name: t.Name, Ops: ops, Callocs: calls, MaxID: t.MaxID, Stats: t.Stats, mem: []offHeap{m1, m2}}
	t.Ops, t.Callocs = nil, nil
	return out, nil
}

// ReadTrace reads and validates the trace at path, and refuses one
// without ops: its ns per op would be the time of an empty loop.
func ReadTrace(path string) (*pytrace.Trace, error) {
	t, err := pytrace.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(t.Ops) == 0 {
		return nil, fmt.Errorf("%s: no ops to replay", path)
	}
	return t, nil
}

// LoadTrace reads the trace at path (ReadTrace) and moves it off the Go
// heap.
func LoadTrace(path string) (*Trace, error) {
	t, err := ReadTrace(path)
	if err != nil {
		return nil, err
	}
	out, err := moveOffHeap(t)
	runtime.GC()
	return out, err
}

// Release unmaps the trace; t must not be used afterwards.
func (t *Trace) Release() error {
	var errs []error
	for _, m := range t.mem {
		errs = append(errs, m.free())
	}
	t.Ops, t.Callocs, t.mem = nil, nil, nil
	return errors.Join(errs...)
}
