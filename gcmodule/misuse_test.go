package gcmodule

import (
	"math"
	"runtime/debug"
	"testing"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/pymalloc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMisuse walks the misuse of the public API: every case panics with a
// *UsageError (so that a program can tell misuse from its own panics)
// whose message names the call, what it was given and the fault; the
// argument faults that Python's gc module raises as errors keep CPython's
// texts (python3 3.11.7: gc.collect(3), gc.get_objects(3),
// gc.get_objects(-2), gc.set_threshold(1, 2, 3, 4), gc.set_threshold(2**40)).
func TestMisuse(t *testing.T) {
	e := newEnv(t)
	other := NewCollector()
	broken := NewCollector()
	broken.broken = "a collection of generation 2 panicked"

	dead := e.list()
	live := e.list()
	lo := e.int(1)
	p := pymalloc.Calloc(1, 64) // a block that is not an object
	hi := e.int(2)
	foreign := other.NewList()
	d := e.c.NewDict()
	e.drop(dead) // last, so that nothing reuses its block

	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"dead", func() { e.c.Decref(dead) }, "gcmodule: Decref(" + hex(dead) + "): object is dead: it was deallocated"},
		{"dead incref", func() { e.c.Incref(dead) }, "gcmodule: Incref(" + hex(dead) + "): object is dead: it was deallocated"},
		{"misaligned", func() { e.c.Decref(Object(12345)) }, "gcmodule: Decref(0x3039): not an object: handles are 8-byte aligned"},
		{"never allocated", func() { e.c.Decref(Object(0x10)) }, "gcmodule: Decref(0x10): not an object: this collector never allocated an object at that address"},
		{"wrong type", func() { e.c.ListAppend(d, live) }, "gcmodule: ListAppend(" + hex(d) + "): expected list, got dict"},
		{"nil", func() { e.c.ListLen(Nil) }, "gcmodule: ListLen(0x0): nil object"},
		{"index", func() { e.c.ListGetItem(live, 3) }, "gcmodule: ListGetItem(" + hex(live) + "): index 3 out of range (len 0)"},
		{"track twice", func() { e.c.Track(live) }, "gcmodule: Track(" + hex(live) + "): object already tracked"},
		{"track an atom", func() { e.c.Track(lo) }, "gcmodule: Track(" + hex(lo) + "): int objects are not containers"},
		{"slot of a list", func() { e.c.SetSlot(live, 0, Nil) }, "gcmodule: SetSlot(" + hex(live) + "): list objects have no slots"},
		{"weakref to an int", func() { e.c.NewWeakref(lo, Nil) }, "gcmodule: NewWeakref(" + hex(lo) + "): cannot create weak reference to 'int' object"},

		// Arguments that are not objects.
		{"collect 3", func() { e.c.Collect(3) }, "gcmodule: Collect(3): invalid generation"},
		{"collect -1", func() { e.c.Collect(-1) }, "gcmodule: Collect(-1): invalid generation"},
		{"package collect", func() { Collect(NumGenerations) }, "gcmodule: Collect(3): invalid generation"},
		{"get_objects 3", func() { e.c.GetObjects(3) }, "gcmodule: GetObjects(3): generation parameter must be less than the number of available generations (3)"},
		{"get_objects -2", func() { e.c.GetObjects(-2) }, "gcmodule: GetObjects(-2): generation parameter cannot be negative"},
		{"package get_objects", func() { GetObjects(-2) }, "gcmodule: GetObjects(-2): generation parameter cannot be negative"},
		{"four thresholds", func() { e.c.SetThreshold(700, 10, 10, 10) }, "gcmodule: SetThreshold: takes at most 3 arguments (4 given)"},
		{"broken collector", func() { broken.Collect(0) }, "gcmodule: Collect: the collector is unusable: a collection of generation 2 panicked"},
		{"class without name", func() { NewClass(ClassSpec{}) }, "gcmodule: NewClass: the class needs a Name"},
		{"type without name", func() { RegisterType(TypeSpec{}) }, "gcmodule: RegisterType: the type needs a Name"},
		{"GC type without traverse", func() { RegisterType(TypeSpec{Name: "T", GC: true}) }, `gcmodule: RegisterType("T"): a GC type needs Traverse`},
		{"unknown type", func() { e.c.NewObject(Type(0)) }, "gcmodule: NewObject: unknown type 0"},
		{"built-in type", func() { e.c.NewObject(ListType) }, "gcmodule: NewObject(list): use the list constructor"},
		{"instance of a non-class", func() { e.c.NewInstance(DictType) }, "gcmodule: NewInstance(dict): not a class from NewClass"},
		{"instance of an unknown type", func() { e.c.NewInstance(Type(1<<16 - 1)) }, "gcmodule: NewInstance: unknown type 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireUsage(t, tc.want, tc.f)
		})
	}
	// A threshold outside a C int; on a 32-bit system a Go int is one, so
	// none overflows.
	if math.MaxInt > math.MaxInt32 {
		big := int64(1) << 40 // a variable: the constant is no int on 32-bit
		t.Run("threshold too big", func(t *testing.T) {
			requireUsage(t, "gcmodule: SetThreshold: signed integer is greater than maximum (1099511627776)", func() { e.c.SetThreshold(700, int(big)) })
		})
		t.Run("threshold too small", func(t *testing.T) {
			requireUsage(t, "gcmodule: SetThreshold: signed integer is less than minimum (-1099511627776)", func() { e.c.SetThreshold(int(-big)) })
		})
	}
	// A block that is not an object, and another collector's object, are
	// refused; which message depends on where pymalloc put them (outside
	// the range of addresses this collector handed out, or inside).
	for _, tc := range []struct {
		call string
		o    Object
		f    func()
	}{
		{"Incref", Object(uintptr(p) + 16), func() { e.c.Incref(Object(uintptr(p) + 16)) }},
		{"ListAppend", foreign, func() { e.c.ListAppend(live, foreign) }},
	} {
		func() {
			defer func() {
				u, ok := recover().(*UsageError)
				require.True(t, ok, "want a *UsageError")
				require.Equal(t, tc.call, u.Call)
				require.Equal(t, uintptr(tc.o), u.Addr)
				require.Contains(t, []string{
					"not an object: this collector never allocated an object at that address",
					"not a live object of this collector (freed and reused, another collector's, or not an object)",
				}, u.Fault)
			}()
			tc.f()
		}()
	}

	// Nil is ignored by Incref and Decref (Py_XINCREF, Py_XDECREF).
	e.c.Incref(Nil)
	e.c.Decref(Nil)

	pymalloc.Free(p)
	e.drop(live, lo, hi, d)
	other.Decref(foreign)
}

// TestNegativeRefcount: a Decref of an object whose count is already zero
// (here, from its own deallocation) panics instead of freeing it twice.
func TestNegativeRefcount(t *testing.T) {
	e := newEnv(t)
	bad := RegisterType(TypeSpec{Name: "Bad", Dealloc: func(c *Collector, o Object) { c.Decref(o) }})
	o := e.c.NewObject(bad)
	require.PanicsWithError(t, "gcmodule: Decref("+hex(o)+"): reference count would become negative (0 - 1): the object is being deallocated",
		func() { e.c.Decref(o) })

	// A reference dropped by a container that did not own it (here the
	// object's own Dealloc clears a list holding it, after the program
	// dropped that list's reference too): the count is left at zero,
	// not below, and says so at the next Decref.
	holder := e.list()
	victim := RegisterType(TypeSpec{Name: "Victim", Dealloc: func(c *Collector, _ Object) { c.ListClear(holder) }})
	v := e.c.NewObject(victim)
	e.append(holder, v)
	e.c.Decref(v)
	require.PanicsWithError(t, "gcmodule: Decref("+hex(v)+"): reference count went negative: an object dropped a reference it did not own",
		func() { e.c.Decref(v) })
	require.Equal(t, 0, e.c.Refcount(v))
	require.PanicsWithError(t, "gcmodule: Decref("+hex(v)+"): reference count would become negative (0 - 1): the object is being deallocated",
		func() { e.c.Decref(v) })
	e.drop(holder)
}

// TestTrashcanChain drops the head of chains of 1,000,000 containers of
// each kind with the goroutine stack limited to 4 MiB: the trashcan keeps
// the recursion below 50 deallocations deep, and everything is freed.
func TestTrashcanChain(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	e := newEnv(t)
	C := NewClass(ClassSpec{Name: "Node"})
	next := e.c.NewStr("next")
	for _, kind := range []string{"list", "tuple", "dict", "instance"} {
		t.Run(kind, func(t *testing.T) {
			e.set(e.inst(C), "next", next) // intern the name before measuring
			base := pymalloc.AllocatedBlocks()
			head := Nil
			for i := 0; i < n; i++ {
				var x Object
				switch kind {
				case "list":
					x = e.list(head)
				case "tuple":
					x = e.c.NewTuple(head, Nil)
				case "dict":
					x = e.c.NewDict()
					if head != Nil {
						e.setitem(x, next, head)
					}
				case "instance":
					x = e.inst(C)
					if head != Nil {
						e.set(x, "next", head)
					}
				}
				e.c.Decref(head)
				head = x
			}
			maxNesting, freed := 0, 0
			e.c.freeHook = func(Object) {
				freed++
				maxNesting = max(maxNesting, e.c.trashNesting)
			}
			old := debug.SetMaxStack(4 << 20)
			e.c.Decref(head)
			debug.SetMaxStack(old)
			e.c.freeHook = nil
			require.Equal(t, n, freed)
			require.LessOrEqual(t, maxNesting, trashUnwindLevel+1)
			require.Equal(t, base, pymalloc.AllocatedBlocks())
		})
	}
	e.drop(next)
}

// TestCollectAllocatesNothing: a collection makes no Go allocation per
// object: the working lists are threaded through the GC heads and the
// visitors are bound once.
func TestCollectAllocatesNothing(t *testing.T) {
	if pymalloc.DebugHooksInstalled() {
		t.Skip("the debug hooks record every block in a Go map (GOPYMALLOC=debug)")
	}
	e := newEnv(t)
	C := NewClass(ClassSpec{Name: "C"})
	live := e.list()
	for i := 0; i < 1000; i++ {
		a, b := pair(e.c)
		e.append(live, a)
		e.drop(a, b)
	}
	allocs := testing.AllocsPerRun(20, func() {
		for i := 0; i < 1000; i++ {
			a, b := pair(e.c)
			e.c.Decref(a)
			e.c.Decref(b)
			x := e.c.NewInstance(C)
			d := e.c.NewDict()
			_ = e.c.DictSetItem(d, x, x)
			w := e.c.NewWeakref(x, Nil)
			_ = e.c.SetAttr(x, "d", d)
			_ = e.c.SetAttr(x, "w", w)
			e.c.Decref(d)
			e.c.Decref(w)
			e.c.Decref(x)
		}
		if e.c.Collect(2) != 5000 {
			panic("wrong count")
		}
	})
	require.Zero(t, allocs)
	e.drop(live)
}

// TestHandleCheckAsPyObjectIsFreed ports test_capi's
// test_pyobject_null_is_freed, _uninitialized_is_freed,
// _forbidden_bytes_is_freed and _freed_is_freed (PyMemDebugTests): under
// the debug hooks CPython's _PyObject_IsFreed sees each of these as
// freed, from the hooks' byte patterns in ob_type. The port's
// counterpart is the check of every handle a public call is given,
// which refuses each of them, with and without the hooks: Nil; a block
// never made an object (0xCD under the hooks), its count set as the C
// test sets it; a block that ends before the type word, whose check word
// is then the trailing pad (0xFD) under the hooks, or the block's
// rounding slack; and a deallocated object (the dead tag, or 0xDD). The
// C test resets the freed object's count to 1; here that would be a
// write after free, which the hooks report, so the count is left alone.
func TestHandleCheckAsPyObjectIsFreed(t *testing.T) {
	notAnObject := []string{
		"not an object: this collector never allocated an object at that address",
		"not a live object of this collector (freed and reused, another collector's, or not an object)",
	}
	for _, hooks := range []bool{false, true} {
		t.Run(map[bool]string{false: "without hooks", true: "debug hooks"}[hooks], func(t *testing.T) {
			installed := pymalloc.DebugHooksInstalled()
			switch {
			case !hooks && installed:
				t.Skip("GOPYMALLOC installed the debug hooks")
			case hooks && !installed:
				pymalloc.SetupDebugHooks()
				t.Cleanup(func() { require.NoError(t, pymalloc.RemoveDebugHooks()) })
			}
			c := NewCollector()
			defer func() { require.NoError(t, c.Close()) }()
			// Objects on both sides, so that the blocks below fall in the
			// range of addresses the collector handed out.
			lo := c.NewInt(1)
			uninit := pymalloc.Malloc(hdrSize)
			short := pymalloc.Malloc(unsafe.Offsetof(objHeader{}.typ))
			dead := c.NewList()
			hi := c.NewInt(2)
			at[objHeader](uintptr(uninit)).refcnt = 1
			at[objHeader](uintptr(short)).refcnt = 1
			c.Decref(dead)
			if hooks {
				require.Equal(t, [4]byte{0xDD, 0xDD, 0xDD, 0xDD}, *at[[4]byte](uintptr(dead) + 12), "the freed object's check word is DEADBYTE")
			}
			for _, tc := range []struct {
				name  string
				o     Object
				wants []string
			}{
				{"null", Nil, []string{"nil object"}},
				{"uninitialized", Object(uintptr(uninit)), notAnObject},
				{"forbidden bytes", Object(uintptr(short)), notAnObject},
				{"freed", dead, []string{"object is dead: it was deallocated"}},
			} {
				var r any
				func() {
					defer func() { r = recover() }()
					c.TypeOf(tc.o) // reads the type, as _PyObject_IsFreed reads ob_type
				}()
				u, ok := r.(*UsageError)
				require.True(t, ok, "%s: want a *UsageError, got %T: %v", tc.name, r, r)
				assert.Contains(t, tc.wants, u.Fault, tc.name)
			}
			pymalloc.Free(uninit)
			pymalloc.Free(short)
			c.Decref(lo)
			c.Decref(hi)
			pymalloc.FlushQuarantine()
		})
	}
}
