package gcmodule

import (
	"errors"
	"unsafe"
)

// list: a container with a growable array of items (PyListObject:
// ob_size, ob_item, allocated). Tracked from creation.
//
// A list made with one or two items keeps them inline, the first in the
// word that otherwise holds the item pointer: most small lists then cost
// one block and one free instead of two, and the object still fits the
// 64-byte size class (48-byte on a 32-bit system). Growth follows
// CPython's pattern (0, 4, 8, 16, ...) and always goes to a MEM block, so
// allocated <= listInline means inline: a MEM block is never that small.

type listBody struct {
	size      int
	allocated int
	items     uintptr // MEM block of allocated words; or inline item 0
	item1     Object  // inline item 1
}

const (
	listBodySize = unsafe.Sizeof(listBody{}) // 4 words
	listInline   = 2
)

// ErrNoMemory is returned by operations that could not get memory from
// pymalloc (CPython's MemoryError). The object is left unchanged.
var ErrNoMemory = errors.New("gcmodule: out of memory")

func listOf(o Object) *listBody { return at[listBody](body(o)) }

func (l *listBody) inline() bool { return uint(l.allocated-1) < listInline }

// base is the address of item 0 (ob_item); meaningless when allocated is 0.
func (l *listBody) base() uintptr {
	if l.inline() {
		return uintptr(unsafe.Pointer(&l.items))
	}
	return l.items
}

func (l *listBody) item(i int) *Object { return at[Object](l.base() + uintptr(i)*ptrSize) }

// NewList returns a new list holding items (each increfed), or Nil when
// memory is exhausted.
func (c *Collector) NewList(items ...Object) Object {
	c.checkOpen("NewList")
	for _, it := range items {
		if it != Nil {
			c.check("NewList", it)
		}
	}
	o := c.alloc(typeTabAt(ListType), listBodySize)
	if o == Nil {
		return Nil
	}
	if n := len(items); n > 0 {
		l := listOf(o)
		if n > listInline {
			l.items = memMalloc(uintptr(n) * ptrSize)
			if l.items == 0 {
				hdr(o).refcnt = 0
				c.gcFree(o)
				return Nil
			}
		}
		l.size, l.allocated = n, n
		copy(words(l.base(), n), items)
		for _, it := range items {
			c.incref(it)
		}
	}
	c.track(o)
	return o
}

func typeTabAt(t Type) *typeDesc { return (*typeTab.Load())[t] }

// listResize is list_resize: CPython's growth pattern 0, 4, 8, 16, 24,
// 32, 40, 52, 64, 76, ...
func listResize(l *listBody, newsize int) bool {
	allocated := l.allocated
	if allocated >= newsize && newsize >= allocated>>1 {
		l.size = newsize
		return true
	}
	newAllocated := (newsize + newsize>>3 + 6) &^ 3
	if newsize-l.size > newAllocated-newsize {
		newAllocated = (newsize + 3) &^ 3
	}
	if newsize == 0 {
		if allocated != 0 && !l.inline() {
			memFree(l.items)
		}
		l.items, l.item1, l.size, l.allocated = 0, 0, 0, 0
		return true
	}
	var p uintptr
	switch {
	case allocated == 0:
		p = memMalloc(uintptr(newAllocated) * ptrSize)
	case l.inline():
		if p = memMalloc(uintptr(newAllocated) * ptrSize); p != 0 {
			copy(words(p, l.size), words(l.base(), l.size))
			l.item1 = 0
		}
	default:
		p = memRealloc(l.items, uintptr(newAllocated)*ptrSize)
	}
	if p == 0 {
		return false
	}
	l.items, l.size, l.allocated = p, newsize, newAllocated
	return true
}

// ListAppend appends x (increfed) to the list l. x may be Nil (an empty
// slot, C's NULL); it returns ErrNoMemory when the items cannot grow.
func (c *Collector) ListAppend(l, x Object) error {
	c.checkKind("ListAppend", l, kindList)
	if x != Nil {
		c.check("ListAppend", x)
	}
	b := listOf(l)
	n := b.size
	if !listResize(b, n+1) {
		return ErrNoMemory
	}
	c.incref(x)
	*b.item(n) = x
	return nil
}

// ListLen is len(l).
func (c *Collector) ListLen(l Object) int {
	c.checkKind("ListLen", l, kindList)
	return listOf(l).size
}

// ListGetItem returns l[i] as a borrowed reference (PyList_GET_ITEM).
func (c *Collector) ListGetItem(l Object, i int) Object {
	c.checkKind("ListGetItem", l, kindList)
	b := listOf(l)
	if i < 0 || i >= b.size {
		panic(usage("ListGetItem", l, "index %d out of range (len %d)", i, b.size))
	}
	return *b.item(i)
}

// ListSetItem stores x (increfed) at l[i] and drops the reference the
// slot held (list_ass_item).
func (c *Collector) ListSetItem(l Object, i int, x Object) {
	c.checkKind("ListSetItem", l, kindList)
	if x != Nil {
		c.check("ListSetItem", x)
	}
	b := listOf(l)
	if i < 0 || i >= b.size {
		panic(usage("ListSetItem", l, "index %d out of range (len %d)", i, b.size))
	}
	c.incref(x)
	p := b.item(i)
	old := *p
	*p = x
	c.decref(old)
}

// ListPop removes l[i] and returns it; the caller owns the returned
// reference (list.pop).
func (c *Collector) ListPop(l Object, i int) Object {
	c.checkKind("ListPop", l, kindList)
	b := listOf(l)
	if i < 0 {
		i += b.size
	}
	if i < 0 || i >= b.size {
		panic(usage("ListPop", l, "index %d out of range (len %d)", i, b.size))
	}
	x := *b.item(i)
	items := words(b.base(), b.size)
	copy(items[i:], items[i+1:])
	if !listResize(b, b.size-1) {
		b.size-- // could not shrink the block: keep it
	}
	return x
}

// ListRemove removes the first item that is x (compared by identity)
// and drops its reference; it reports whether it found one.
func (c *Collector) ListRemove(l, x Object) bool {
	c.checkKind("ListRemove", l, kindList)
	b := listOf(l)
	for i := 0; i < b.size; i++ {
		if *b.item(i) == x {
			c.decref(c.ListPop(l, i))
			return true
		}
	}
	return false
}

// ListClear empties the list (del l[:]).
func (c *Collector) ListClear(l Object) {
	c.checkKind("ListClear", l, kindList)
	listClear(c, l)
}

// listTraverse is list_traverse: the items, last to first.
func listTraverse(o Object, visit func(Object)) {
	b := listOf(o)
	if b.size == 0 {
		return
	}
	p := b.base()
	for i := b.size - 1; i >= 0; i-- {
		if x := *at[Object](p + uintptr(i)*ptrSize); x != Nil {
			visit(x)
		}
	}
}

// listClear is _list_clear: empty the list first, since dropping an item
// can run code that looks at it, then drop the items last to first.
func listClear(c *Collector, o Object) {
	b := listOf(o)
	items, n := b.items, b.size
	if b.allocated == 0 {
		return
	}
	if b.inline() {
		x1 := b.item1
		b.items, b.item1, b.size, b.allocated = 0, 0, 0, 0
		if n > 1 {
			c.decref(x1)
		}
		if n > 0 {
			c.decref(Object(items))
		}
		return
	}
	b.items, b.size, b.allocated = 0, 0, 0
	for i := n - 1; i >= 0; i-- {
		c.decref(*at[Object](items + uintptr(i)*ptrSize))
	}
	memFree(items)
}

// listDealloc is list_dealloc.
func listDealloc(c *Collector, o Object) {
	untrack(o)
	if c.trashBegin(o) {
		return
	}
	b := listOf(o)
	n, items, x1, inline := b.size, b.items, b.item1, b.inline()
	// Nothing can reach o any more: free it before its items, so that a
	// chain's blocks go back in the order it is torn down (see freeEarly).
	c.freeEarly(o)
	if inline {
		if n > 1 {
			c.decref(x1)
		}
		if n > 0 {
			c.decref(Object(items))
		}
	} else if items != 0 {
		for i := n - 1; i >= 0; i-- {
			c.decref(*at[Object](items + uintptr(i)*ptrSize))
		}
		memFree(items)
	}
	c.uncount()
	c.trashEnd()
}
