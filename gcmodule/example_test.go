package gcmodule_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/gopymalloc/gopymalloc/gcmodule"
	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// A reference cycle survives reference counting; the collector frees it.
func Example() {
	c := gcmodule.NewCollector()
	l := c.NewList()
	_ = c.ListAppend(l, l) // l.append(l)
	c.Decref(l)            // del l: the count stays at 1
	fmt.Println(c.Collect(2))
	// Output: 1
}

// The package-level functions are the gc module, on the Default collector.
func Example_packageLevel() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	fmt.Println(gcmodule.GetThreshold())
	d := gcmodule.Default.NewDict()
	k := gcmodule.Default.NewInt(1)
	_ = gcmodule.Default.DictSetItem(d, k, d) // d[1] = d
	gcmodule.Decref(k)
	gcmodule.Decref(d)
	fmt.Println(gcmodule.Collect(2))
	// Output:
	// 700 10 10
	// 1
}

// A program registers its own container type: a pair of object slots.
// Traverse tells the collector what the object refers to; Clear breaks
// cycles through it and, without a separate Dealloc, also releases it.
func ExampleRegisterType() {
	pair := gcmodule.RegisterType(gcmodule.TypeSpec{
		Name: "pair",
		Size: 16, // two Object slots
		GC:   true,
		Traverse: func(o gcmodule.Object, visit func(gcmodule.Object)) {
			visit(gcmodule.Slot(o, 0))
			visit(gcmodule.Slot(o, 1))
		},
		Clear: func(c *gcmodule.Collector, o gcmodule.Object) {
			c.SetSlot(o, 0, gcmodule.Nil)
			c.SetSlot(o, 1, gcmodule.Nil)
		},
	})
	c := gcmodule.NewCollector()
	a, b := c.NewObject(pair), c.NewObject(pair)
	c.SetSlot(a, 0, b)
	c.SetSlot(b, 0, a)
	fmt.Println(c.IsTracked(a), c.Refcount(a))
	c.Decref(a)
	c.Decref(b)
	fmt.Println(c.Collect(2)) // two objects in the cycle
	// Output:
	// true 2
	// 2
}

// A class with a finalizer (__del__): it runs once, before the collector
// frees the cycle, and may resurrect the object.
func ExampleNewClass() {
	c := gcmodule.NewCollector()
	saved := c.NewList()
	Lazarus := gcmodule.NewClass(gcmodule.ClassSpec{
		Name: "Lazarus",
		Finalize: func(c *gcmodule.Collector, self gcmodule.Object) {
			fmt.Println("__del__")
			_ = c.ListAppend(saved, self) // resurrect
		},
	})
	x := c.NewInstance(Lazarus)
	_ = c.SetAttr(x, "me", x)
	c.Decref(x)
	fmt.Println(c.Collect(2), c.ListLen(saved), c.IsFinalized(x))
	c.ListClear(saved)
	fmt.Println(c.Collect(2)) // freed now, without a second __del__
	// Output:
	// __del__
	// 0 1 true
	// 1
}

// A weak reference's callback runs when its referent dies, here as part
// of cyclic garbage. The callback is any callable object.
func ExampleCollector_NewWeakref() {
	c := gcmodule.NewCollector()
	callback := c.NewInstance(gcmodule.NewClass(gcmodule.ClassSpec{
		Name: "function",
		Call: func(c *gcmodule.Collector, _, wr gcmodule.Object) {
			fmt.Println("callback, referent alive:", c.WeakrefGet(wr) != gcmodule.Nil)
		},
	}))
	x := c.NewInstance(gcmodule.NewClass(gcmodule.ClassSpec{Name: "A"}))
	_ = c.SetAttr(x, "me", x)
	wr := c.NewWeakref(x, callback)
	c.Decref(x)
	fmt.Println(c.Collect(2))
	c.Decref(wr)
	c.Decref(callback)
	// Output:
	// callback, referent alive: false
	// 1
}

// Callbacks run before and after every collection (gc.callbacks).
func ExampleCollector_Callbacks() {
	c := gcmodule.NewCollector()
	c.Callbacks = append(c.Callbacks, func(phase string, info gcmodule.CallbackInfo) {
		fmt.Println(phase, info.Generation, info.Collected, info.Uncollectable)
	})
	l := c.NewList()
	_ = c.ListAppend(l, l)
	c.Decref(l)
	c.Collect(1)
	// Output:
	// start 1 0 0
	// stop 1 1 0
}

// Close gives back every block the collector took, once the program's
// objects are gone; while one is alive it refuses and says what is left.
func ExampleCollector_Close() {
	before := pymalloc.AllocatedBlocks()
	c := gcmodule.NewCollector()
	l := c.NewList()
	_ = c.ListAppend(l, l) // a cycle
	c.Decref(l)
	fmt.Println(c.Close())
	c.Collect(2)
	fmt.Println(c.Close(), pymalloc.AllocatedBlocks() == before)
	fmt.Println(c.Close())
	// Output:
	// gcmodule: Close: 1 objects are still live (1 tracked, 0 of them frozen; 0 in Garbage): drop them, and Collect(2) if they are in cycles, before closing
	// <nil> true
	// gcmodule: Close: use of a closed Collector
}

// AddCallback returns the way to remove the callback again
// (gc.callbacks.remove), which Go cannot do by comparing funcs.
func ExampleCollector_AddCallback() {
	c := gcmodule.NewCollector()
	remove := c.AddCallback(func(phase string, info gcmodule.CallbackInfo) {
		fmt.Println(phase, info.Generation)
	})
	c.Collect(0)
	remove()
	c.Collect(0) // prints nothing
	fmt.Println(len(c.Callbacks))
	// Output:
	// start 0
	// stop 0
	// 0
}

// DEBUG_STATS and DEBUG_COLLECTABLE print what CPython prints (addresses
// and times vary, so only the first lines are shown here).
func ExampleCollector_SetDebug() {
	c := gcmodule.NewCollector()
	var out bytes.Buffer
	c.SetOutput(&out)
	c.SetDebug(gcmodule.DebugStats | gcmodule.DebugCollectable)
	l := c.NewList()
	_ = c.ListAppend(l, l)
	c.Decref(l)
	c.Collect(2)
	lines := strings.Split(out.String(), "\n")
	fmt.Println(strings.Join(lines[:3], "\n"))
	fmt.Println(strings.HasPrefix(lines[3], "gc: collectable <list 0x"))
	fmt.Println(strings.HasPrefix(lines[4], "gc: done, 1 unreachable, 0 uncollectable, "))
	// Output:
	// gc: collecting generation 2...
	// gc: objects in each generation: 2 0 0
	// gc: objects in permanent generation: 0
	// true
	// true
}

// Freeze moves everything tracked out of the collector's sight, as before
// a fork; Unfreeze brings it back into the oldest generation.
func ExampleCollector_Freeze() {
	c := gcmodule.NewCollector()
	l := c.NewList()
	c.Freeze()
	fmt.Println(c.GetFreezeCount(), len(c.GetObjects(gcmodule.AllGenerations)))
	c.Unfreeze()
	fmt.Println(c.GetFreezeCount(), len(c.GetObjects(2)))
	c.Decref(l)
	// Output:
	// 2 0
	// 0 2
}
