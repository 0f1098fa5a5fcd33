package gcmodule

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/gopymalloc/gopymalloc/pymalloc"
	"github.com/stretchr/testify/require"
)

// env is a fresh collector for one test, set up as test_gc.py's
// setUpModule leaves the interpreter: automatic collection disabled, no
// debug flags, nothing pending. Debug output and unraisable panics are
// captured.
type env struct {
	t          *testing.T
	c          *Collector
	out        bytes.Buffer
	unraisable []Unraisable
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, c: NewCollector()}
	e.c.Disable()
	e.c.SetOutput(&e.out)
	e.c.SetUnraisableHook(func(u Unraisable) { e.unraisable = append(e.unraisable, u) })
	require.Equal(t, 0, e.c.Collect(2))
	return e
}

// list makes a list and returns it (owned).
func (e *env) list(items ...Object) Object {
	l := e.c.NewList(items...)
	require.NotEqual(e.t, Nil, l)
	return l
}

func (e *env) append(l, x Object) { require.NoError(e.t, e.c.ListAppend(l, x)) }

func (e *env) set(o Object, name string, v Object) { require.NoError(e.t, e.c.SetAttr(o, name, v)) }

func (e *env) setitem(d, k, v Object) { require.NoError(e.t, e.c.DictSetItem(d, k, v)) }

func (e *env) get(o Object, name string) Object {
	v, ok := e.c.GetAttr(o, name)
	require.True(e.t, ok, "no attribute %q", name)
	return v
}

func (e *env) drop(objs ...Object) {
	for _, o := range objs {
		e.c.Decref(o)
	}
}

func (e *env) int(v int64) Object { return e.c.NewInt(v) }

// inst makes an instance of cls (owned).
func (e *env) inst(cls Type) Object {
	o := e.c.NewInstance(cls)
	require.NotEqual(e.t, Nil, o)
	return o
}

var plainClass = NewClass(ClassSpec{Name: "A"})

// callable returns an object that calls fn when called (a function).
func (e *env) callable(fn func(arg Object)) Object {
	cls := NewClass(ClassSpec{Name: "function", Call: func(_ *Collector, _, arg Object) { fn(arg) }})
	return e.inst(cls)
}

// selfLoop returns an instance that refers to itself, like
// test_gc.C1055820(i): o.i = i; o.loop = o.
func (e *env) selfLoop(cls Type, i int64) Object {
	o := e.inst(cls)
	n := e.int(i)
	e.set(o, "i", n)
	e.drop(n)
	e.set(o, "loop", o)
	return o
}

// alive reports whether o is a live object of e's collector, without
// touching freed memory's contents beyond the header check word.
func (e *env) alive(o Object) bool {
	defer func() { _ = recover() }()
	e.c.check("alive", o)
	return true
}

// garbage returns the handles in gc.garbage.
func (e *env) garbage() []Object {
	g := e.c.Garbage()
	out := []Object{}
	for i := 0; i < e.c.ListLen(g); i++ {
		out = append(out, e.c.ListGetItem(g, i))
	}
	return out
}

// noLeak checks, when the test ends, that pymalloc's blocks in use are
// back where they were when it was called, apart from attribute names
// the collector interned meanwhile (they live as long as it does). Under
// GOPYMALLOC=malloc or malloc_debug pymalloc serves no block and
// AllocatedBlocks is 0 throughout, so there is nothing to compare.
func (e *env) noLeak() {
	t := e.t
	t.Helper()
	if !strings.HasPrefix(pymalloc.AllocatorName(), "pymalloc") {
		return
	}
	base, names := pymalloc.AllocatedBlocks(), len(e.c.interned)
	t.Cleanup(func() {
		if !t.Failed() {
			require.Equal(t, base+len(e.c.interned)-names, pymalloc.AllocatedBlocks(), "pymalloc blocks in use")
		}
	})
}

// requireUsage checks that f panics with a *UsageError whose message is
// want.
func requireUsage(t *testing.T, want string, f func()) {
	t.Helper()
	var r any
	func() {
		defer func() { r = recover() }()
		f()
	}()
	u, ok := r.(*UsageError)
	require.True(t, ok, "want a *UsageError, got %T: %v", r, r)
	require.Equal(t, want, u.Error())
}

func hex(o Object) string { return fmt.Sprintf("%#x", uintptr(o)) }
