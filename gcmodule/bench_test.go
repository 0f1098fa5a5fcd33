package gcmodule

import (
	"fmt"
	"runtime"
	"testing"
)

// Benchmarks on the graphs CPython 3.11 was measured on (docs/gc.md): N
// two-slot containers (lists [x, y]), one full collection per op, the
// graph built and torn down outside the timer.

// benchGraph builds a graph in c and returns the root to drop afterwards
// (Nil when the whole graph is garbage).
type benchGraph func(c *Collector, n int) Object

func pair(c *Collector) (a, b Object) {
	a = c.NewList(Nil, Nil)
	b = c.NewList(a, Nil)
	c.ListSetItem(a, 0, b)
	return a, b
}

var benchGraphs = []struct {
	name  string
	build benchGraph
}{
	{"pairs", func(c *Collector, n int) Object {
		for i := 0; i < n/2; i++ {
			a, b := pair(c)
			c.Decref(a)
			c.Decref(b)
		}
		return Nil
	}},
	{"ring", func(c *Collector, n int) Object {
		first := c.NewList(Nil, Nil)
		cur := first
		for i := 1; i < n; i++ {
			next := c.NewList(Nil, Nil)
			c.ListSetItem(cur, 0, next)
			c.Decref(next)
			cur = next
		}
		c.ListSetItem(cur, 0, first)
		c.Decref(first)
		return Nil
	}},
	{"live_list", func(c *Collector, n int) Object {
		root := c.NewList()
		for i := 0; i < n; i++ {
			x := c.NewList(Nil, Nil)
			c.ListAppend(root, x)
			c.Decref(x)
		}
		return root
	}},
	{"tree", buildTree},
	{"instances", func(c *Collector, n int) Object {
		// A ring of instances of one class, each with two attributes.
		cls := benchClass
		first := c.NewInstance(cls)
		one := c.NewInt(1)
		cur := first
		for i := 1; i < n; i++ {
			next := c.NewInstance(cls)
			_ = c.SetAttr(cur, "v", one)
			_ = c.SetAttr(cur, "next", next)
			c.Decref(next)
			cur = next
		}
		_ = c.SetAttr(cur, "v", one)
		_ = c.SetAttr(cur, "next", first)
		c.Decref(first)
		c.Decref(one)
		return Nil
	}},
	{"mixed", func(c *Collector, n int) Object {
		root := c.NewList()
		for i := 0; i < n/4; i++ {
			a, b := pair(c)
			c.ListAppend(root, a)
			c.Decref(a)
			c.Decref(b)
			a, b = pair(c)
			c.Decref(a)
			c.Decref(b)
		}
		return root
	}},
}

var benchClass = NewClass(ClassSpec{Name: "Node"})

// buildTree makes a 4-ary tree of n nodes, breadth first, whose levels
// alternate lists and dicts (keys 0..3).
func buildTree(c *Collector, n int) Object {
	root := c.NewList()
	type node struct {
		o     Object
		depth int
	}
	queue := []node{{root, 0}}
	keys := make([]Object, 4)
	for k := range keys {
		keys[k] = c.NewInt(int64(k))
	}
	made := 1
	for i := 0; made < n; i++ {
		parent := queue[i]
		for k := 0; k < 4 && made < n; k++ {
			var child Object
			if parent.depth%2 == 0 {
				child = c.NewDict()
			} else {
				child = c.NewList()
			}
			if hdr(parent.o).typ == ListType {
				c.ListAppend(parent.o, child)
			} else {
				c.DictSetItem(parent.o, keys[k], child)
			}
			c.Decref(child)
			queue = append(queue, node{child, parent.depth + 1})
			made++
		}
	}
	for _, k := range keys {
		c.Decref(k)
	}
	return root
}

func BenchmarkCollect(b *testing.B) {
	for _, g := range benchGraphs {
		for _, n := range []int{100_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/%d", g.name, n), func(b *testing.B) {
				c := NewCollector()
				c.Disable()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					root := g.build(c, n)
					b.StartTimer()
					c.Collect(2)
					b.StopTimer()
					c.Decref(root)
					c.Collect(2)
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/obj")
			})
		}
	}
}

// BenchmarkChainDrop is the reference-counting path alone: dropping the
// head of a chain of n lists [next, None] frees all of them through the
// trashcan.
func BenchmarkChainDrop(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := NewCollector()
			c.Disable()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				head := Nil
				for j := 0; j < n; j++ {
					x := c.NewList(head, Nil)
					c.Decref(head)
					head = x
				}
				b.StartTimer()
				c.Decref(head)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/obj")
		})
	}
}

// BenchmarkCollectYoung is Collect(0) with 1,000 new objects over an old
// generation of 1,000,000: the generational promise.
func BenchmarkCollectYoung(b *testing.B) {
	c := NewCollector()
	c.Disable()
	old := benchGraphs[2].build(c, 1_000_000)
	c.Collect(2)
	young := make([]Object, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range young {
			young[j] = c.NewList(Nil, Nil)
		}
		b.StartTimer()
		c.Collect(0)
		b.StopTimer()
		for _, y := range young {
			c.Decref(y)
		}
		b.StartTimer()
	}
	b.StopTimer()
	c.Decref(old)
	c.Collect(2)
}

// BenchmarkGoGC is one runtime.GC() with no gcmodule objects and with a
// million live ones (a list of a million [None, None] lists, held by one
// handle): objects off the Go heap cost the Go collector nothing.
func BenchmarkGoGC(b *testing.B) {
	for _, n := range []int{0, 1_000_000} {
		b.Run(fmt.Sprintf("live=%d", n), func(b *testing.B) {
			c := NewCollector()
			c.Disable()
			root := Nil
			if n > 0 {
				root = benchGraphs[2].build(c, n)
			}
			runtime.GC()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				runtime.GC()
			}
			b.StopTimer()
			c.Decref(root)
			c.Collect(2)
		})
	}
}
