package gcmodule

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Behaviour of CPython 3.11.7 measured with small scripts
// (cpython-gc.md, sections A3 to A8), reproduced with the same objects.

// TestDictTracking: d = {} untracked; d['x'] = [] tracked; del d['x']
// still tracked, also after collect(0) and collect(1); untracked by
// collect(2).
func TestDictTracking(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	d := e.c.NewDict()
	var got []bool
	got = append(got, e.c.IsTracked(d))
	k, l := e.c.NewStr("x"), e.list()
	e.setitem(d, k, l)
	got = append(got, e.c.IsTracked(d))
	require.True(t, e.c.DictDelItem(d, k))
	got = append(got, e.c.IsTracked(d))
	for gen := 0; gen < 3; gen++ {
		e.c.Collect(gen)
		got = append(got, e.c.IsTracked(d))
	}
	require.Equal(t, []bool{false, true, true, true, true, false}, got)
	// A tracked container stored as a key tracks the dict too; an
	// untracked dict stored as a value does as well (it may become
	// tracked).
	d2 := e.c.NewDict()
	inner := e.c.NewDict()
	e.setitem(d2, k, inner)
	require.True(t, e.c.IsTracked(d2))
	e.drop(d, k, l, d2, inner)
}

// TestTupleUntracking: tuple([1, 2]) and tuple([t]) are tracked until a
// collection finds they hold only atoms; tuple([[]]) stays tracked.
func TestTupleUntracking(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	one, two, l := e.int(1), e.int(2), e.list()
	t1 := e.c.NewTuple(one, two)
	t2 := e.c.NewTuple(t1)
	t3 := e.c.NewTuple(l)
	require.Equal(t, []bool{true, true, true}, []bool{e.c.IsTracked(t1), e.c.IsTracked(t2), e.c.IsTracked(t3)})
	e.c.Collect(0)
	require.Equal(t, []bool{false, false, true}, []bool{e.c.IsTracked(t1), e.c.IsTracked(t2), e.c.IsTracked(t3)})
	e.drop(one, two, l, t1, t2, t3)
}

// TestWeakrefCallbackFreesItself: a reachable weakref whose callback drops
// the last reference to it counts as collected: x = A(); x.me = x;
// holder = [ref(x, cb)] with cb clearing holder; collect() returns 2.
func TestWeakrefCallbackFreesItself(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	holder := e.list()
	cb := e.callable(func(Object) { e.c.ListClear(holder) })
	x := e.inst(plainClass)
	e.set(x, "me", x)
	wr := e.c.NewWeakref(x, cb)
	e.append(holder, wr)
	e.drop(wr, x)
	require.Equal(t, 2, e.c.Collect(2))
	require.Equal(t, 2, e.c.GetStats()[2].Collected)
	e.drop(holder, cb)
}

// TestWeakrefsClearedBeforeFinalizers: by the time __del__ runs on
// garbage, every weakref to it is dead and the callbacks have run.
func TestWeakrefsClearedBeforeFinalizers(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	var order []string
	D := NewClass(ClassSpec{Name: "D", Finalize: func(c *Collector, self Object) {
		wr, _ := c.GetAttr(self, "wr")
		if c.WeakrefGet(wr) == Nil {
			order = append(order, "del, wr() is None")
		} else {
			order = append(order, "del, wr() alive")
		}
	}})
	d := e.inst(D)
	e.set(d, "me", d)
	wr := e.c.NewWeakref(d, Nil)
	e.set(d, "wr", wr)
	e.drop(wr)
	cb := e.callable(func(Object) { order = append(order, "cb") })
	ext := e.c.NewWeakref(d, cb)
	e.drop(d)
	require.Equal(t, 2, e.c.Collect(2)) // d and d.wr
	require.Equal(t, []string{"cb", "del, wr() is None"}, order)
	e.drop(ext, cb)
}

// TestResurrectedWeakrefsStayDead: r resurrects itself from __del__; its
// weakrefs were cleared and stay cleared; nothing is counted.
func TestResurrectedWeakrefsStayDead(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	store := e.list()
	R := NewClass(ClassSpec{Name: "R", Finalize: func(c *Collector, self Object) { _ = c.ListAppend(store, self) }})
	r := e.inst(R)
	e.set(r, "me", r)
	w := e.c.NewWeakref(r, Nil)
	e.drop(r)
	require.Equal(t, 0, e.c.Collect(2))
	require.Equal(t, Nil, e.c.WeakrefGet(w))
	require.Equal(t, 1, e.c.ListLen(store))
	e.c.ListClear(store)
	require.Equal(t, 1, e.c.Collect(2))
	e.drop(w, store)
}

// TestLegacyGroup: an object with tp_del in a cycle, and what it reaches,
// are uncollectable; their weakrefs are not cleared; gc.garbage keeps
// them reachable; once dropped from garbage they are found again.
func TestLegacyGroup(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	L := NewClass(ClassSpec{Name: "L", Del: func(*Collector, Object) {}})
	l, k := e.inst(L), e.inst(plainClass)
	e.set(l, "me", l)
	e.set(l, "k", k)
	wl, wk := e.c.NewWeakref(l, Nil), e.c.NewWeakref(k, Nil)
	e.drop(l, k)
	require.Equal(t, 2, e.c.Collect(2))
	require.Equal(t, GenStats{Collections: 2, Collected: 0, Uncollectable: 2}, e.c.GetStats()[2])
	require.Equal(t, []Object{l}, e.garbage(), "only the tp_del object goes to garbage")
	require.Equal(t, l, e.c.WeakrefGet(wl))
	require.Equal(t, k, e.c.WeakrefGet(wk))
	require.Equal(t, 0, e.c.Collect(2), "gc.garbage holds them")
	e.c.ListClear(e.c.Garbage())
	require.Equal(t, 2, e.c.Collect(2), "found again")
	require.Len(t, e.garbage(), 1)
	e.c.DelAttr(l, "me")
	e.c.ListClear(e.c.Garbage())
	require.Equal(t, Nil, e.c.WeakrefGet(wl))
	require.Equal(t, Nil, e.c.WeakrefGet(wk))
	e.drop(wl, wk)
}

// TestSaveAllCounts: under DEBUG_SAVEALL collected objects are counted and
// kept in gc.garbage, so the next collection finds nothing.
func TestSaveAllCounts(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	e.c.SetDebug(DebugSaveAll)
	z := e.list()
	e.append(z, z)
	e.drop(z)
	require.Equal(t, 1, e.c.Collect(2))
	require.Len(t, e.garbage(), 1)
	require.Equal(t, 0, e.c.Collect(2))
	e.c.SetDebug(0)
	e.c.ListClear(e.c.Garbage())
	require.Equal(t, 1, e.c.Collect(2))
}

// TestDebugOutput: DEBUG_STATS, DEBUG_COLLECTABLE and DEBUG_UNCOLLECTABLE
// print what CPython prints, in its format.
func TestDebugOutput(t *testing.T) {
	require.Equal(t, []int{1, 2, 4, 32, 38}, []int{DebugStats, DebugCollectable, DebugUncollectable, DebugSaveAll, DebugLeak})
	e := newEnv(t)
	e.noLeak()
	A := NewClass(ClassSpec{Name: "A", Del: func(*Collector, Object) {}})
	l := e.list()
	e.append(l, l)
	a := e.inst(A)
	e.set(a, "me", a)
	keep := e.list()
	e.c.Collect(0)
	e.drop(l, a)
	e.out.Reset()
	e.c.SetDebug(DebugStats | DebugCollectable | DebugUncollectable)
	require.Equal(t, 2, e.c.Collect(2))
	e.c.SetDebug(0)
	// The uncollectable lines come before "done", as in gc_collect_main.
	got := e.out.String()
	lines := strings.Split(got, "\n")
	require.Len(t, lines, 7, got)
	require.Equal(t, "gc: collecting generation 2...", lines[0])
	require.Equal(t, "gc: objects in each generation: 0 3 1", lines[1]) // l, a, keep; gc.garbage
	require.Equal(t, "gc: objects in permanent generation: 0", lines[2])
	require.Equal(t, "gc: collectable <list "+hex(l)+">", lines[3])
	require.Equal(t, "gc: uncollectable <A "+hex(a)+">", lines[4])
	require.Regexp(t, `^gc: done, 2 unreachable, 1 uncollectable, \d+\.\d{4}s elapsed$`, lines[5])
	e.c.DelAttr(a, "me")
	e.c.ListClear(e.c.Garbage())
	e.drop(keep)
}

// TestUnraisable: a panic in a finalizer, a weakref callback or a gc
// callback is reported (sys.unraisablehook) and the collection goes on.
func TestUnraisable(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	A := NewClass(ClassSpec{Name: "A", Finalize: func(*Collector, Object) { panic("boom in __del__") }})
	ran := 0
	e.c.Callbacks = []Callback{
		func(string, CallbackInfo) { panic("boom in callback") },
		func(string, CallbackInfo) { ran++ },
	}
	cb := e.callable(func(Object) { panic("boom in weakref callback") })
	a := e.inst(A)
	e.set(a, "me", a)
	wr := e.c.NewWeakref(a, cb)
	e.drop(a)
	require.Equal(t, 1, e.c.Collect(2))
	require.Equal(t, 2, ran, "the other callback still runs")
	var errs []any
	for _, u := range e.unraisable {
		errs = append(errs, u.Err)
	}
	require.Equal(t, []any{"boom in callback", "boom in weakref callback", "boom in __del__", "boom in callback"}, errs)
	require.Equal(t, "", e.unraisable[0].Msg, "Exception ignored in: <function ...>, as CPython's")
	require.Equal(t, cb, e.unraisable[1].Object)
	require.Equal(t, a, e.unraisable[2].Object)
	e.c.Callbacks = nil

	// The default hook prints to the debug output.
	e.c.SetUnraisableHook(nil)
	e.out.Reset()
	b := e.inst(A)
	e.drop(b)
	require.Equal(t, "Exception ignored in: <A "+hex(b)+">\npanic: boom in __del__\n", e.out.String())
	e.drop(wr, cb)

	// A Clear that panics is reported against its type, as
	// delete_garbage's _PyErr_WriteUnraisableMsg("in tp_clear of",
	// Py_TYPE(op)) does, and the collection goes on.
	holder := RegisterType(TypeSpec{Name: "Holder", Size: 8, GC: true,
		Traverse: func(o Object, visit func(Object)) {
			if x := Slot(o, 0); x != Nil {
				visit(x)
			}
		},
		Clear: func(c *Collector, o Object) {
			c.SetSlot(o, 0, Nil)
			panic("boom in tp_clear")
		},
		Dealloc: func(c *Collector, o Object) { c.SetSlot(o, 0, Nil) }})
	h := e.c.NewObject(holder)
	e.c.SetSlot(h, 0, h)
	e.drop(h)
	e.out.Reset()
	require.Equal(t, 1, e.c.Collect(2))
	require.Equal(t, "Exception ignored in tp_clear of: <class 'Holder'>\npanic: boom in tp_clear\n", e.out.String())
}

// panicInGCCallback is a named function, for TestGCCallbackPanicReport.
func panicInGCCallback(string, CallbackInfo) { panic("boom") }

type gcCallbackOwner struct{}

func (*gcCallbackOwner) onCollect(string, CallbackInfo) { panic("boom") }

// TestGCCallbackPanicReport: CPython's invoke_gc_callback reports a
// callback that raises with PyErr_WriteUnraisable(cb), against the
// callback; python3 3.11.7, for
//
//	def cb(p, i): raise ValueError("boom")
//	gc.callbacks.append(cb); gc.collect()
//
// prints, once for "start" and once for "stop",
//
//	Exception ignored in: <function cb at 0x7f5c4dd25bc0>
//	Traceback (most recent call last):
//	  File "<string>", line 3, in cb
//	ValueError: boom
//
// and the hook sees err_msg None and object cb. A Go callback is no
// object: the report has Msg "" and Object Nil, and Desc names the Go
// function in that format, with the func value's address; the default
// hook prints the panic value where CPython prints the traceback. A
// callback registered by AddCallback is named, not AddCallback's wrapper.
func TestGCCallbackPanicReport(t *testing.T) {
	closure := func(string, CallbackInfo) { panic("boom") }
	method := (&gcCallbackOwner{}).onCollect
	for _, tc := range []struct {
		name string
		cb   Callback
		add  bool // register with AddCallback, not in Callbacks directly
		desc string
		err  string
	}{
		{"function", panicInGCCallback, false, "<function gcmodule.panicInGCCallback at " + funcAddr(panicInGCCallback) + ">", "boom"},
		{"function through AddCallback", panicInGCCallback, true, "<function gcmodule.panicInGCCallback at " + funcAddr(panicInGCCallback) + ">", "boom"},
		{"closure", closure, false, "<function gcmodule.TestGCCallbackPanicReport.func1 at " + funcAddr(closure) + ">", "boom"},
		{"closure through AddCallback", closure, true, "<function gcmodule.TestGCCallbackPanicReport.func1 at " + funcAddr(closure) + ">", "boom"},
		{"method value", method, false, "<function gcmodule.(*gcCallbackOwner).onCollect at " + funcAddr(method) + ">", "boom"},
		// A None in gc.callbacks: CPython's hook gets object None and
		// prints only the traceback.
		{"nil", nil, false, "", "runtime error: invalid memory address or nil pointer dereference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.add {
				defer e.c.AddCallback(tc.cb)()
			} else {
				e.c.Callbacks = []Callback{tc.cb}
			}
			e.c.Collect(0)
			require.Len(t, e.unraisable, 2, "start and stop")
			for _, u := range e.unraisable {
				require.Equal(t, "", u.Msg)
				require.Equal(t, Nil, u.Object)
				require.Equal(t, tc.desc, u.Desc)
				require.Equal(t, tc.err, fmt.Sprint(u.Err))
			}

			e.c.SetUnraisableHook(nil) // the default prints to the debug output
			e.c.Collect(0)
			want := "panic: " + tc.err + "\n"
			if tc.desc != "" {
				want = "Exception ignored in: " + tc.desc + "\n" + want
			}
			require.Equal(t, want+want, e.out.String())
		})
	}
}

// funcAddr is the address a report shows for a Go callback: its func
// value's, as callbackID reads it.
func funcAddr(cb Callback) string { return fmt.Sprintf("%#x", callbackID(cb)) }

// TestGCCallbackPanicAfterARegistrationCalledByHand: a registration of
// AddCallback is in Callbacks, where a program may call it itself. Such a
// call, returning or panicking, leaves nothing that a later report reads:
// a plain callback that panics in the next collection, ahead of the
// registration, is reported against itself, not the registered function.
func TestGCCallbackPanicAfterARegistrationCalledByHand(t *testing.T) {
	plain := "<function gcmodule.panicInGCCallback at " + funcAddr(panicInGCCallback) + ">"
	registered := "<function gcmodule.panicInRegisteredGCCallback at " + funcAddr(panicInRegisteredGCCallback) + ">"
	for _, tc := range []struct {
		name       string
		registered Callback
		want       []string // the Desc of each report
	}{
		{"the registration returns", func(string, CallbackInfo) {}, []string{plain, plain}},
		// It panics in the collection too, and is named there.
		{"the registration panics", panicInRegisteredGCCallback, []string{plain, registered, plain, registered}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			defer e.c.AddCallback(tc.registered)()
			w := e.c.Callbacks[0]
			func() {
				defer func() { _ = recover() }() // the program's own call, not a collection's
				w("start", CallbackInfo{})
			}()
			e.c.Callbacks = []Callback{panicInGCCallback, w}
			e.c.Collect(0)
			var descs []string
			for _, u := range e.unraisable {
				descs = append(descs, u.Desc)
			}
			require.Equal(t, tc.want, descs)
		})
	}
}

// TestGCCallbackPanicAfterCallingARegistration: a plain callback that
// calls an AddCallback registration itself is reported against itself
// when it panics, whether after the registration returned or from inside
// it: the callback in the list that raised, as CPython's
// PyErr_WriteUnraisable(cb) names it (an exception from a function that
// the entry called leaves through the entry).
func TestGCCallbackPanicAfterCallingARegistration(t *testing.T) {
	for _, tc := range []struct {
		name  string
		inner Callback
	}{
		{"the registration returns, then the caller panics", func(string, CallbackInfo) {}},
		{"the registration panics inside the caller", func(string, CallbackInfo) { panic("inner") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			defer e.c.AddCallback(tc.inner)()
			w := e.c.Callbacks[0]
			caller := func(phase string, info CallbackInfo) {
				w(phase, info)
				panic("boom")
			}
			e.c.Callbacks = []Callback{caller}
			e.c.Collect(0)
			want := "<function gcmodule.TestGCCallbackPanicAfterCallingARegistration.func3.1 at " + funcAddr(caller) + ">"
			require.Len(t, e.unraisable, 2, "start and stop")
			for _, u := range e.unraisable {
				require.Equal(t, want, u.Desc)
			}
		})
	}
}

// panicInRegisteredGCCallback is a named function, for
// TestGCCallbackPanicAfterARegistrationCalledByHand.
func panicInRegisteredGCCallback(string, CallbackInfo) { panic("registered") }

// TestReportWithoutHook: the default hook's text for each combination of
// context and description; a context with no object ("in garbage
// collection", when DEBUG_SAVEALL cannot append to gc.garbage) has a line
// of its own.
func TestReportWithoutHook(t *testing.T) {
	for _, tc := range []struct {
		name, msg, desc, want string
	}{
		{"context and object", "in tp_clear of", "<class 'A'>", "Exception ignored in tp_clear of: <class 'A'>\npanic: boom\n"},
		{"object only", "", "<A 0x10>", "Exception ignored in: <A 0x10>\npanic: boom\n"},
		{"context only", "in garbage collection", "", "Exception ignored in garbage collection\npanic: boom\n"},
		{"neither", "", "", "panic: boom\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.c.SetUnraisableHook(nil)
			e.c.report(Unraisable{Err: "boom", Msg: tc.msg, Desc: tc.desc})
			require.Equal(t, tc.want, e.out.String())
		})
	}
}

// TestGetReferrers: the tracked containers of the three generations that
// refer to an object; untracked and frozen containers are not searched.
func TestGetReferrers(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	x := e.inst(plainClass)
	l := e.list(x)
	l2 := e.list(x, x)
	e.c.Collect(0) // l, l2 in generation 1
	d := e.c.NewDict()
	k := e.int(1)
	e.setitem(d, k, x)
	tu := e.c.NewTuple(x)
	other := e.list()
	require.Equal(t, []Object{d, tu, l, l2}, e.c.GetReferrers(x))
	require.Equal(t, []Object{d}, e.c.GetReferrers(k))
	require.Empty(t, e.c.GetReferrers(other))
	e.c.Untrack(tu)
	e.c.Freeze()
	require.Empty(t, e.c.GetReferrers(x))
	e.c.Unfreeze()
	require.Equal(t, []Object{d, l, l2}, e.c.GetReferrers(x))
	require.Equal(t, []Object{x, x}, e.c.GetReferents(l2))
	e.drop(x, l, l2, d, k, tu, other)
}
