package gcmodule

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Collection passes whose effects no older test pinned down, each
// compared with CPython 3.11.7 running the same objects (the legacy
// finalizers through _testcapi.with_tp_del).

// slotType is a container type with one object slot (Slot(o, 0)) and a
// tp_clear; legacy and call add a legacy finalizer or tp_call. Its
// objects are not weakly referenceable, so a garbage cycle of them gives
// handle_weakrefs nothing to do.
func slotType(name string, legacy func(*Collector, Object), call func(*Collector, Object, Object)) Type {
	return RegisterType(TypeSpec{Name: name, Size: 8, GC: true,
		Traverse: func(o Object, visit func(Object)) { visit(Slot(o, 0)) },
		Clear:    func(c *Collector, o Object) { c.SetSlot(o, 0, Nil) },
		Del:      legacy,
		Call:     call,
	})
}

// generationOf returns the generation whose list holds o, or -1.
func (e *env) generationOf(o Object) int {
	for g := 0; g < NumGenerations; g++ {
		for _, x := range e.c.GetObjects(g) {
			if x == o {
				return g
			}
		}
	}
	return -1
}

// TestWeakrefInGarbageToAnOlderObject: the garbage holds a weakref with
// a callback, and the only reference to its referent, an object of an
// older generation. tp_clear frees the referent; the weakref, being
// garbage, must have been cleared first, so its callback never runs.
// With a legacy-finalizer cycle beside it the count is one more and that
// cycle goes to Garbage. CPython: l = [ref(t, cb), t]; l.append(l);
// collect(0) returns 2 (3 with the lambda, which is garbage there too)
// and calls nothing.
func TestWeakrefInGarbageToAnOlderObject(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy cycle %v", legacy), func(t *testing.T) { weakrefInGarbageToAnOlderObject(t, legacy) })
	}
}

func weakrefInGarbageToAnOlderObject(t *testing.T, legacy bool) {
	e := newEnv(t)
	e.noLeak()
	calls := 0
	cbType := slotType("cb", nil, func(*Collector, Object, Object) { calls++ })
	legType := slotType("Leg", func(*Collector, Object) {}, nil)
	cb := e.c.NewObject(cbType)
	target := e.inst(plainClass)
	e.c.Collect(2) // target is in generation 2 now
	l := e.list()
	wr := e.c.NewWeakref(target, cb)
	e.append(l, wr)
	e.append(l, target)
	e.append(l, l)
	e.drop(wr, target, l)
	want := 2
	if legacy {
		g := e.c.NewObject(legType)
		e.c.SetSlot(g, 0, g)
		e.drop(g)
		want = 3
	}
	require.Equal(t, want, e.c.Collect(0), "legacy cycle: %v", legacy)
	require.Zero(t, calls, "the callback of a weakref in the garbage ran (legacy cycle: %v)", legacy)
	if legacy {
		g := e.garbage()
		require.Len(t, g, 1)
		e.c.SetSlot(g[0], 0, Nil)
		e.c.ListClear(e.c.Garbage())
	}
	e.drop(cb)
}

// TestFinalizerBesideLegacyCycle: a cycle with __del__ next to a cycle
// with a legacy finalizer is finalized before any tp_clear, and
// collected; only the legacy one goes to Garbage. CPython: collect()
// returns 2, __del__ sees self.me is self, one object in gc.garbage.
func TestFinalizerBesideLegacyCycle(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	var log []string
	D := RegisterType(TypeSpec{Name: "D", Size: 8, GC: true,
		Traverse: func(o Object, visit func(Object)) { visit(Slot(o, 0)) },
		Clear:    func(c *Collector, o Object) { c.SetSlot(o, 0, Nil) },
		Finalize: func(_ *Collector, self Object) {
			log = append(log, fmt.Sprint("del, intact: ", Slot(self, 0) == self))
		},
	})
	d := e.c.NewObject(D)
	e.c.SetSlot(d, 0, d)
	g := e.c.NewObject(slotType("Leg", func(*Collector, Object) {}, nil))
	e.c.SetSlot(g, 0, g)
	e.drop(d, g)
	require.Equal(t, 2, e.c.Collect(2))
	require.Equal(t, []string{"del, intact: true"}, log)
	require.Equal(t, []Object{g}, e.garbage())
	e.c.SetSlot(g, 0, Nil)
	e.c.ListClear(e.c.Garbage())
}

// TestSaveAllKeepsWhatLegacyFinalizersReach: under DEBUG_SAVEALL
// gc.garbage gets the legacy-finalizer object and what it reaches;
// without it, only the former. CPython: g = Leg(); g.me = g;
// g.l = [1]; collect() returns 2 both times; garbage types are
// ['Leg', 'list'], then ['Leg'].
func TestSaveAllKeepsWhatLegacyFinalizersReach(t *testing.T) {
	for _, saveAll := range []bool{true, false} {
		t.Run(fmt.Sprintf("DEBUG_SAVEALL %v", saveAll), func(t *testing.T) { saveAllKeepsWhatLegacyFinalizersReach(t, saveAll) })
	}
}

func saveAllKeepsWhatLegacyFinalizersReach(t *testing.T, saveAll bool) {
	e := newEnv(t)
	e.noLeak()
	if saveAll {
		e.c.SetDebug(DebugSaveAll)
	}
	Leg := NewClass(ClassSpec{Name: "Leg", Del: func(*Collector, Object) {}})
	g := e.inst(Leg)
	e.set(g, "me", g)
	one := e.int(1)
	l := e.list(one)
	e.set(g, "l", l)
	e.drop(one, l, g)
	require.Equal(t, 2, e.c.Collect(2))
	want := []Object{g}
	if saveAll {
		want = []Object{g, l}
	}
	require.ElementsMatch(t, want, e.garbage(), "DEBUG_SAVEALL: %v", saveAll)
	e.c.SetDebug(0)
	e.c.DelAttr(g, "me")
	e.c.ListClear(e.c.Garbage())
}

// TestCollectionSurvivorsGoToTheNextGeneration: after collect(0), what
// the collection did not free is in generation 1 wherever it came from:
// a weakref whose callback ran, an object a finalizer resurrected, an
// object with a legacy finalizer put in gc.garbage. CPython 3.11.7 finds
// each in gc.get_objects(1) and not in gc.get_objects(0).
func TestCollectionSurvivorsGoToTheNextGeneration(t *testing.T) {
	for _, tc := range []struct {
		name string
		// build makes the garbage and returns the object that survives
		// it, and a function that lets it go.
		build func(e *env) (Object, func())
		want  int // what collect(0) returns
	}{
		{"weakref whose callback ran", func(e *env) (Object, func()) {
			a := e.inst(plainClass)
			e.set(a, "me", a)
			cb := e.callable(func(Object) {})
			wr := e.c.NewWeakref(a, cb)
			e.drop(a)
			return wr, func() { e.drop(wr, cb) }
		}, 1},
		{"resurrected by __del__", func(e *env) (Object, func()) {
			var saved Object
			R := NewClass(ClassSpec{Name: "R", Finalize: func(c *Collector, self Object) {
				c.Incref(self)
				saved = self
			}})
			r := e.inst(R)
			e.set(r, "me", r)
			e.drop(r)
			return r, func() {
				e.c.DelAttr(saved, "me")
				e.drop(saved)
			}
		}, 0},
		{"legacy finalizer, in Garbage", func(e *env) (Object, func()) {
			L := NewClass(ClassSpec{Name: "L", Del: func(*Collector, Object) {}})
			l := e.inst(L)
			e.set(l, "me", l)
			e.drop(l)
			return l, func() {
				e.c.DelAttr(l, "me")
				e.c.ListClear(e.c.Garbage())
			}
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.noLeak()
			o, release := tc.build(e)
			require.Equal(t, tc.want, e.c.Collect(0))
			require.Equal(t, 1, e.generationOf(o))
			release()
			e.c.Collect(2)
		})
	}
}

// TestFullCollectionWithFrozenReferents: a full collection with frozen
// objects leaves them alone, also those that young objects refer to (a
// live list and a garbage cycle here): no collection flag, no gc_refs in
// their links. They can die by reference counting while frozen, which
// unlinks them from the frozen list.
func TestFullCollectionWithFrozenReferents(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	x, y := e.list(), e.list()
	e.c.Freeze()
	frozen := e.c.GetFreezeCount()
	live := e.list(x)
	cyc := e.list(y)
	e.append(cyc, cyc)
	e.drop(cyc)
	require.Equal(t, 1, e.c.Collect(2))
	require.Equal(t, frozen, e.c.GetFreezeCount())
	require.Equal(t, []Object{live}, e.c.GetObjects(2))
	require.Equal(t, 2, e.c.Refcount(x))
	require.Equal(t, 1, e.c.Refcount(y))
	for _, o := range []Object{x, y} {
		require.False(t, gcIsCollecting(asGC(o)), "a frozen object is left marked as being collected")
	}
	e.drop(live, x, y)
	require.Equal(t, frozen-2, e.c.GetFreezeCount())
	e.c.Unfreeze()
	require.Equal(t, []Object{e.c.Garbage()}, e.c.GetObjects(AllGenerations))
	require.Equal(t, 0, e.c.Collect(2))
}

// TestTpClearDetachesAttributesBeforeReleasing: tp_clear of a garbage
// instance empties each attribute before releasing its value, so a
// __del__ that the release runs and that reaches the instance (through a
// weakref its own __del__ made) finds the attribute gone. CPython: x in
// generation 2, a = A(); a.x = x; a.me = a; collect(0) returns 1 and
// X.__del__ sees the instance alive without x.
func TestTpClearDetachesAttributesBeforeReleasing(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	var wrs []Object
	var seen []string
	X := NewClass(ClassSpec{Name: "X", Finalize: func(c *Collector, _ Object) {
		a := c.WeakrefGet(wrs[0])
		_, has := c.GetAttr(a, "x")
		seen = append(seen, fmt.Sprint("alive ", a != Nil, ", has x ", has))
	}})
	A := NewClass(ClassSpec{Name: "A", Finalize: func(c *Collector, self Object) {
		wrs = append(wrs, c.NewWeakref(self, Nil))
	}})
	x := e.inst(X)
	e.c.Collect(2)
	a := e.inst(A)
	e.set(a, "x", x)
	e.set(a, "me", a)
	e.drop(x, a)
	require.Equal(t, 1, e.c.Collect(0))
	require.Equal(t, []string{"alive true, has x false"}, seen)
	require.Equal(t, Nil, e.c.WeakrefGet(wrs[0]))
	e.drop(wrs...)
}
