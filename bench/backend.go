package bench

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/internal/workload"
)

// Backend is one allocator of the comparison, with what each harness
// needs of it. Every harness makes a fresh instance, so that a run starts
// from an empty allocator as replay.c's one replay per process does.
type Backend struct {
	Name  string
	About string // one line, for listings
	// OffHeap says that the blocks live outside the Go heap, so the
	// collector neither scans nor frees them: their handles may be held
	// as uintptr.
	OffHeap bool

	replay func(t *Trace, touch bool) (Record, error)
	// churn and bulk run a workload on a fresh instance; report, if not
	// nil, is also given the error when the instance cannot be opened or
	// closed, because testing.Benchmark drops a failed benchmark's
	// messages.
	churn, bulk func(b *testing.B, report func(error))
	open        func() (Instance, error)
	// check, if not nil, says why the backend cannot be measured in a
	// child of this process; open fails with the same error.
	check func() error
}

// Instance is a fresh allocator behind the workloads' interface, for the
// set-ups that are not timed per call (GC impact, bulk residency) and for
// tests.
type Instance interface {
	workload.Allocator
	Close() error
}

// Replay replays t once through a fresh instance (the method is in doc.go)
// and returns the run's record.
func (b Backend) Replay(t *Trace, touch bool) (Record, error) { return b.replay(t, touch) }

// Churn and Bulk run the allocator core's workloads (package workload) on
// a fresh instance.
func (b Backend) Churn(tb *testing.B) { b.churn(tb, nil) }
func (b Backend) Bulk(tb *testing.B)  { b.bulk(tb, nil) }

// Open returns a fresh instance.
func (b Backend) Open() (Instance, error) { return b.open() }

// Backends are the Go allocators compared, in the order of every table:
// gopymalloc's entry points (and its huge-page and prefault opt-ins), the other cgo-free
// allocator, the Go heap, and the floor.
var Backends = []Backend{
	gopymallocBackend,
	gopymallocAPIBackend,
	gopymallocHugeBackend,
	gopymallocPrefaultBackend,
	moderncBackend,
	goHeapBackend,
	syncPoolBackend,
	freeListBackend,
}

// Lookup returns the backend called name.
func Lookup(name string) (Backend, bool) {
	for _, b := range Backends {
		if b.Name == name {
			return b, true
		}
	}
	return Backend{}, false
}

// ParseBackends turns a comma-separated list of names into backends, in
// the list's order; "" and "all" mean every backend.
func ParseBackends(list string) ([]Backend, error) {
	if list == "" || list == "all" {
		return Backends, nil
	}
	var out []Backend
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		b, ok := Lookup(name)
		if !ok {
			return nil, fmt.Errorf("unknown backend %q (known: %s)", name, strings.Join(Names(), ", "))
		}
		if seen[name] {
			// Its runs would be merged into one row.
			return nil, fmt.Errorf("backend %q listed twice", name)
		}
		seen[name] = true
		out = append(out, b)
	}
	return out, nil
}

// CheckBackends returns the first reason why one of bs cannot be measured
// here (an environment variable that changes what it is), so that a
// command can refuse before its first run.
func CheckBackends(bs []Backend) error {
	for _, b := range bs {
		if b.check != nil {
			if err := b.check(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Names lists the backends' names.
func Names() []string {
	var s []string
	for _, b := range Backends {
		s = append(s, b.Name)
	}
	return s
}

// The two shapes of backend. An off-heap allocator hands out
// unsafe.Pointers and is replayed with an off-heap ID table; a Go-heap
// allocator hands out []byte, the way Go code holds memory, and is
// replayed with a table on the Go heap. Each concrete type gets its own
// replay loop, generated from one template (loops_gen.go), because a loop
// that is generic over the allocator calls it through the instantiation's
// dictionary: about 1.5 ns per call here and no inlining, an eighth of an
// op's time.

type offHeapAllocator interface {
	Instance
	Calloc(nelem, elsize uintptr) unsafe.Pointer
	Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer
	replayOps(ops []pytrace.Op, callocs []pytrace.CallocArgs, table ptrSlots, doTouch bool) (fails int)
}

type goHeapAllocator interface {
	Alloc(n uintptr) []byte
	Calloc(nelem, elsize uintptr) []byte
	Realloc(b []byte, n uintptr) []byte
	Free(b []byte)
	replayOps(ops []pytrace.Op, callocs []pytrace.CallocArgs, table sliceSlots, doTouch bool) (fails int)
}

// offHeapEntry builds the entry of an off-heap allocator made by open.
func offHeapEntry[A offHeapAllocator](name, about string, open func() (A, error)) Backend {
	return Backend{
		Name: name, About: about, OffHeap: true,
		replay: func(t *Trace, touch bool) (rec Record, err error) {
			a, err := open()
			if err != nil {
				return Record{}, err
			}
			table, err := newPtrTable(t.MaxID)
			if err != nil {
				return Record{}, errors.Join(err, a.Close())
			}
			defer func() { err = errors.Join(err, table.release(), a.Close()) }()
			return measure(name, t, touch, func(ops []pytrace.Op) int {
				return a.replayOps(ops, t.Callocs, table.base(), touch)
			})
		},
		churn: func(b *testing.B, report func(error)) { workload.Churn(b, mustOpen(b, open, report)) },
		bulk:  func(b *testing.B, report func(error)) { workload.Bulk(b, mustOpen(b, open, report)) },
		open:  func() (Instance, error) { return open() },
	}
}

// goHeapEntry builds the entry of a Go-heap allocator made by open;
// pointers adapts one to the workloads' interface, which frees by pointer
// alone.
func goHeapEntry[A goHeapAllocator, P Instance](name, about string, open func() A, pointers func(A) P) Backend {
	return Backend{
		Name: name, About: about,
		replay: func(t *Trace, touch bool) (Record, error) {
			a := open()
			table := newSliceTable(t.MaxID)
			return measure(name, t, touch, func(ops []pytrace.Op) int {
				return a.replayOps(ops, t.Callocs, table.base(), touch)
			})
		},
		churn: func(b *testing.B, _ func(error)) { workload.Churn(b, pointers(open())) },
		bulk:  func(b *testing.B, _ func(error)) { workload.Bulk(b, pointers(open())) },
		open:  func() (Instance, error) { return pointers(open()), nil },
	}
}

// mustOpen opens an instance for a benchmark and closes it when the
// benchmark ends; a failure to open or close fails the benchmark and, if
// report is not nil, goes to report too.
func mustOpen[A Instance](b *testing.B, open func() (A, error), report func(error)) A {
	fail := func(what string, err error) error {
		err = fmt.Errorf("%s: %w", what, err)
		if report != nil {
			report(err)
		}
		return err
	}
	a, err := open()
	if err != nil {
		b.Fatal(fail("opening an instance", err))
	}
	b.Cleanup(func() {
		if err := a.Close(); err != nil {
			b.Error(fail("closing the instance", err))
		}
	})
	return a
}
