package gcmodule

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gopymalloc/gopymalloc/pymalloc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCloseReturnsEveryBlock: a collector that did some work, once the
// program's objects are dropped and its cycles collected, gives every
// pymalloc block back when closed: its own (Garbage, the empty tuple,
// the interned attribute names, the list heads) as well as the objects'.
func TestCloseReturnsEveryBlock(t *testing.T) {
	node := NewClass(ClassSpec{Name: "Node"})
	legacy := NewClass(ClassSpec{Name: "Legacy", Del: func(*Collector, Object) {}})
	for _, tc := range []struct {
		name string
		work func(e *env)
	}{
		{"nothing", func(e *env) {}},
		{"atoms, lists, tuples, dicts", func(e *env) {
			i, s := e.int(1), e.c.NewStr("s")
			l := e.list(i, s)
			tup, empty := e.c.NewTuple(i, l), e.c.NewTuple()
			d := e.c.NewDict()
			e.setitem(d, s, tup)
			e.drop(i, s, l, tup, empty, d)
		}},
		{"instances with attributes, a materialised dict", func(e *env) {
			a, b := e.inst(node), e.inst(node)
			e.set(a, "next", b)
			for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o",
				"p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "A", "B", "C", "D", "E"} {
				e.set(b, name, a) // 31 names: b's attributes move to a dict
			}
			e.drop(a, b)
			require.Equal(e.t, 3, e.c.Collect(2)) // a, b, b's dict
		}},
		{"cycles, weakrefs, callbacks, freeze", func(e *env) {
			remove := e.c.AddCallback(func(string, CallbackInfo) {})
			a := e.inst(node)
			e.set(a, "self", a)
			cb := e.callable(func(Object) {})
			w := e.c.NewWeakref(a, cb)
			e.drop(cb)
			e.c.Freeze()
			e.c.Unfreeze()
			e.drop(a)
			require.Equal(e.t, 1, e.c.Collect(2)) // a; the callback lives as long as w
			e.drop(w)
			remove()
		}},
		{"uncollectable garbage, emptied", func(e *env) {
			a := e.inst(legacy)
			e.set(a, "self", a)
			e.drop(a)
			require.Equal(e.t, 1, e.c.Collect(2))
			a = e.c.ListPop(e.c.Garbage(), 0)
			e.c.DelAttr(a, "self")
			e.drop(a)
		}},
		{"automatic collections", func(e *env) {
			e.c.Enable()
			for range 5000 {
				l := e.list()
				e.append(l, l)
				e.drop(l)
			}
			e.c.Collect(2)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := pymalloc.AllocatedBlocks()
			e := newEnv(t)
			tc.work(e)
			require.NoError(t, e.c.Close())
			assert.Equal(t, base, pymalloc.AllocatedBlocks(), "pymalloc blocks in use")
		})
	}
}

// TestCloseManyCollectors is the audit's case: 1000 collectors made and
// dropped kept 3000 blocks for good; closed, they keep none.
func TestCloseManyCollectors(t *testing.T) {
	base := pymalloc.AllocatedBlocks()
	for range 1000 {
		require.NoError(t, NewCollector().Close())
	}
	require.Equal(t, base, pymalloc.AllocatedBlocks())
}

// TestCloseRefuses: while anything the collector allocated is alive, or
// a reference to its own objects is held, Close refuses, says what is
// left, and leaves the collector as it was; once that is dropped it
// closes.
func TestCloseRefuses(t *testing.T) {
	legacy := NewClass(ClassSpec{Name: "Legacy", Del: func(*Collector, Object) {}})
	for _, tc := range []struct {
		name string
		// keep makes what stops Close and returns what drops it.
		keep func(e *env) (drop func())
		want string
	}{
		{"an int", func(e *env) func() {
			i := e.int(1)
			return func() { e.drop(i) }
		}, "gcmodule: Close: 1 objects are still live (0 tracked, 0 of them frozen; 0 in Garbage): drop them, and Collect(2) if they are in cycles, before closing"},
		{"a list holding an int", func(e *env) func() {
			i := e.int(1)
			l := e.list(i)
			e.drop(i)
			return func() { e.drop(l) }
		}, "gcmodule: Close: 2 objects are still live (1 tracked, 0 of them frozen; 0 in Garbage): drop them, and Collect(2) if they are in cycles, before closing"},
		{"a cycle not yet collected", func(e *env) func() {
			l := e.list()
			e.append(l, l)
			e.drop(l)
			return func() { e.c.Collect(2) }
		}, "gcmodule: Close: 1 objects are still live (1 tracked, 0 of them frozen; 0 in Garbage): drop them, and Collect(2) if they are in cycles, before closing"},
		{"frozen", func(e *env) func() {
			l := e.list()
			e.c.Freeze()
			return func() { e.drop(l) }
		}, "gcmodule: Close: 1 objects are still live (1 tracked, 1 of them frozen; 0 in Garbage): drop them, and Collect(2) if they are in cycles, before closing"},
		{"in Garbage", func(e *env) func() {
			a := e.inst(legacy)
			e.set(a, "self", a)
			e.drop(a)
			e.c.Collect(2)
			return func() {
				a := e.c.ListPop(e.c.Garbage(), 0)
				e.c.DelAttr(a, "self")
				e.drop(a)
			}
		}, "gcmodule: Close: 1 objects are still live (1 tracked, 0 of them frozen; 1 in Garbage): drop them, and Collect(2) if they are in cycles, before closing"},
		{"the empty tuple", func(e *env) func() {
			empty := e.c.NewTuple()
			return func() { e.drop(empty) }
		}, "gcmodule: Close: 1 references to the collector's own objects (NewTuple()'s empty tuple, Garbage, the interned attribute names) are still held"},
		{"Garbage", func(e *env) func() {
			e.c.Incref(e.c.Garbage())
			return func() { e.drop(e.c.Garbage()) }
		}, "gcmodule: Close: 1 references to the collector's own objects (NewTuple()'s empty tuple, Garbage, the interned attribute names) are still held"},
		{"a collection in progress", func(e *env) func() {
			var err error
			remove := e.c.AddCallback(func(string, CallbackInfo) { err = e.c.Close() })
			e.c.Collect(0)
			remove()
			require.EqualError(e.t, err, "gcmodule: Close: called during a collection or a deallocation")
			return func() {}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := pymalloc.AllocatedBlocks()
			e := newEnv(t)
			drop := tc.keep(e)
			if tc.want != "" {
				require.EqualError(t, e.c.Close(), tc.want)
			}
			// Refused, the collector works as before.
			l := e.list()
			require.True(t, e.c.IsTracked(l))
			e.drop(l)
			drop()
			require.NoError(t, e.c.Close())
			require.Equal(t, base, pymalloc.AllocatedBlocks(), "pymalloc blocks in use")
		})
	}
	require.EqualError(t, Default.Close(),
		"gcmodule: Close: Default is never closed: the package-level functions use it for the life of the program")
	Collect(0) // Default still works
}

// TestClosedCollectorPanics: after Close every method of Collector
// (collectorMethods) panics with a *UsageError naming it, whatever its
// arguments (here zero values, and a handle from before Close); a second
// Close returns the same error.
func TestClosedCollectorPanics(t *testing.T) {
	c := NewCollector()
	l := c.NewList()
	c.Decref(l)
	remove := c.AddCallback(func(string, CallbackInfo) {})
	remove()
	require.NoError(t, c.Close())
	requireUsage(t, "gcmodule: ListLen: use of a closed Collector", func() { c.ListLen(l) })
	requireUsage(t, "gcmodule: Incref: use of a closed Collector", func() { c.Incref(Nil) })
	requireUsage(t, "gcmodule: AddCallback's remove: use of a closed Collector", remove)
	err := c.Close()
	require.IsType(t, &UsageError{}, err)
	require.EqualError(t, err, "gcmodule: Close: use of a closed Collector")

	for _, m := range collectorMethods(c) {
		for _, h := range []Object{Nil, l} {
			t.Run(fmt.Sprintf("%s/handle=%v", m.name, h != Nil), func(t *testing.T) {
				requireUsage(t, "gcmodule: "+m.name+": use of a closed Collector", func() { m.call(h) })
			})
		}
	}
}

// collectorMethod is one method of a Collector, found by reflection.
type collectorMethod struct {
	name string
	// call calls the method with zero arguments, except that it passes h,
	// when h is not Nil, wherever the method takes an Object (as the
	// variadic argument too).
	call func(h Object)
}

// collectorMethods returns every method of c but Close, found by
// reflection so that a method added later is not left out of the tests
// that walk them all.
func collectorMethods(c *Collector) []collectorMethod {
	objType := reflect.TypeOf(Nil)
	v := reflect.ValueOf(c)
	var out []collectorMethod
	for i := range v.NumMethod() {
		m, name := v.Method(i), v.Type().Method(i).Name
		if name == "Close" {
			continue
		}
		out = append(out, collectorMethod{name, func(h Object) {
			mt := m.Type()
			var args []reflect.Value
			for j := range mt.NumIn() {
				in := mt.In(j)
				if mt.IsVariadic() && j == mt.NumIn()-1 {
					if h != Nil && in.Elem() == objType {
						args = append(args, reflect.ValueOf(h))
					}
					break
				}
				if h != Nil && in == objType {
					args = append(args, reflect.ValueOf(h))
				} else {
					args = append(args, reflect.Zero(in))
				}
			}
			m.Call(args)
		}})
	}
	return out
}

// Close refuses, and changes nothing, when it cannot trust what it would
// free (found by the session 7 review): a collector whose collection
// panicked (it said "during a collection", for good), and one whose
// interned attribute name a Decref too many freed (it counted the live
// objects as zero with an int still alive, then freed the name again and
// stopped half-way).
func TestCloseRefusesWhatItCannotTrust(t *testing.T) {
	t.Run("broken collection", func(t *testing.T) {
		boom := true
		typ := RegisterType(TypeSpec{Name: "BoomOnClose", GC: true, Traverse: func(o Object, visit func(Object)) {
			if boom {
				panic("traverse bug")
			}
		}})
		c := NewCollector()
		c.Disable()
		c.NewObject(typ)
		assert.Panics(t, func() { c.Collect(2) })
		boom = false
		assert.ErrorContains(t, c.Close(), "the collector is unusable (a collection of generation 2 panicked")
	})
	t.Run("own object freed", func(t *testing.T) {
		c := NewCollector()
		c.Disable()
		cls := NewClass(ClassSpec{Name: "ManyNames"})
		a := c.NewInstance(cls)
		one := c.NewInt(1)
		for i := range 31 { // more names than the shared keys hold: a real __dict__
			require.NoError(t, c.SetAttr(a, fmt.Sprintf("n%d", i), one))
		}
		d := c.GetReferents(a)[0]
		_, k, _, ok := c.DictNext(d, 0)
		require.True(t, ok)
		c.Decref(k) // misuse: a borrowed key dropped
		c.Decref(a) // the dict goes, and the name with it
		err := c.Close()
		assert.ErrorContains(t, err, "was freed by a Decref it did not own")
		assert.False(t, c.closed, "nothing changed")
		assert.Equal(t, int64(1), c.IntValue(one), "the collector still works")
	})
}

// TestBrokenCollectorRefusesEveryCall: after a collection panicked half-way
// (here a Traverse that panics), the collector's lists are in whatever
// state the collection left them. Decref of a tracked object used to
// untrack it through those links and crash with a nil dereference; every
// call now panics with a *UsageError naming the call, the object and why,
// and Close refuses (TestCloseRefusesWhatItCannotTrust).
func TestBrokenCollectorRefusesEveryCall(t *testing.T) {
	boom := true
	typ := RegisterType(TypeSpec{Name: "BoomInTraverse", GC: true, Traverse: func(o Object, visit func(Object)) {
		if boom {
			panic("traverse bug")
		}
	}})
	c := NewCollector()
	c.Disable()
	l := c.NewList()
	obj := c.NewObject(typ)
	i := c.NewInt(7)
	remove := c.AddCallback(func(string, CallbackInfo) {})
	require.PanicsWithValue(t, "traverse bug", func() { c.Collect(2) })
	boom = false

	const why = "the collector is unusable: a collection of generation 2 panicked"
	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"Decref of a tracked list", func() { c.Decref(l) }, "gcmodule: Decref(" + hex(l) + "): " + why},
		{"Decref of the object whose traverse panicked", func() { c.Decref(obj) }, "gcmodule: Decref(" + hex(obj) + "): " + why},
		{"Decref of an int", func() { c.Decref(i) }, "gcmodule: Decref(" + hex(i) + "): " + why},
		{"Incref", func() { c.Incref(l) }, "gcmodule: Incref(" + hex(l) + "): " + why},
		{"ListAppend", func() { c.ListAppend(l, i) }, "gcmodule: ListAppend(" + hex(l) + "): " + why},
		{"NewList", func() { c.NewList() }, "gcmodule: NewList: " + why},
		{"NewWeakref", func() { c.NewWeakref(l, Nil) }, "gcmodule: NewWeakref(" + hex(l) + "): " + why},
		{"Collect", func() { c.Collect(0) }, "gcmodule: Collect: " + why},
		{"GetObjects", func() { c.GetObjects(-1) }, "gcmodule: GetObjects: " + why},
		{"AddCallback's remove", func() { remove() }, "gcmodule: AddCallback's remove: " + why},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireUsage(t, tc.want, tc.f)
		})
	}
	assert.ErrorContains(t, c.Close(), "the collector is unusable (a collection of generation 2 panicked")
	// Every method, with zero arguments and with a handle from before the
	// panic wherever it takes an object: none may reach the half-collected
	// lists.
	for _, m := range collectorMethods(c) {
		for _, h := range []Object{Nil, l} {
			t.Run(fmt.Sprintf("%s/handle=%v", m.name, h != Nil), func(t *testing.T) {
				var r any
				func() {
					defer func() { r = recover() }()
					m.call(h)
				}()
				u, ok := r.(*UsageError)
				require.True(t, ok, "want a *UsageError, got %T: %v", r, r)
				assert.Equal(t, m.name, u.Call)
				assert.Contains(t, u.Error(), why)
			})
		}
	}

	// The package-level functions, on a Default left broken: all of them,
	// as defaultFuncs reads them from the source. Callbacks refuses too,
	// although it reaches no list: a broken collector refuses every call.
	saved := Default
	Default = c
	t.Cleanup(func() { Default = saved })
	pkgFuncs := []struct {
		name string
		f    func()
	}{
		{"Collect", func() { Collect(0) }},
		{"Enable", func() { Enable() }},
		{"Disable", func() { Disable() }},
		{"IsEnabled", func() { IsEnabled() }},
		{"GetCount", func() { GetCount() }},
		{"GetThreshold", func() { GetThreshold() }},
		{"SetThreshold", func() { SetThreshold(700) }},
		{"SetDebug", func() { SetDebug(0) }},
		{"GetDebug", func() { GetDebug() }},
		{"GetStats", func() { GetStats() }},
		{"GetObjects", func() { GetObjects(AllGenerations) }},
		{"GetReferrers", func() { GetReferrers(l) }},
		{"GetReferents", func() { GetReferents(l) }},
		{"IsTracked", func() { IsTracked(l) }},
		{"IsFinalized", func() { IsFinalized(l) }},
		{"Freeze", func() { Freeze() }},
		{"Unfreeze", func() { Unfreeze() }},
		{"GetFreezeCount", func() { GetFreezeCount() }},
		{"Garbage", func() { Garbage() }},
		{"AddCallback", func() { AddCallback(func(string, CallbackInfo) {}) }},
		{"Callbacks", func() { Callbacks() }},
		{"Incref", func() { Incref(l) }},
		{"Decref", func() { Decref(l) }},
		{"ObjectTraceback", func() { ObjectTraceback(l) }},
	}
	var names []string
	for _, tc := range pkgFuncs {
		names = append(names, tc.name)
	}
	require.ElementsMatch(t, defaultFuncs(t), names, "every package-level function on Default is tried")
	for _, tc := range pkgFuncs {
		t.Run("package "+tc.name, func(t *testing.T) {
			var r any
			func() {
				defer func() { r = recover() }()
				tc.f()
			}()
			u, ok := r.(*UsageError)
			require.True(t, ok, "want a *UsageError, got %T: %v", r, r)
			assert.Equal(t, tc.name, u.Call)
			assert.Contains(t, u.Error(), why)
		})
	}
}

// defaultFuncs returns the package's exported functions that use Default,
// read from its source files, so that one added later cannot be left out
// of TestBrokenCollectorRefusesEveryCall.
func defaultFuncs(t *testing.T) []string {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	seen := map[string]bool{}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !fn.Name.IsExported() || fn.Body == nil || seen[fn.Name.Name] {
				continue
			}
			usesDefault := false
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && id.Name == "Default" {
					usesDefault = true
				}
				return !usesDefault
			})
			if usesDefault {
				seen[fn.Name.Name] = true
				out = append(out, fn.Name.Name)
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}
