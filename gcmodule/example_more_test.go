package gcmodule_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gopymalloc/gopymalloc/gcmodule"
	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// A new collector starts in CPython's initial state.
func ExampleNewCollector() {
	c := gcmodule.NewCollector()
	fmt.Println(c.IsEnabled())
	fmt.Println(c.GetThreshold())
	fmt.Println(c.GetDebug(), c.ListLen(c.Garbage()), len(c.Callbacks))
	// Output:
	// true
	// 700 10 10
	// 0 0 0
}

// Collect frees the cycles in the generations it examines and returns
// how many unreachable objects it found.
func ExampleCollector_Collect() {
	c := gcmodule.NewCollector()
	a, b := c.NewList(), c.NewList()
	_ = c.ListAppend(a, b) // a.append(b)
	_ = c.ListAppend(b, a) // b.append(a)
	c.Decref(a)
	c.Decref(b)
	fmt.Println(c.Collect(0)) // both lists
	fmt.Println(c.Collect(2)) // nothing left
	// Output:
	// 2
	// 0
}

// Disable stops automatic collections; Collect still works. Enable turns
// them back on.
func ExampleCollector_Disable() {
	c := gcmodule.NewCollector()
	c.Disable()
	fmt.Println(c.IsEnabled())
	c.Enable()
	fmt.Println(c.IsEnabled())
	// Output:
	// false
	// true
}

// The first count is container allocations minus deallocations since the
// last collection; a collection resets it.
func ExampleCollector_GetCount() {
	c := gcmodule.NewCollector()
	c.Collect(2)
	fmt.Println(c.GetCount())
	l, d := c.NewList(), c.NewList()
	fmt.Println(c.GetCount())
	c.Decref(d)
	fmt.Println(c.GetCount())
	c.Collect(0)
	fmt.Println(c.GetCount())
	c.Decref(l)
	// Output:
	// 0 0 0
	// 2 0 0
	// 1 0 0
	// 0 1 0
}

// With threshold0 at 3, the fourth container allocation since the last
// collection triggers a collection of generation 0, which frees the three
// cycles made so far.
func ExampleCollector_SetThreshold() {
	c := gcmodule.NewCollector()
	c.SetThreshold(3)
	fmt.Println(c.GetThreshold())
	c.Collect(2) // start from count 0
	c.Callbacks = append(c.Callbacks, func(phase string, info gcmodule.CallbackInfo) {
		if phase == "stop" {
			fmt.Println("collected generation", info.Generation, "found", info.Collected)
		}
	})
	for i := 1; i <= 4; i++ {
		fmt.Println("allocation", i)
		l := c.NewList()
		_ = c.ListAppend(l, l)
		c.Decref(l)
	}
	fmt.Println(c.Collect(2))
	// Output:
	// 3 10 10
	// allocation 1
	// allocation 2
	// allocation 3
	// allocation 4
	// collected generation 0 found 3
	// collected generation 2 found 1
	// 1
}

// GetObjects lists what a generation tracks; a collection moves the
// survivors to the next generation.
func ExampleCollector_GetObjects() {
	c := gcmodule.NewCollector()
	c.Collect(2) // the collector's own Garbage list goes to generation 2
	l := c.NewList()
	fmt.Println(slices.Contains(c.GetObjects(0), l), slices.Contains(c.GetObjects(1), l))
	c.Collect(0)
	fmt.Println(slices.Contains(c.GetObjects(0), l), slices.Contains(c.GetObjects(1), l))
	fmt.Println(len(c.GetObjects(gcmodule.AllGenerations)))
	c.Decref(l)
	// Output:
	// true false
	// false true
	// 2
}

// GetReferrers finds the tracked containers that hold a reference to an
// object. A dict holding only atoms is not tracked, so it is not searched.
func ExampleCollector_GetReferrers() {
	c := gcmodule.NewCollector()
	x, k := c.NewStr("x"), c.NewStr("k")
	l := c.NewList(x)
	t := c.NewTuple(x, l)
	d := c.NewDict()
	_ = c.DictSetItem(d, k, x) // d["k"] = x
	for _, r := range c.GetReferrers(x) {
		fmt.Println(c.TypeOf(r).Name())
	}
	fmt.Println(c.IsTracked(d))
	fmt.Println(slices.Equal(c.GetReferrers(l), []gcmodule.Object{t}))
	for _, o := range []gcmodule.Object{d, t, l, k, x} {
		c.Decref(o)
	}
	// Output:
	// list
	// tuple
	// false
	// true
}

// GetReferents returns what a container refers to, in the order its
// traverse function visits it (a list's, as in CPython, goes from the
// last item to the first); atoms refer to nothing.
func ExampleCollector_GetReferents() {
	c := gcmodule.NewCollector()
	one, two := c.NewInt(1), c.NewInt(2)
	l := c.NewList(one, two)
	for _, r := range c.GetReferents(l) {
		fmt.Println(c.IntValue(r))
	}
	fmt.Println(len(c.GetReferents(one)))
	c.Decref(l)
	c.Decref(one)
	c.Decref(two)
	// Output:
	// 2
	// 1
	// 0
}

// Atoms are never tracked; a dict is tracked only once it may hold a
// container, and a tuple of atoms is untracked by the next collection.
func ExampleCollector_IsTracked() {
	c := gcmodule.NewCollector()
	n := c.NewInt(42)
	l := c.NewList()
	d := c.NewDict()
	fmt.Println(c.IsTracked(n), c.IsTracked(l), c.IsTracked(d))
	_ = c.DictSetItem(d, n, l)
	fmt.Println(c.IsTracked(d))
	t := c.NewTuple(n)
	fmt.Println(c.IsTracked(t))
	c.Collect(0)
	fmt.Println(c.IsTracked(t))
	for _, o := range []gcmodule.Object{t, d, l, n} {
		c.Decref(o)
	}
	// Output:
	// false true false
	// true
	// true
	// false
}

// IsFinalized reports whether an object's finalizer (__del__) has run;
// here it resurrects the object, which stays alive, finalized.
func ExampleCollector_IsFinalized() {
	c := gcmodule.NewCollector()
	keep := c.NewList()
	cls := gcmodule.NewClass(gcmodule.ClassSpec{
		Name: "Phoenix",
		Finalize: func(c *gcmodule.Collector, self gcmodule.Object) {
			_ = c.ListAppend(keep, self)
		},
	})
	x := c.NewInstance(cls)
	_ = c.SetAttr(x, "self", x)
	fmt.Println(c.IsFinalized(x))
	c.Decref(x)
	c.Collect(2)
	fmt.Println(c.IsFinalized(x), c.ListLen(keep))
	c.Decref(keep)
	fmt.Println(c.Collect(2))
	// Output:
	// false
	// true 1
	// 1
}

// Frozen garbage is out of the collector's sight until Unfreeze.
func ExampleCollector_Unfreeze() {
	c := gcmodule.NewCollector()
	l := c.NewList()
	_ = c.ListAppend(l, l)
	c.Decref(l)
	c.Freeze()
	fmt.Println(c.GetFreezeCount(), c.Collect(2))
	c.Unfreeze()
	fmt.Println(c.GetFreezeCount(), c.Collect(2))
	// Output:
	// 2 0
	// 0 1
}

// An object with a legacy finalizer (tp_del) in a cycle is uncollectable:
// the collector puts it in Garbage instead of freeing it.
func ExampleCollector_Garbage() {
	c := gcmodule.NewCollector()
	cls := gcmodule.NewClass(gcmodule.ClassSpec{
		Name: "Legacy",
		Del:  func(*gcmodule.Collector, gcmodule.Object) { fmt.Println("never called here") },
	})
	x := c.NewInstance(cls)
	_ = c.SetAttr(x, "self", x)
	c.Decref(x)
	fmt.Println(c.Collect(2))
	g := c.Garbage()
	fmt.Println(c.ListLen(g), c.ListGetItem(g, 0) == x)
	_ = c.DelAttr(x, "self") // break the cycle by hand
	// Output:
	// 1
	// 1 true
}

// GetStats counts collections, and what they found, per generation.
func ExampleCollector_GetStats() {
	c := gcmodule.NewCollector()
	l := c.NewList()
	_ = c.ListAppend(l, l)
	c.Decref(l)
	c.Collect(0)
	c.Collect(2)
	stats := c.GetStats()
	for gen := range gcmodule.NumGenerations {
		fmt.Printf("gen %d: %+v\n", gen, stats[gen])
	}
	// Output:
	// gen 0: {Collections:1 Collected:1 Uncollectable:0}
	// gen 1: {Collections:0 Collected:0 Uncollectable:0}
	// gen 2: {Collections:1 Collected:0 Uncollectable:0}
}

// SetOutput redirects the debug output, here to a buffer.
func ExampleCollector_SetOutput() {
	c := gcmodule.NewCollector()
	var buf bytes.Buffer
	c.SetOutput(&buf)
	c.SetDebug(gcmodule.DebugStats)
	c.Collect(1)
	first, _, _ := strings.Cut(buf.String(), "\n")
	fmt.Println(first)
	// Output:
	// gc: collecting generation 1...
}

// A panic in a finalizer is caught and handed to the unraisable hook; the
// collection goes on.
func ExampleCollector_SetUnraisableHook() {
	c := gcmodule.NewCollector()
	c.SetUnraisableHook(func(u gcmodule.Unraisable) {
		fmt.Println("Exception ignored", u.Msg, "object:", u.Object != gcmodule.Nil, "panic:", u.Err)
	})
	cls := gcmodule.NewClass(gcmodule.ClassSpec{
		Name:     "Bad",
		Finalize: func(*gcmodule.Collector, gcmodule.Object) { panic("boom") },
	})
	x := c.NewInstance(cls)
	_ = c.SetAttr(x, "self", x)
	c.Decref(x)
	fmt.Println(c.Collect(2))
	// Output:
	// Exception ignored  object: true panic: boom
	// 1
}

// Incref adds a reference; Refcount reports the count.
func ExampleCollector_Incref() {
	c := gcmodule.NewCollector()
	s := c.NewStr("hello")
	fmt.Println(c.Refcount(s))
	c.Incref(s)
	fmt.Println(c.Refcount(s))
	l := c.NewList(s, s) // each item is a reference
	fmt.Println(c.Refcount(s))
	c.Decref(l)
	c.Decref(s)
	fmt.Println(c.Refcount(s))
	c.Decref(s)
	// Output:
	// 1
	// 2
	// 4
	// 1
}

// When the count reaches zero the object is freed at once, and it drops
// its own references in turn.
func ExampleCollector_Decref() {
	c := gcmodule.NewCollector()
	cls := gcmodule.NewClass(gcmodule.ClassSpec{
		Name: "Noisy",
		Finalize: func(c *gcmodule.Collector, self gcmodule.Object) {
			name, _ := c.GetAttr(self, "name")
			fmt.Println("__del__", c.StrValue(name))
		},
	})
	x := c.NewInstance(cls)
	name := c.NewStr("x")
	_ = c.SetAttr(x, "name", name)
	c.Decref(name)
	l := c.NewList(x)
	c.Decref(x)
	fmt.Println("dropping the list")
	c.Decref(l)
	fmt.Println("done")
	// Output:
	// dropping the list
	// __del__ x
	// done
}

// Refcount is sys.getrefcount without the argument's own reference.
func ExampleCollector_Refcount() {
	c := gcmodule.NewCollector()
	l := c.NewList()
	d := c.NewDict()
	k := c.NewStr("k")
	_ = c.DictSetItem(d, k, l) // d["k"] = l
	c.Decref(k)
	fmt.Println(c.Refcount(l))
	c.Decref(d)
	fmt.Println(c.Refcount(l))
	c.Decref(l)
	// Output:
	// 2
	// 1
}

// A container that can no longer be part of a cycle may be untracked;
// Track puts it back under the collector's watch.
func ExampleCollector_Untrack() {
	c := gcmodule.NewCollector()
	l := c.NewList()
	c.Untrack(l)
	fmt.Println(c.IsTracked(l), slices.Contains(c.GetObjects(gcmodule.AllGenerations), l))
	c.Track(l)
	fmt.Println(c.IsTracked(l), slices.Contains(c.GetObjects(gcmodule.AllGenerations), l))
	c.Decref(l)
	// Output:
	// false false
	// true true
}

// Lists hold references to their items.
func ExampleCollector_NewList() {
	c := gcmodule.NewCollector()
	a, b := c.NewInt(1), c.NewInt(2)
	l := c.NewList(a)
	_ = c.ListAppend(l, b)
	c.ListSetItem(l, 0, b) // l[0] = b
	fmt.Println(c.ListLen(l), c.IntValue(c.ListGetItem(l, 0)), c.IntValue(c.ListGetItem(l, 1)))
	fmt.Println(c.Refcount(a), c.Refcount(b))
	c.Decref(l)
	c.Decref(a)
	c.Decref(b)
	// Output:
	// 2 2 2
	// 1 3
}

// ListPop hands the caller the item's reference; ListRemove and ListClear
// drop them.
func ExampleCollector_ListPop() {
	c := gcmodule.NewCollector()
	l := c.NewList()
	for _, s := range []string{"a", "b", "c", "d"} {
		o := c.NewStr(s)
		_ = c.ListAppend(l, o)
		c.Decref(o)
	}
	x := c.ListPop(l, 0)
	fmt.Println(c.StrValue(x), c.ListLen(l))
	c.Decref(x)
	fmt.Println(c.ListRemove(l, c.ListGetItem(l, 1)), c.ListLen(l))
	c.ListClear(l)
	fmt.Println(c.ListLen(l))
	c.Decref(l)
	// Output:
	// a 3
	// true 2
	// 0
}

// Tuples are immutable; the empty tuple is never tracked.
func ExampleCollector_NewTuple() {
	c := gcmodule.NewCollector()
	s := c.NewStr("x")
	t := c.NewTuple(s, s)
	fmt.Println(c.TupleLen(t), c.StrValue(c.TupleGetItem(t, 1)))
	e := c.NewTuple()
	fmt.Println(c.TupleLen(e), c.IsTracked(e))
	c.Decref(e)
	c.Decref(t)
	c.Decref(s)
	// Output:
	// 2 x
	// 0 false
}

// Dict keys compare by identity except ints and strs, which compare by
// value.
func ExampleCollector_NewDict() {
	c := gcmodule.NewCollector()
	d := c.NewDict()
	k, v := c.NewStr("answer"), c.NewInt(42)
	_ = c.DictSetItem(d, k, v)
	c.Decref(k)
	c.Decref(v)
	k2 := c.NewStr("answer")
	got, ok := c.DictGetItem(d, k2)
	fmt.Println(c.DictLen(d), ok, c.IntValue(got))
	fmt.Println(c.DictDelItem(d, k2), c.DictDelItem(d, k2), c.DictLen(d))
	c.Decref(k2)
	c.Decref(d)
	// Output:
	// 1 true 42
	// true false 0
}

// DictNext iterates in insertion order.
func ExampleCollector_DictNext() {
	c := gcmodule.NewCollector()
	d := c.NewDict()
	for i, s := range []string{"a", "b", "c"} {
		k, v := c.NewStr(s), c.NewInt(int64(i))
		_ = c.DictSetItem(d, k, v)
		c.Decref(k)
		c.Decref(v)
	}
	for pos, k, v, ok := c.DictNext(d, 0); ok; pos, k, v, ok = c.DictNext(d, pos) {
		fmt.Println(c.StrValue(k), c.IntValue(v))
	}
	c.DictClear(d)
	fmt.Println(c.DictLen(d))
	c.Decref(d)
	// Output:
	// a 0
	// b 1
	// c 2
	// 0
}

// Ints are atoms: never tracked, freed by reference counting alone.
func ExampleCollector_NewInt() {
	c := gcmodule.NewCollector()
	n := c.NewInt(-7)
	fmt.Println(c.IntValue(n), c.TypeOf(n) == gcmodule.IntType, c.IsTracked(n))
	c.Decref(n)
	// Output:
	// -7 true false
}

// A str holds a copy of the Go string's bytes.
func ExampleCollector_NewStr() {
	c := gcmodule.NewCollector()
	s := c.NewStr("héllo")
	fmt.Println(c.StrValue(s), c.TypeOf(s).Name())
	c.Decref(s)
	// Output:
	// héllo str
}

// Instances of classes keep their attributes inline.
func ExampleCollector_SetAttr() {
	c := gcmodule.NewCollector()
	Point := gcmodule.NewClass(gcmodule.ClassSpec{Name: "Point"})
	p := c.NewInstance(Point)
	x := c.NewInt(3)
	_ = c.SetAttr(p, "x", x)
	c.Decref(x)
	v, ok := c.GetAttr(p, "x")
	fmt.Println(c.IntValue(v), ok)
	fmt.Println(c.DelAttr(p, "x"), c.DelAttr(p, "x"))
	_, ok = c.GetAttr(p, "x")
	fmt.Println(ok)
	c.Decref(p)
	// Output:
	// 3 true
	// true false
	// false
}

// NewInstance is cls(): a tracked object with no attributes.
func ExampleCollector_NewInstance() {
	c := gcmodule.NewCollector()
	A := gcmodule.NewClass(gcmodule.ClassSpec{Name: "A"})
	a := c.NewInstance(A)
	fmt.Println(c.TypeOf(a).Name(), c.IsTracked(a), c.Refcount(a))
	c.Decref(a)
	// Output:
	// A true 1
}

// A weak reference does not keep its referent alive; it reads Nil once
// the referent has died. Plain weakrefs to one object are shared.
func ExampleCollector_WeakrefGet() {
	c := gcmodule.NewCollector()
	x := c.NewInstance(gcmodule.NewClass(gcmodule.ClassSpec{Name: "A"}))
	wr := c.NewWeakref(x, gcmodule.Nil)
	wr2 := c.NewWeakref(x, gcmodule.Nil)
	fmt.Println(wr == wr2, c.GetWeakrefCount(x), c.WeakrefCallback(wr) == gcmodule.Nil)
	fmt.Println(c.WeakrefGet(wr) == x)
	c.Decref(x)
	fmt.Println(c.WeakrefGet(wr) == gcmodule.Nil)
	c.Decref(wr2)
	c.Decref(wr)
	// Output:
	// true 1 true
	// true
	// true
}

// WeakrefCallback is the callback given to NewWeakref.
func ExampleCollector_WeakrefCallback() {
	c := gcmodule.NewCollector()
	cb := c.NewInstance(gcmodule.NewClass(gcmodule.ClassSpec{
		Name: "function",
		Call: func(*gcmodule.Collector, gcmodule.Object, gcmodule.Object) { fmt.Println("called") },
	}))
	x := c.NewInstance(gcmodule.NewClass(gcmodule.ClassSpec{Name: "A"}))
	wr := c.NewWeakref(x, cb)
	fmt.Println(c.WeakrefCallback(wr) == cb, c.GetWeakrefCount(x))
	c.Decref(x)
	c.Decref(wr)
	c.Decref(cb)
	// Output:
	// true 1
	// called
}

// pairType is a container with two object slots (see ExampleRegisterType).
var pairType = gcmodule.RegisterType(gcmodule.TypeSpec{
	Name: "pair",
	Size: 16,
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

// NewObject allocates an object of a registered type, zeroed, with a
// count of 1; a container is tracked.
func ExampleCollector_NewObject() {
	c := gcmodule.NewCollector()
	p := c.NewObject(pairType)
	fmt.Println(c.TypeOf(p).Name(), c.Refcount(p), c.IsTracked(p))
	fmt.Println(gcmodule.Slot(p, 0) == gcmodule.Nil, gcmodule.Slot(p, 1) == gcmodule.Nil)
	c.Decref(p)
	// Output:
	// pair 1 true
	// true true
}

// SetSlot stores a new reference and drops the one the slot held.
func ExampleCollector_SetSlot() {
	c := gcmodule.NewCollector()
	p := c.NewObject(pairType)
	a, b := c.NewStr("a"), c.NewStr("b")
	c.SetSlot(p, 0, a)
	fmt.Println(c.Refcount(a), c.StrValue(gcmodule.Slot(p, 0)))
	c.SetSlot(p, 0, b)
	fmt.Println(c.Refcount(a), c.Refcount(b), c.StrValue(gcmodule.Slot(p, 0)))
	c.Decref(p)
	fmt.Println(c.Refcount(b))
	c.Decref(a)
	c.Decref(b)
	// Output:
	// 2 a
	// 1 2 b
	// 1
}

// Slot reads a slot, borrowed, as Traverse functions do.
func ExampleSlot() {
	c := gcmodule.NewCollector()
	n := c.NewInt(5)
	p := c.NewObject(pairType)
	c.SetSlot(p, 1, n)
	fmt.Println(gcmodule.Slot(p, 0) == gcmodule.Nil, c.IntValue(gcmodule.Slot(p, 1)))
	fmt.Println(len(c.GetReferents(p)))
	c.Decref(p)
	c.Decref(n)
	// Output:
	// true 5
	// 1
}

// A type whose data is not object slots reaches it through Data. The
// memory is outside the Go heap and must never hold a Go pointer.
func ExampleData() {
	counter := gcmodule.RegisterType(gcmodule.TypeSpec{Name: "counter", Size: 8})
	c := gcmodule.NewCollector()
	o := c.NewObject(counter)
	n := (*int64)(gcmodule.Data(o))
	fmt.Println(*n, c.IsTracked(o))
	*n += 41
	*n++
	fmt.Println(*(*int64)(gcmodule.Data(o)))
	c.Decref(o)
	// Output:
	// 0 false
	// 42
}

// TypeOf returns an object's type.
func ExampleCollector_TypeOf() {
	c := gcmodule.NewCollector()
	l := c.NewList()
	n := c.NewInt(1)
	fmt.Println(c.TypeOf(l) == gcmodule.ListType, c.TypeOf(n) == gcmodule.IntType)
	c.Decref(l)
	c.Decref(n)
	// Output:
	// true true
}

// Name is the type's name, as the debug output prints it.
func ExampleType_Name() {
	for _, t := range []gcmodule.Type{gcmodule.IntType, gcmodule.StrType, gcmodule.ListType,
		gcmodule.TupleType, gcmodule.DictType, gcmodule.WeakrefType} {
		fmt.Println(t.Name())
	}
	// Output:
	// int
	// str
	// list
	// tuple
	// dict
	// weakref
}

// Misusing an object, such as using it after it is freed, panics with a
// *UsageError naming the call and the fault.
func ExampleUsageError() {
	c := gcmodule.NewCollector()
	l := c.NewList()
	c.Decref(l) // freed
	defer func() {
		var u *gcmodule.UsageError
		if err, ok := recover().(error); ok && errors.As(err, &u) {
			fmt.Println(u.Call, u.Addr == uintptr(l), u.Fault)
		}
	}()
	c.ListLen(l)
	// Output:
	// ListLen true object is dead: it was deallocated
}

// The package-level functions work on Default; these examples disable its
// automatic collections so that they do not interfere.

// Collect is gc.collect.
func ExampleCollect() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	gcmodule.Collect(2)
	l := gcmodule.Default.NewList()
	_ = gcmodule.Default.ListAppend(l, l)
	gcmodule.Decref(l)
	fmt.Println(gcmodule.Collect(2))
	// Output: 1
}

// Disable and Enable are gc.disable and gc.enable.
func ExampleDisable() {
	gcmodule.Disable()
	fmt.Println(gcmodule.IsEnabled())
	gcmodule.Enable()
	fmt.Println(gcmodule.IsEnabled())
	// Output:
	// false
	// true
}

// GetCount is gc.get_count.
func ExampleGetCount() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	gcmodule.Collect(2)
	fmt.Println(gcmodule.GetCount())
	l := gcmodule.Default.NewList()
	fmt.Println(gcmodule.GetCount())
	gcmodule.Decref(l)
	fmt.Println(gcmodule.GetCount())
	// Output:
	// 0 0 0
	// 1 0 0
	// 0 0 0
}

// SetThreshold and GetThreshold are gc.set_threshold and gc.get_threshold.
func ExampleSetThreshold() {
	t0, t1, t2 := gcmodule.GetThreshold()
	defer gcmodule.SetThreshold(t0, t1, t2)
	gcmodule.SetThreshold(1000, 20)
	fmt.Println(gcmodule.GetThreshold())
	// Output: 1000 20 10
}

// GetObjects is gc.get_objects.
func ExampleGetObjects() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	gcmodule.Collect(2)
	l := gcmodule.Default.NewList()
	fmt.Println(slices.Equal(gcmodule.GetObjects(0), []gcmodule.Object{l}))
	gcmodule.Decref(l)
	fmt.Println(len(gcmodule.GetObjects(0)))
	// Output:
	// true
	// 0
}

// GetReferrers is gc.get_referrers.
func ExampleGetReferrers() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	x := gcmodule.Default.NewInt(1)
	l := gcmodule.Default.NewList(x)
	fmt.Println(slices.Equal(gcmodule.GetReferrers(x), []gcmodule.Object{l}))
	gcmodule.Decref(l)
	fmt.Println(len(gcmodule.GetReferrers(x)))
	gcmodule.Decref(x)
	// Output:
	// true
	// 0
}

// GetReferents is gc.get_referents.
func ExampleGetReferents() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	x := gcmodule.Default.NewInt(1)
	l := gcmodule.Default.NewList(x, x)
	fmt.Println(slices.Equal(gcmodule.GetReferents(l), []gcmodule.Object{x, x}))
	gcmodule.Decref(l)
	gcmodule.Decref(x)
	// Output: true
}

// IsTracked is gc.is_tracked.
func ExampleIsTracked() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	x := gcmodule.Default.NewStr("x")
	l := gcmodule.Default.NewList()
	fmt.Println(gcmodule.IsTracked(x), gcmodule.IsTracked(l))
	gcmodule.Decref(l)
	gcmodule.Decref(x)
	// Output: false true
}

// IsFinalized is gc.is_finalized.
func ExampleIsFinalized() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	keep := gcmodule.Default.NewList()
	cls := gcmodule.NewClass(gcmodule.ClassSpec{
		Name: "Phoenix",
		Finalize: func(c *gcmodule.Collector, self gcmodule.Object) {
			_ = c.ListAppend(keep, self) // resurrect
		},
	})
	x := gcmodule.Default.NewInstance(cls)
	fmt.Println(gcmodule.IsFinalized(x))
	gcmodule.Decref(x) // __del__ runs and resurrects x
	fmt.Println(gcmodule.IsFinalized(x))
	gcmodule.Decref(keep) // freed now, without a second __del__
	// Output:
	// false
	// true
}

// Freeze, Unfreeze and GetFreezeCount are gc.freeze, gc.unfreeze and
// gc.get_freeze_count.
func ExampleFreeze() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	l := gcmodule.Default.NewList()
	gcmodule.Freeze()
	fmt.Println(gcmodule.GetFreezeCount() > 0, slices.Contains(gcmodule.GetObjects(gcmodule.AllGenerations), l))
	gcmodule.Unfreeze()
	fmt.Println(gcmodule.GetFreezeCount(), slices.Contains(gcmodule.GetObjects(2), l))
	gcmodule.Decref(l)
	// Output:
	// true false
	// 0 true
}

// Garbage is gc.garbage.
func ExampleGarbage() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	cls := gcmodule.NewClass(gcmodule.ClassSpec{
		Name: "Legacy",
		Del:  func(*gcmodule.Collector, gcmodule.Object) {},
	})
	x := gcmodule.Default.NewInstance(cls)
	_ = gcmodule.Default.SetAttr(x, "self", x)
	gcmodule.Decref(x)
	gcmodule.Collect(2)
	g := gcmodule.Garbage()
	n := gcmodule.Default.ListLen(g)
	fmt.Println(gcmodule.Default.ListGetItem(g, n-1) == x)
	_ = gcmodule.Default.DelAttr(x, "self")
	gcmodule.Decref(gcmodule.Default.ListPop(g, n-1)) // runs Del, frees x
	// Output: true
}

// GetStats is gc.get_stats.
func ExampleGetStats() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	before := gcmodule.GetStats()
	l := gcmodule.Default.NewList()
	_ = gcmodule.Default.ListAppend(l, l)
	gcmodule.Decref(l)
	gcmodule.Collect(1)
	after := gcmodule.GetStats()
	fmt.Println(after[1].Collections-before[1].Collections, after[1].Collected-before[1].Collected)
	// Output: 1 1
}

// Callbacks is gc.callbacks.
func ExampleCallbacks() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	cbs := gcmodule.Callbacks()
	saved := *cbs
	defer func() { *cbs = saved }()
	*cbs = append(*cbs, func(phase string, info gcmodule.CallbackInfo) {
		fmt.Println(phase, info.Generation)
	})
	gcmodule.Collect(0)
	// Output:
	// start 0
	// stop 0
}

// AddCallback is gc.callbacks.append on Default; what it returns is
// gc.callbacks.remove.
func ExampleAddCallback() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	remove := gcmodule.AddCallback(func(phase string, info gcmodule.CallbackInfo) {
		fmt.Println(phase, info.Generation)
	})
	gcmodule.Collect(1)
	remove()
	gcmodule.Collect(1)
	// Output:
	// start 1
	// stop 1
}

// SetDebug and GetDebug are gc.set_debug and gc.get_debug.
func ExampleSetDebug() {
	old := gcmodule.GetDebug()
	defer gcmodule.SetDebug(old)
	gcmodule.SetDebug(gcmodule.DebugLeak)
	fmt.Println(gcmodule.GetDebug() == gcmodule.DebugCollectable|gcmodule.DebugUncollectable|gcmodule.DebugSaveAll)
	// Output: true
}

// Incref and Decref count references to Default's objects.
func ExampleIncref() {
	gcmodule.Disable()
	defer gcmodule.Enable()
	s := gcmodule.Default.NewStr("s")
	gcmodule.Incref(s)
	fmt.Println(gcmodule.Default.Refcount(s))
	gcmodule.Decref(s)
	fmt.Println(gcmodule.Default.Refcount(s))
	gcmodule.Decref(s)
	// Output:
	// 2
	// 1
}

// tracemalloc.get_object_traceback: where an object was made, from the
// program's call (gcmodule's own frames are left out).
func ExampleCollector_ObjectTraceback() {
	if err := pymalloc.StartTracing(1); err != nil {
		panic(err)
	}
	defer pymalloc.StopTracing()
	c := gcmodule.NewCollector()
	defer c.Close()
	l := c.NewList()
	fmt.Println(c.ObjectTraceback(l)[0].Function)
	c.Decref(l)
	// Output: github.com/gopymalloc/gopymalloc/gcmodule_test.ExampleCollector_ObjectTraceback
}
