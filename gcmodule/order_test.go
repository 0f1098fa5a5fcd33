package gcmodule

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The order in which containers release what they hold, and in which
// their traverse functions visit it: a program sees it through __del__
// and through GetReferents. Every expected order below is what CPython
// 3.11.7 prints for the same objects.

// finalLog is a class whose instances append their "n" attribute (an
// int) to a log when __del__ runs.
type finalLog struct {
	*env
	cls Type
	log []int64
}

func newFinalLog(e *env) *finalLog {
	f := &finalLog{env: e}
	f.cls = NewClass(ClassSpec{Name: "F", Finalize: func(c *Collector, self Object) {
		n, _ := c.GetAttr(self, "n")
		f.log = append(f.log, c.IntValue(n))
	}})
	return f
}

// make returns an F(n), owned.
func (f *finalLog) make(n int64) Object {
	o := f.inst(f.cls)
	v := f.int(n)
	f.set(o, "n", v)
	f.drop(v)
	return o
}

// tuple returns (F(0), ..., F(n-1)) and list [F(0), ..., F(n-1)],
// owned; the container holds the only references to the items.
func (f *finalLog) tuple(n int) Object {
	items := f.makeN(n)
	o := f.c.NewTuple(items...)
	require.NotEqual(f.t, Nil, o)
	f.drop(items...)
	return o
}

func (f *finalLog) list(n int) Object {
	items := f.makeN(n)
	o := f.env.list(items...)
	f.drop(items...)
	return o
}

func (f *finalLog) makeN(n int) []Object {
	out := make([]Object, n)
	for i := range out {
		out[i] = f.make(int64(i))
	}
	return out
}

// setitem stores d[F(k)] = F(v), the dict holding the only references.
func (f *finalLog) setitem(d Object, k, v int64) {
	ko, vo := f.make(k), f.make(v)
	f.env.setitem(d, ko, vo)
	f.drop(ko, vo)
}

// TestTrashcanReleaseOrder: a chain of 200 nodes, node j holding the
// next node and then a leaf F(j), released from its head. The first 49
// nested deallocations run at once; the 50th node's is put off until
// the nesting unwinds, so the leaves die in this order, as in CPython
// (node.next = head; node.leaf = Leaf(j); del head).
func TestTrashcanReleaseOrder(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	f := newFinalLog(e)
	node := NewClass(ClassSpec{Name: "N"})
	for _, tc := range []struct {
		n          int
		first, end []int64
	}{
		{10, []int64{0, 1, 2}, []int64{7, 8, 9}},
		{49, []int64{0, 1, 2}, []int64{46, 47, 48}},
		{50, []int64{1, 2, 3}, []int64{48, 49, 0}},
		{51, []int64{2, 3, 4}, []int64{50, 1, 0}},
		{52, []int64{3, 4, 5}, []int64{2, 0, 1}},
		{120, []int64{71, 72, 73}, []int64{18, 19, 20}},
		{200, []int64{151, 152, 153}, []int64{0, 1, 2}},
	} {
		head := Nil
		for j := 0; j < tc.n; j++ {
			x := e.inst(node)
			if head != Nil {
				e.set(x, "next", head)
				e.drop(head)
			} else {
				none := e.int(0) // x.next = None
				e.set(x, "next", none)
				e.drop(none)
			}
			leaf := f.make(int64(j))
			e.set(x, "leaf", leaf)
			e.drop(leaf)
			head = x
		}
		f.log = nil
		e.drop(head)
		require.Len(t, f.log, tc.n)
		require.Equal(t, tc.first, f.log[:3], "n=%d", tc.n)
		require.Equal(t, tc.end, f.log[tc.n-3:], "n=%d", tc.n)
	}
}

// TestContainerReleaseOrder: tuples and lists drop their items last to
// first, when freed and when cleared; a dict drops each entry's key, then
// its value, entry by entry, and del d[k] drops the key before the value.
func TestContainerReleaseOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(f *finalLog)
		want []int64
	}{
		{"tuple of 1, freed", func(f *finalLog) { f.drop(f.tuple(1)) }, []int64{0}},
		{"tuple of 2, freed", func(f *finalLog) { f.drop(f.tuple(2)) }, []int64{1, 0}},
		{"tuple of 3, freed", func(f *finalLog) { f.drop(f.tuple(3)) }, []int64{2, 1, 0}},
		{"list of 2, freed", func(f *finalLog) { f.drop(f.list(2)) }, []int64{1, 0}},
		{"list of 3, freed", func(f *finalLog) { f.drop(f.list(3)) }, []int64{2, 1, 0}},
		{"list of 2, cleared", func(f *finalLog) {
			l := f.list(2)
			f.c.ListClear(l)
			f.drop(l)
		}, []int64{1, 0}},
		{"list of 3, cleared", func(f *finalLog) {
			l := f.list(3)
			f.c.ListClear(l)
			f.drop(l)
		}, []int64{2, 1, 0}},
		{"dict, freed", func(f *finalLog) {
			d := f.c.NewDict()
			f.setitem(d, 1, 2)
			f.setitem(d, 3, 4)
			f.drop(d)
		}, []int64{1, 2, 3, 4}},
		{"dict, cleared", func(f *finalLog) {
			d := f.c.NewDict()
			f.setitem(d, 1, 2)
			f.setitem(d, 3, 4)
			f.c.DictClear(d)
			f.drop(d)
		}, []int64{1, 2, 3, 4}},
		{"del d[k]", func(f *finalLog) {
			// The key is borrowed from the dict, as PyDict_Next hands it
			// out: deleting the entry frees it.
			d := f.c.NewDict()
			f.setitem(d, 1, 2)
			_, k, _, ok := f.c.DictNext(d, 0)
			require.True(f.t, ok)
			require.True(f.t, f.c.DictDelItem(d, k))
			f.drop(d)
		}, []int64{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.noLeak()
			f := newFinalLog(e)
			tc.run(f)
			require.Equal(t, tc.want, f.log)
		})
	}
}

// TestReferentsOrder: tuples and lists are traversed last item first, so
// GetReferents((a, b, c)) and GetReferents([a, b, c]) are [c, b, a].
func TestReferentsOrder(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.list(), e.list(), e.list()
	tu, l := e.c.NewTuple(a, b, c), e.list(a, b, c)
	require.Equal(t, []Object{c, b, a}, e.c.GetReferents(tu))
	require.Equal(t, []Object{c, b, a}, e.c.GetReferents(l))
	e.drop(tu, l, a, b, c)
}
