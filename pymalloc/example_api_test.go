package pymalloc_test

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// PyObject_Calloc: zeroed memory; a product that overflows gives nil.
func ExampleCalloc() {
	p := pymalloc.Calloc(4, 8)
	fmt.Println(unsafe.Slice((*uint64)(p), 4))
	pymalloc.Free(p)
	fmt.Println(pymalloc.Calloc(math.MaxInt, 8) == nil)
	// Output:
	// [0 0 0 0]
	// true
}

// PyObject_Realloc keeps a pool block in place when the new size fits its
// class and shrinks it by less than a quarter; otherwise it moves.
func ExampleRealloc() {
	p := pymalloc.Malloc(100) // a 112-byte block
	q := pymalloc.Realloc(p, 90)
	fmt.Println("100 -> 90 stays:", p == q)
	r := pymalloc.Realloc(q, 84) // 4*84 = 336 is not above 3*112
	fmt.Println("90 -> 84 stays:", q == r)
	pymalloc.Free(r)
	// Output:
	// 100 -> 90 stays: true
	// 90 -> 84 stays: false
}

// PyObject_Free: nil is fine; a pointer pymalloc never handed out panics
// with a message naming the call and the address.
func ExampleFree() {
	pymalloc.Free(nil)
	var x [16]byte
	defer func() { fmt.Println("recovered:", recover() != nil) }()
	pymalloc.Free(unsafe.Pointer(&x))
	// Output: recovered: true
}

// The MEM domain (PyMem_*) is served by the same heap as OBJ.
func ExampleMemMalloc() {
	p := pymalloc.MemMalloc(32)
	p = pymalloc.MemRealloc(p, 64)
	z := pymalloc.MemCalloc(2, 16)
	fmt.Println(p != nil, *(*byte)(z))
	pymalloc.MemFree(p)
	pymalloc.MemFree(z)
	// Output: true 0
}

// The RAW domain (PyMem_Raw*) never uses the pools: it is the large-block
// allocator, safe from any goroutine.
func ExampleRawMalloc() {
	p := pymalloc.RawMalloc(0) // a distinct, non-nil block, as malloc(1)
	q := pymalloc.RawCalloc(10, 100)
	q = pymalloc.RawRealloc(q, 5000)
	fmt.Println(p != nil, q != nil)
	pymalloc.RawFree(p)
	pymalloc.RawFree(q)
	// Output: true true
}

// sys.getallocatedblocks(): blocks handed out and not freed.
func ExampleAllocatedBlocks() {
	before := pymalloc.AllocatedBlocks()
	p, q := pymalloc.Malloc(10), pymalloc.Malloc(1000)
	fmt.Println(pymalloc.AllocatedBlocks() - before)
	pymalloc.Free(p)
	pymalloc.Free(q)
	fmt.Println(pymalloc.AllocatedBlocks() - before)
	// Output:
	// 2
	// 0
}

// The default heap's statistics as numbers, and its invariant checker.
func ExampleStats() {
	p := pymalloc.Malloc(500)
	s := pymalloc.Stats()
	fmt.Println("class 31 holds", s.Classes[31].Size, "byte blocks; arenas never reclaimed:", s.ArenasReclaimed == 0)
	fmt.Println("check:", pymalloc.Check())
	pymalloc.Free(p)
	// Output:
	// class 31 holds 512 byte blocks; arenas never reclaimed: true
	// check: <nil>
}

func ExampleDomain_String() {
	fmt.Println(pymalloc.DomainRaw, pymalloc.DomainMem, pymalloc.DomainObj)
	// Output: RAW MEM OBJ
}

// GetAllocator returns what serves a domain, to wrap it (a hook).
func ExampleGetAllocator() {
	obj := pymalloc.GetAllocator(pymalloc.DomainObj)
	p := obj.Malloc(8)
	obj.Free(p)
	fmt.Println(p != nil)
	// Output: true
}

// countingArenas wraps the arena allocator and counts the arenas mapped.
type countingArenas struct {
	pymalloc.ArenaAllocator
	maps int
}

func (c *countingArenas) Alloc(size uintptr) unsafe.Pointer {
	c.maps++
	return c.ArenaAllocator.Alloc(size)
}

// PyObject_SetArenaAllocator: a hook that sees every arena mapped.
func ExampleSetArenaAllocator() {
	hook := &countingArenas{ArenaAllocator: pymalloc.GetArenaAllocator()}
	pymalloc.SetArenaAllocator(hook)
	defer pymalloc.SetArenaAllocator(hook.ArenaAllocator)
	var ps []unsafe.Pointer
	for i := 0; i < 5000; i++ { // 2.5 MB of 512-byte blocks: more than the arenas mapped so far hold
		ps = append(ps, pymalloc.Malloc(512))
	}
	fmt.Println("new arenas mapped:", hook.maps > 0)
	for _, p := range ps {
		pymalloc.Free(p)
	}
	// Output: new arenas mapped: true
}

// The default heap keeps the arenas it maps unless GOPYMALLOC_ARENAS=release
// was in the environment when the program started.
func ExampleArenaPolicy() {
	fmt.Println(pymalloc.ArenaPolicy())
	// Output: keep
}

// MakeSlice and FreeSlice: a []T off the Go heap.
func ExampleMakeSlice() {
	xs := pymalloc.MakeSlice[float64](3)
	xs[0], xs[2] = 1.5, 2.5
	fmt.Println(xs, len(xs), cap(xs))
	pymalloc.FreeSlice(xs)
	// Output: [1.5 0 2.5] 3 3
}

func ExampleFreeSlice() {
	pymalloc.FreeSlice[int](nil) // nothing to do
	ids := pymalloc.MakeSlice[uint32](8)
	pymalloc.FreeSlice(ids)
	fmt.Println("freed")
	// Output: freed
}

// Delete frees a value from New.
func ExampleDelete() {
	type point struct{ X, Y int32 }
	p := pymalloc.New[point]()
	p.X = 7
	fmt.Println(*p)
	pymalloc.Delete(p)
	// Output: {7 0}
}

// Tracing state: on or off, how deep, and forgetting what was traced.
func ExampleIsTracing() {
	fmt.Println(pymalloc.IsTracing())
	_ = pymalloc.StartTracing(5)
	fmt.Println(pymalloc.IsTracing(), pymalloc.TracebackLimit())
	p := pymalloc.Malloc(64)
	pymalloc.ClearTraces() // p is no longer traced
	current, _ := pymalloc.TracedMemory()
	fmt.Println(current)
	pymalloc.StopTracing()
	pymalloc.Free(p)
	fmt.Println(pymalloc.IsTracing())
	// Output:
	// false
	// true 5
	// 0
	// false
}

// Without the debug hooks, RawFree of a pointer the RAW domain never
// handed out panics with a RawFault naming the call and the address.
func ExampleRawFault() {
	var notFromPymalloc [64]byte
	defer func() {
		f := recover().(pymalloc.RawFault)
		fmt.Println(f.Call, f.Addr == uintptr(unsafe.Pointer(&notFromPymalloc[16])))
	}()
	pymalloc.RawFree(unsafe.Pointer(&notFromPymalloc[16]))
	// Output:
	// Free true
}

// Where a block lives: its size class, its pool and its arena, as in the
// table of sys._debugmallocstats().
func ExampleBlock() {
	p := pymalloc.Malloc(24)
	defer pymalloc.Free(p)
	info, ok := pymalloc.Block(p)
	fmt.Println(ok, info.Class, info.Size, info.Pool == uintptr(p)&^(16<<10-1))
	// Output:
	// true 1 32 true
}
