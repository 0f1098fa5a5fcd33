package pymalloc_test

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// The OBJ domain, as PyObject_Malloc and PyObject_Free: a small request
// comes from a pool of pymalloc's heap, outside the Go heap.
func ExampleMalloc() {
	p := pymalloc.Malloc(24)
	buf := unsafe.Slice((*byte)(p), 24)
	copy(buf, "hello, pymalloc")
	fmt.Println(string(buf[:15]))
	p = pymalloc.Realloc(p, 30) // 30 bytes still fit the 32-byte class: same block
	fmt.Println(string(unsafe.Slice((*byte)(p), 15)))
	pymalloc.Free(p)
	// Output:
	// hello, pymalloc
	// hello, pymalloc
}

// Typed helpers for values without Go pointers.
func ExampleNew() {
	type vec struct{ X, Y, Z float32 }
	v := pymalloc.New[vec]()
	v.X, v.Z = 1, 3
	fmt.Println(*v)
	pymalloc.Delete(v)

	xs := pymalloc.MakeSlice[int64](5)
	for i := range xs {
		xs[i] = int64(i * i)
	}
	fmt.Println(xs)
	pymalloc.FreeSlice(xs)
	// Output:
	// {1 0 3}
	// [0 1 4 9 16]
}

// ResizeSlice grows a slice in pymalloc memory, where append would move
// it to the Go heap.
func ExampleResizeSlice() {
	xs := pymalloc.MakeSlice[int32](2)
	xs[0], xs[1] = 7, 8
	xs = pymalloc.ResizeSlice(xs, 4) // PyMem_Resize: kept, then zeroed
	fmt.Println(xs, len(xs), cap(xs))
	xs = pymalloc.ResizeSlice(xs, 1)
	fmt.Println(xs)
	pymalloc.FreeSlice(xs)
	// Output:
	// [7 8 0 0] 4 4
	// [7]
}

// A hook in CPython's sense: an allocator that wraps the previous one.
type tally struct {
	pymalloc.Allocator
	mallocs int
}

func (t *tally) Malloc(n uintptr) unsafe.Pointer { t.mallocs++; return t.Allocator.Malloc(n) }

func ExampleSetAllocator() {
	prev := pymalloc.GetAllocator(pymalloc.DomainMem)
	hook := &tally{Allocator: prev}
	pymalloc.SetAllocator(pymalloc.DomainMem, hook)
	pymalloc.MemFree(pymalloc.MemMalloc(100))
	pymalloc.MemFree(pymalloc.MemMalloc(200))
	pymalloc.SetAllocator(pymalloc.DomainMem, prev)
	fmt.Println("PyMem_Malloc calls seen:", hook.mallocs)
	// Output: PyMem_Malloc calls seen: 2
}

// The statistics in the layout of CPython's sys._debugmallocstats(). The
// rows depend on what the process holds, so this prints only the head of
// the dump and the row of the 112-byte class that a 100-byte block
// needs.
func ExampleWriteDebugMallocStats() {
	p := pymalloc.Malloc(100)
	defer pymalloc.Free(p)
	var dump strings.Builder
	if err := pymalloc.WriteDebugMallocStats(&dump); err != nil {
		fmt.Println(err)
	}
	lines := strings.Split(dump.String(), "\n")
	fmt.Println(strings.Join(lines[:4], "\n"))
	for _, l := range lines {
		if f := strings.Fields(l); len(f) == 5 && f[0] == "6" {
			fmt.Println("class", f[0], "holds", f[1], "byte blocks")
		}
	}
	// Output:
	// Small block threshold = 512, in 32 size classes.
	//
	// class   size   num pools   blocks in use  avail blocks
	// -----   ----   ---------   -------------  ------------
	// class 6 holds 112 byte blocks
}
