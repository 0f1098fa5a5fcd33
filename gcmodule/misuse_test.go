package gcmodule

import (
	"runtime/debug"
	"testing"

	"github.com/gopymalloc/gopymalloc/pymalloc"
	"github.com/stretchr/testify/require"
)

// Misuse is reported with the call, the address and the fault.
func TestMisuse(t *testing.T) {
	e := newEnv(t)
	other := NewCollector()

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
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.PanicsWithError(t, tc.want, tc.f)
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
