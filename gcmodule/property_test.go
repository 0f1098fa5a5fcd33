package gcmodule

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gopymalloc/gopymalloc/pymalloc"
	"github.com/stretchr/testify/require"
)

// The collector against a model: random graphs of the built-in types with
// random roots. After the test drops its references to everything but the
// roots and runs Collect(2), exactly the objects not reachable from the
// roots (computed here, independently) must have been freed, the
// survivors' reference counts must be what their referrers account for,
// and weakrefs must be dead exactly when their referent is. Once the
// roots are dropped too and collected, pymalloc's blocks in use are back
// where they started.

// bytesSource hands out decisions from a byte string (the fuzzer's input),
// then zeros.
type bytesSource struct {
	b []byte
}

func (s *bytesSource) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	x := s.b[0]
	s.b = s.b[1:]
	return x
}

// intn returns a number in [0, n).
func (s *bytesSource) intn(n int) int {
	if n <= 1 {
		return 0
	}
	v := int(s.byte())
	if n > 256 {
		v = v<<8 | int(s.byte())
	}
	return v % n
}

type nodeKind int

const (
	nList nodeKind = iota
	nTuple
	nDict
	nInst
	nFinInst
	nWeakref
	nInt
	nStr
	numNodeKinds
)

type node struct {
	kind   nodeKind
	o      Object
	edges  []int       // strong references, with multiplicity
	keys   map[int]int // dict: key node -> value node
	attrs  map[string]int
	target int // weakref: referent node
}

var (
	propClass    = NewClass(ClassSpec{Name: "P", Call: func(*Collector, Object, Object) {}})
	propFinClass = NewClass(ClassSpec{Name: "F", Call: func(*Collector, Object, Object) {},
		Finalize: func(*Collector, Object) {}})
	propAttrs = []string{"a", "b", "c", "d"}
)

// checkGraph builds the graph that src describes and checks the
// collector against the model.
func checkGraph(t *testing.T, src *bytesSource) {
	c := NewCollector()
	c.Disable()
	for _, name := range propAttrs {
		c.intern(name)
	}
	// Weakref callbacks are one object outside the graph: a weakref holds
	// its callback until its referent dies by reference counting, or
	// until the weakref itself dies after a collection cleared it, so a
	// callback inside the graph has no fixed count to check.
	callback := c.NewInstance(propClass)
	c.Collect(2)
	base := pymalloc.AllocatedBlocks()

	n := 1 + src.intn(120)
	nodes := make([]*node, 0, n)
	isInst := func(k nodeKind) bool { return k == nInst || k == nFinInst }
	pick := func(pred func(*node) bool) int {
		var cand []int
		for i, nd := range nodes {
			if pred(nd) {
				cand = append(cand, i)
			}
		}
		if len(cand) == 0 {
			return -1
		}
		return cand[src.intn(len(cand))]
	}
	any := func(*node) bool { return true }
	maybeCollect := func() {
		if g := src.intn(8); g < 3 {
			c.Collect(g)
		}
	}

	// Phase 1: atoms, empty containers, instances.
	for i := 0; i < n; i++ {
		nd := &node{kind: nodeKind(src.intn(int(numNodeKinds)))}
		switch nd.kind {
		case nTuple, nWeakref:
			nd.kind = nList // made in phase 2
			if src.intn(2) == 0 {
				nd.kind = nInst
			}
		}
		switch nd.kind {
		case nList:
			nd.o = c.NewList()
		case nDict:
			nd.o = c.NewDict()
			nd.keys = map[int]int{}
		case nInst:
			nd.o = c.NewInstance(propClass)
		case nFinInst:
			nd.o = c.NewInstance(propFinClass)
		case nInt:
			nd.o = c.NewInt(int64(i))
		case nStr:
			nd.o = c.NewStr(fmt.Sprint("s", i))
		}
		if isInst(nd.kind) {
			nd.attrs = map[string]int{}
		}
		nodes = append(nodes, nd)
		maybeCollect()
	}
	// Phase 2: tuples of earlier nodes, weakrefs with callbacks.
	for k := src.intn(n/2 + 1); k > 0; k-- {
		if src.intn(2) == 0 {
			items := make([]Object, src.intn(4))
			nd := &node{kind: nTuple}
			for j := range items {
				x := src.intn(len(nodes))
				items[j] = nodes[x].o
				nd.edges = append(nd.edges, x)
			}
			nd.o = c.NewTuple(items...)
			nodes = append(nodes, nd)
		} else {
			target := pick(func(nd *node) bool { return isInst(nd.kind) })
			if target < 0 {
				continue
			}
			nd := &node{kind: nWeakref, target: target}
			nd.o = c.NewWeakref(nodes[target].o, callback)
			nodes = append(nodes, nd)
		}
		maybeCollect()
	}
	// Phase 3: edges out of the mutable containers.
	for k := src.intn(3 * len(nodes)); k > 0; k-- {
		from := pick(func(nd *node) bool { return nd.kind == nList || nd.kind == nDict || isInst(nd.kind) })
		if from < 0 {
			break
		}
		to := pick(any)
		f := nodes[from]
		switch f.kind {
		case nList:
			require.NoError(t, c.ListAppend(f.o, nodes[to].o))
			f.edges = append(f.edges, to)
		case nDict:
			key := pick(func(nd *node) bool { return nd.kind == nInt || nd.kind == nStr || isInst(nd.kind) })
			if key < 0 {
				continue
			}
			require.NoError(t, c.DictSetItem(f.o, nodes[key].o, nodes[to].o))
			f.keys[key] = to
		default:
			name := propAttrs[src.intn(len(propAttrs))]
			if src.intn(5) == 0 {
				// del f.name, whether f has it or not (a name it lacks
				// still takes a shared-keys slot, or materialises its dict).
				_, had := f.attrs[name]
				require.Equal(t, had, c.DelAttr(f.o, name), "del %s", name)
				delete(f.attrs, name)
				break
			}
			require.NoError(t, c.SetAttr(f.o, name, nodes[to].o))
			f.attrs[name] = to
		}
		if src.intn(16) == 0 {
			maybeCollect()
		}
	}
	for _, nd := range nodes {
		for k, v := range nd.keys {
			nd.edges = append(nd.edges, k, v)
		}
		for _, v := range nd.attrs {
			nd.edges = append(nd.edges, v)
		}
	}

	// The roots, and what they reach.
	root := make([]bool, len(nodes))
	for i := range nodes {
		root[i] = src.intn(3) == 0
	}
	reach := make([]bool, len(nodes))
	var stack []int
	for i, r := range root {
		if r {
			reach[i] = true
			stack = append(stack, i)
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, j := range nodes[i].edges {
			if j >= 0 && !reach[j] {
				reach[j] = true
				stack = append(stack, j)
			}
		}
	}

	freed := map[Object]bool{}
	c.freeHook = func(o Object) { freed[o] = true }
	for i, nd := range nodes {
		if !root[i] {
			c.Decref(nd.o)
		}
	}
	c.Collect(2)

	in := make([]int, len(nodes))
	for i, nd := range nodes {
		if !reach[i] {
			continue
		}
		for _, j := range nd.edges {
			if j >= 0 {
				in[j]++
			}
		}
	}
	// Every empty tuple node is the collector's one empty tuple: it is
	// never freed, and its count is the collector's own reference plus
	// those of all the nodes that stand for it.
	emptyRefs, empties := 1, 0
	for i, nd := range nodes {
		if nd.kind == nTuple && len(nd.edges) == 0 {
			require.Equal(t, c.emptyTuple, nd.o, "node %d: NewTuple() is the singleton", i)
			require.False(t, freed[nd.o], "node %d: the empty tuple was freed", i)
			empties++
			if reach[i] {
				emptyRefs += in[i]
			}
			if root[i] {
				emptyRefs++
			}
			continue
		}
		if !reach[i] {
			require.True(t, freed[nd.o], "node %d (%v) is unreachable but was not freed", i, nd.kind)
			continue
		}
		require.False(t, freed[nd.o], "node %d (%v) is reachable but was freed", i, nd.kind)
		want := in[i]
		if root[i] {
			want++
		}
		require.Equal(t, want, c.Refcount(nd.o), "node %d (%v): refcount", i, nd.kind)
		if isInst(nd.kind) {
			for _, name := range propAttrs {
				v, ok := c.GetAttr(nd.o, name)
				to, has := nd.attrs[name]
				require.Equal(t, has, ok, "node %d: has %s", i, name)
				if has {
					require.Equal(t, nodes[to].o, v, "node %d: %s", i, name)
				}
			}
		}
		if nd.kind == nWeakref {
			want := Nil
			if reach[nd.target] {
				want = nodes[nd.target].o
			}
			require.Equal(t, want, c.WeakrefGet(nd.o), "weakref node %d", i)
		}
	}
	if empties > 0 {
		require.Equal(t, emptyRefs, c.Refcount(c.emptyTuple), "the empty tuple's refcount")
	}
	require.Empty(t, c.garbageItems())

	for i, nd := range nodes {
		if root[i] {
			c.Decref(nd.o)
		}
	}
	c.Collect(2)
	for i, nd := range nodes {
		if nd.o != c.emptyTuple {
			require.True(t, freed[nd.o], "node %d (%v) survived the end", i, nd.kind)
		}
	}
	require.Equal(t, 1, c.Refcount(c.emptyTuple), "only the collector holds the empty tuple at the end")
	c.freeHook = nil
	require.Equal(t, base, pymalloc.AllocatedBlocks(), "pymalloc blocks in use")
	require.Equal(t, 1, c.Refcount(callback))
	c.Decref(callback)
	require.NoError(t, pymalloc.Check())
}

func (c *Collector) garbageItems() []Object {
	b := listOf(c.garbage)
	return append([]Object{}, words(b.base(), b.size)...)
}

func (k nodeKind) String() string {
	return [...]string{"list", "tuple", "dict", "instance", "instance with __del__", "weakref", "int", "str"}[k]
}

// TestCollectProperty runs checkGraph on random graphs.
func TestCollectProperty(t *testing.T) {
	runs := 500
	if testing.Short() {
		runs = 100
	}
	for seed := 0; seed < runs; seed++ {
		r := rand.New(rand.NewPCG(uint64(seed), 42))
		b := make([]byte, 2000)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) { checkGraph(t, &bytesSource{b}) })
		if t.Failed() {
			return
		}
	}
}

// FuzzCollect is checkGraph driven by the fuzzer:
//
//	go test -fuzz FuzzCollect ./gcmodule/
func FuzzCollect(f *testing.F) {
	for seed := uint64(0); seed < 8; seed++ {
		b := make([]byte, 256)
		for i := 0; i < len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], seed*0x9E3779B97F4A7C15+uint64(i))
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkGraph(t, &bytesSource{b}) })
}
