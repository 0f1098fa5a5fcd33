package gcmodule

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// Object-level behaviour that no older test pinned down, each compared
// with CPython 3.11.7 where CPython has the same behaviour.

// TestTrackedDuringDel: __del__ run by the last Decref sees its object
// tracked (subtype_dealloc tracks it again around tp_finalize), so an
// object it resurrects is tracked and a cycle through it is found later.
// CPython: gc.is_tracked(self) in __del__ is True.
func TestTrackedDuringDel(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	var tracked []bool
	var saved Object
	D := NewClass(ClassSpec{Name: "D", Finalize: func(c *Collector, self Object) {
		tracked = append(tracked, c.IsTracked(self))
		c.Incref(self)
		saved = self
	}})
	e.drop(e.inst(D))
	require.Equal(t, []bool{true}, tracked)
	require.True(t, e.c.IsTracked(saved))
	e.set(saved, "me", saved)
	e.drop(saved)
	require.Equal(t, 1, e.c.Collect(2), "the resurrected object's cycle")
}

// TestFreeingContainersLowersCount0: every container freed takes one
// off generation 0's count, instances and weakrefs included. CPython:
// clearing a list of ten instances, or of ten weakrefs with callbacks,
// lowers gc.get_count()[0] by ten.
func TestFreeingContainersLowersCount0(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	a := e.inst(plainClass)
	cb := e.callable(func(Object) {})
	for _, make := range []func() Object{
		func() Object { return e.inst(plainClass) },
		func() Object { return e.c.NewWeakref(a, cb) },
	} {
		l := e.list()
		for i := 0; i < 10; i++ {
			x := make()
			e.append(l, x)
			e.drop(x)
		}
		before := counts(e.c)[0]
		e.c.ListClear(l)
		require.Equal(t, before-10, counts(e.c)[0])
		e.drop(l)
	}
	e.drop(a, cb)
}

// TestNonContainerLegacyFinalizer: a type without GC runs its legacy
// finalizer on each deallocation, and can resurrect the object from it.
func TestNonContainerLegacyFinalizer(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	calls := 0
	resurrect := true
	typ := RegisterType(TypeSpec{Name: "Atom", Del: func(c *Collector, self Object) {
		calls++
		if resurrect {
			resurrect = false
			c.Incref(self)
		}
	}})
	o := e.c.NewObject(typ)
	e.drop(o)
	require.Equal(t, 1, calls)
	require.True(t, e.alive(o), "resurrected by its legacy finalizer")
	e.drop(o)
	require.Equal(t, 2, calls)
	require.False(t, e.alive(o))
}

// TestTupleWithNilItemStaysTracked: a tuple holding Nil is still being
// built, so collections leave it tracked (_PyTuple_MaybeUntrack); once it
// holds atoms only, it is untracked.
func TestTupleWithNilItemStaysTracked(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	one := e.int(1)
	partial, full := e.c.NewTuple(one, Nil), e.c.NewTuple(one, one)
	e.c.Collect(0)
	require.True(t, e.c.IsTracked(partial))
	require.False(t, e.c.IsTracked(full))
	e.drop(partial, full, one)
}

// TestTupleOfUntrackedTupleIsUntracked: a tuple holding a tuple that an
// earlier collection untracked holds nothing that may be tracked, so the
// next collection untracks it, even when no other tuple is in sight.
// CPython: i = tuple([1]); gc.collect(); o = (i,); gc.collect(0);
// gc.is_tracked(o) is False.
func TestTupleOfUntrackedTupleIsUntracked(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	one := e.int(1)
	inner := e.c.NewTuple(one)
	e.c.Collect(2)
	require.False(t, e.c.IsTracked(inner))
	outer := e.c.NewTuple(inner)
	require.True(t, e.c.IsTracked(outer))
	e.c.Collect(0)
	require.False(t, e.c.IsTracked(outer))
	e.drop(outer, inner, one)
}

// TestGetReferrersOfSeveralObjects: GetReferrers(a, b) finds what refers
// to either. CPython: gc.get_referrers(p, q) holds [p], [q] and [p, q].
func TestGetReferrersOfSeveralObjects(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	p, q := e.inst(plainClass), e.inst(plainClass)
	lp, lq, lpq := e.list(p), e.list(q), e.list(p, q)
	require.ElementsMatch(t, []Object{lp, lq, lpq}, e.c.GetReferrers(p, q))
	require.ElementsMatch(t, []Object{lp, lpq}, e.c.GetReferrers(p))
	e.drop(lp, lq, lpq, p, q)
}

// TestFreezeTakesEveryGeneration: Freeze moves generation 2 too, and
// Unfreeze puts everything in generation 2. CPython: x in
// gc.get_objects(2) before gc.freeze(), not after.
func TestFreezeTakesEveryGeneration(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	x := e.list()
	e.c.Collect(2)
	y := e.list()
	e.c.Collect(0)
	z := e.list()
	require.Equal(t, []int{2, 1, 0}, []int{e.generationOf(x), e.generationOf(y), e.generationOf(z)})
	e.c.Freeze()
	require.Empty(t, e.c.GetObjects(AllGenerations))
	require.Equal(t, 4, e.c.GetFreezeCount(), "x, y, z and Garbage")
	e.c.Unfreeze()
	require.Equal(t, []int{2, 2, 2}, []int{e.generationOf(x), e.generationOf(y), e.generationOf(z)})
	e.drop(x, y, z)
}

// TestReplacedItemFinalizerSeesTheNewItem: storing over a dict value, a
// list item or an attribute puts the new object in place before the old
// one is released, so the old one's __del__ finds the new one there.
// CPython: d['k'] = new, l[0] = new, o.a = new; each __del__ sees new.
func TestReplacedItemFinalizerSeesTheNewItem(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	var seen []Object
	var get func() Object
	F := NewClass(ClassSpec{Name: "F", Finalize: func(*Collector, Object) { seen = append(seen, get()) }})
	k := e.c.NewStr("k")
	d, l, o := e.c.NewDict(), e.list(k), e.inst(plainClass)
	for _, tc := range []struct {
		name string
		put  func(x Object)
		get  func() Object
	}{
		{"dict value", func(x Object) { e.setitem(d, k, x) }, func() Object { v, _ := e.c.DictGetItem(d, k); return v }},
		{"list item", func(x Object) { e.c.ListSetItem(l, 0, x) }, func() Object { return e.c.ListGetItem(l, 0) }},
		{"attribute", func(x Object) { e.set(o, "a", x) }, func() Object { return e.get(o, "a") }},
	} {
		seen, get = nil, tc.get
		old, new := e.inst(F), e.inst(plainClass)
		tc.put(old)
		e.drop(old)
		tc.put(new)
		require.Equal(t, []Object{new}, seen, tc.name)
		e.drop(new)
	}
	e.drop(d, l, o, k)
}

// TestClearedContainerLooksEmptyToFinalizers: dict.clear() and
// list.clear() empty the container before releasing what it held, so a
// __del__ run meanwhile finds it empty. CPython: len(d) and len(l) are
// 0 in each __del__, for two and three items.
func TestClearedContainerLooksEmptyToFinalizers(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	var lens []int
	var length func() int
	F := NewClass(ClassSpec{Name: "F", Finalize: func(*Collector, Object) { lens = append(lens, length()) }})
	for _, n := range []int{2, 3} {
		d, l := e.c.NewDict(), e.list()
		for i := 0; i < n; i++ {
			k, x, y := e.int(int64(i)), e.inst(F), e.inst(F)
			e.setitem(d, k, x)
			e.append(l, y)
			e.drop(k, x, y)
		}
		lens, length = nil, func() int { return e.c.DictLen(d) }
		e.c.DictClear(d)
		require.Equal(t, make([]int, n), lens, "dict of %d", n)
		lens, length = nil, func() int { return e.c.ListLen(l) }
		e.c.ListClear(l)
		require.Equal(t, make([]int, n), lens, "list of %d", n)
		e.drop(d, l)
	}
}

// TestDictNextSkipsDeletedEntries: PyDict_Next steps over the entries
// del d[k] left behind.
func TestDictNextSkipsDeletedEntries(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	d := e.c.NewDict()
	var keys []Object
	for i := 0; i < 4; i++ {
		k := e.int(int64(i))
		e.setitem(d, k, k)
		keys = append(keys, k)
	}
	require.True(t, e.c.DictDelItem(d, keys[0]))
	require.True(t, e.c.DictDelItem(d, keys[2]))
	var got []Object
	for pos, k, _, ok := e.c.DictNext(d, 0); ok; pos, k, _, ok = e.c.DictNext(d, pos) {
		got = append(got, k)
	}
	require.Equal(t, []Object{keys[1], keys[3]}, got)
	e.drop(d)
	e.drop(keys...)
}

// TestWeakrefsDeadAfterTheirReferent: once an object with several
// callback weakrefs dies, none of them points at it, nor at an object
// made afterwards in its block.
func TestWeakrefsDeadAfterTheirReferent(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	calls := 0
	cb := e.callable(func(Object) { calls++ })
	o := e.inst(plainClass)
	refs := []Object{e.c.NewWeakref(o, cb), e.c.NewWeakref(o, cb), e.c.NewWeakref(o, cb)}
	e.drop(o)
	require.Equal(t, 3, calls)
	var reuse []Object
	for i := 0; i < 4; i++ {
		reuse = append(reuse, e.inst(plainClass))
	}
	if !pymalloc.DebugHooksInstalled() {
		// pymalloc hands out the last block freed first (the debug
		// hooks hold it back): the new instance must have no weakref.
		require.Contains(t, reuse, o, "an instance reuses the block")
		require.Zero(t, e.c.GetWeakrefCount(o))
	}
	for _, wr := range refs {
		require.Equal(t, Nil, e.c.WeakrefGet(wr))
	}
	e.drop(refs...)
	e.drop(reuse...)
	e.drop(cb)
}
