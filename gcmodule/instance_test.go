package gcmodule

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Instance attributes follow CPython 3.11's shared keys. Each expected
// value below was measured with python3 3.11.7 on the equivalent script,
// quoted beside it (gc.get_referents also lists the class, which has no
// object here).

// describe names referents for comparison: ints by value, one-item lists
// as [v], other objects by type.
func (e *env) describe(objs []Object) []string {
	var s []string
	for _, o := range objs {
		switch typeOf(o).kind {
		case kindInt:
			s = append(s, fmt.Sprint(e.c.IntValue(o)))
		case kindList:
			s = append(s, fmt.Sprintf("[%d]", e.c.IntValue(e.c.ListGetItem(o, 0))))
		default:
			s = append(s, typeOf(o).name)
		}
	}
	return s
}

// boxed returns a new list holding the int v: [v].
func (e *env) boxed(v int64) Object {
	i := e.int(v)
	l := e.list(i)
	e.drop(i)
	return l
}

// namedClass is a class whose __del__ appends "del " and the instance's
// attribute n (a str) to log.
func namedClass(name string, log *[]string) Type {
	return NewClass(ClassSpec{Name: name, Finalize: func(c *Collector, self Object) {
		v, _ := c.GetAttr(self, "n")
		*log = append(*log, "del "+c.StrValue(v))
	}})
}

// setNew sets o.name to a new object and drops the caller's reference.
func (e *env) setNew(o Object, name string, v Object) {
	e.set(o, name, v)
	e.drop(v)
}

// class A: pass; x = A(); x.a = 1; x.b = 2; y = A(); y.b = [2]; y.a = [1]
// gc.get_referents(y) -> [[1], [2], A]: slots numbered by the class.
func TestInstanceAttributesInTheClassOrder(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	cls := NewClass(ClassSpec{Name: "A"})
	x, y := e.inst(cls), e.inst(cls)
	e.setNew(x, "a", e.int(1))
	e.setNew(x, "b", e.int(2))
	e.setNew(y, "b", e.boxed(2))
	e.setNew(y, "a", e.boxed(1))
	assert.Equal(t, []string{"[1]", "[2]"}, e.describe(e.c.GetReferents(y)))
	v, ok := e.c.GetAttr(y, "b")
	require.True(t, ok)
	assert.Equal(t, "[2]", e.describe([]Object{v})[0])

	// del of a name an instance never had still takes a slot:
	// c = C(); del c.zz (AttributeError); c.b = 0; c.a = 0
	// d = C(); d.a = [1]; d.b = [2]; gc.get_referents(d) -> [[2], [1], C]
	cls2 := NewClass(ClassSpec{Name: "C"})
	c, d := e.inst(cls2), e.inst(cls2)
	assert.False(t, e.c.DelAttr(c, "zz"))
	e.setNew(c, "b", e.int(0))
	e.setNew(c, "a", e.int(0))
	e.setNew(d, "a", e.boxed(1))
	e.setNew(d, "b", e.boxed(2))
	assert.Equal(t, []string{"[2]", "[1]"}, e.describe(e.c.GetReferents(d)))

	// x = E(); x.a = [1]; x.b = [2]; x.c = [3]; del x.b; x.b = [22]
	// gc.get_referents(x) -> [[1], [22], [3], E]
	z := e.inst(NewClass(ClassSpec{Name: "E"}))
	e.setNew(z, "a", e.boxed(1))
	e.setNew(z, "b", e.boxed(2))
	e.setNew(z, "c", e.boxed(3))
	assert.True(t, e.c.DelAttr(z, "b"))
	_, ok = e.c.GetAttr(z, "b")
	assert.False(t, ok)
	e.setNew(z, "b", e.boxed(22))
	assert.Equal(t, []string{"[1]", "[22]", "[3]"}, e.describe(e.c.GetReferents(z)))
	e.drop(x, y, c, d, z)
}

// class D: __del__ prints self.n. p = A(); p.a = 0; p.b = 0
// q = A(); q.b = D('b'); q.a = D('a'); del q   -> del a, del b
// q = A(); q.x = D('x'); q.b = D('b'); q.a = D('a'); del q -> del a, del b, del x
func TestInstanceReleasesAttributesInTheClassOrder(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	var log []string
	d := namedClass("D", &log)
	newD := func(n string) Object {
		o := e.inst(d)
		e.setNew(o, "n", e.c.NewStr(n))
		return o
	}
	cls := NewClass(ClassSpec{Name: "A"})
	p := e.inst(cls)
	e.setNew(p, "a", e.int(0))
	e.setNew(p, "b", e.int(0))
	q := e.inst(cls)
	e.setNew(q, "b", newD("b"))
	e.setNew(q, "a", newD("a"))
	e.drop(q)
	assert.Equal(t, []string{"del a", "del b"}, log)

	log = nil
	q = e.inst(cls)
	e.setNew(q, "x", newD("x"))
	e.setNew(q, "b", newD("b"))
	e.setNew(q, "a", newD("a"))
	e.drop(q)
	assert.Equal(t, []string{"del a", "del b", "del x"}, log)
	e.drop(p)
}

// class F: __init__ sets self.n and self.self = self; __del__ prints n.
// p = A(); p.a = 0; p.b = 0; f1, f2 = F('1'), F('2'); q = A()
// q.b = f1; q.a = f2; del f1, f2; gc.collect(0); del q; gc.collect(1)
// -> del 2, del 1, and collect returns 2
func TestInstanceFinalizerOrderFollowsTheClassOrder(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	var log []string
	f := namedClass("F", &log)
	newF := func(n string) Object {
		o := e.inst(f)
		e.setNew(o, "n", e.c.NewStr(n))
		e.set(o, "self", o)
		return o
	}
	cls := NewClass(ClassSpec{Name: "A"})
	p := e.inst(cls)
	e.setNew(p, "a", e.int(0))
	e.setNew(p, "b", e.int(0))
	f1, f2 := newF("1"), newF("2")
	q := e.inst(cls)
	e.set(q, "b", f1)
	e.set(q, "a", f2)
	e.drop(f1, f2)
	e.c.Collect(0)
	e.drop(q)
	assert.Equal(t, 2, e.c.Collect(1))
	assert.Equal(t, []string{"del 2", "del 1"}, log)
	e.drop(p)
}

// The shared keys hold 30 names, less one per instance made: past that an
// instance's attributes move to a dict of its own.
func TestInstanceMaterialisesItsDict(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	kinds := func(o Object) []string { return e.describe(e.c.GetReferents(o)) }

	// class M: pass; xs = [M() for i in range(100)]; m = xs[0]; m.x = m
	// -> get_referents(m) is [m, M]; m.y = 1 -> [dict, M]; del xs, m;
	// gc.collect() -> 2 (the instance and its dict)
	m := NewClass(ClassSpec{Name: "M"})
	var xs []Object
	for range 100 {
		xs = append(xs, e.inst(m))
	}
	x := xs[0]
	e.set(x, "x", x)
	assert.Equal(t, []string{"M"}, kinds(x), "still inline")
	e.setNew(x, "y", e.int(1))
	assert.Equal(t, []string{"dict"}, kinds(x))
	got, ok := e.c.GetAttr(x, "x")
	require.True(t, ok)
	assert.Equal(t, x, got)
	e.drop(xs...)
	assert.Equal(t, 2, e.c.Collect(2))

	// The same without the second name: one object.
	n := NewClass(ClassSpec{Name: "N"})
	xs = xs[:0]
	for range 100 {
		xs = append(xs, e.inst(n))
	}
	e.set(xs[0], "x", xs[0])
	e.drop(xs...)
	assert.Equal(t, 1, e.c.Collect(2))

	// class O: pass; o = O(); 35 setattr -> get_referents(o) is [dict, O]
	o := e.inst(NewClass(ClassSpec{Name: "O"}))
	for i := range 35 {
		e.setNew(o, fmt.Sprintf("k%d", i), e.int(int64(i)))
		want := "29 inline"
		if i >= 29 {
			want = "dict"
		}
		if i == 28 || i == 29 {
			assert.Equal(t, want == "dict", instOf(o).dict != Nil, "after %d names", i+1)
		}
	}
	assert.Equal(t, []string{"dict"}, kinds(o))
	for i := range 35 {
		v, ok := e.c.GetAttr(o, fmt.Sprintf("k%d", i))
		require.True(t, ok)
		assert.Equal(t, int64(i), e.c.IntValue(v))
	}
	assert.True(t, e.c.DelAttr(o, "k3"))
	assert.False(t, e.c.DelAttr(o, "k3"))
	e.drop(o)

	// class P: pass; ps = [P() for i in range(100)]; pp = ps[0]
	// pp.x = [1]; pp.w = [0]; get_referents(get_referents(pp)[0]) -> [[1], [0]]:
	// the dict keeps the order the instance set its names in.
	p := NewClass(ClassSpec{Name: "P"})
	xs = xs[:0]
	for range 100 {
		xs = append(xs, e.inst(p))
	}
	pp := xs[0]
	e.setNew(pp, "x", e.boxed(1))
	e.setNew(pp, "w", e.boxed(0))
	d := e.c.GetReferents(pp)
	require.Len(t, d, 1)
	assert.Equal(t, []string{"[1]", "[0]"}, e.describe(e.c.GetReferents(d[0])))
	e.drop(xs...)
}

// Making the materialised dict may start a collection, whose finalizers
// may set an attribute of the very instance being materialised: that
// nested call materialises it first, and the outer one then finds the
// dict made and goes on with it (found by the session 6 review: without
// that check, a nil dereference).
func TestInstanceMaterialisedDuringItsOwnMaterialisation(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	o := e.inst(NewClass(ClassSpec{Name: "K"}))
	for i := range 29 { // a first instance's shared keys take 29 names
		e.setNew(o, fmt.Sprintf("a%d", i), e.int(int64(i)))
	}
	ran := false
	g := NewClass(ClassSpec{Name: "G", Finalize: func(c *Collector, self Object) {
		ran = true
		n := c.NewInt(7)
		assert.NoError(t, c.SetAttr(o, "yy", n))
		c.Decref(n)
	}})
	loop := e.inst(g)
	e.set(loop, "self", loop)
	e.drop(loop)
	e.c.Enable()
	e.c.SetThreshold(1)
	e.setNew(o, "zz", e.int(99)) // the 30th name: a dict, made by an allocation that collects
	e.c.Disable()
	e.c.SetThreshold(700)
	require.True(t, ran, "the finalizer ran while the dict was being made")
	for _, name := range []string{"yy", "zz", "a3"} {
		_, ok := e.c.GetAttr(o, name)
		assert.True(t, ok, name)
	}
	e.drop(o)
	e.c.Collect(2)
}
