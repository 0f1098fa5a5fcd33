package gcmodule

import "unsafe"

// weakref.ref: a container that points to its referent without owning a
// reference, and optionally holds a callback (any object whose type has
// Call) to run when the referent dies. Every weakref to an object is on a
// doubly linked list whose head sits in the referent (tp_weaklistoffset);
// a weakref without callback is kept at the head and shared, as CPython
// shares the basic ref.

type wrBody struct {
	object   Object // wr_object; Nil once cleared (CPython's Py_None)
	callback Object // wr_callback, an owned reference
	prev     Object // wr_prev
	next     Object // wr_next
}

const weakrefBodySize = unsafe.Sizeof(wrBody{}) // 4 words

func wrOf(o Object) *wrBody { return at[wrBody](body(o)) }

// weaklist is GET_WEAKREFS_LISTPTR for an object whose type supports
// weak references.
func weaklist(o Object, t *typeDesc) *Object { return at[Object](uintptr(o) + t.weaklist) }

// NewWeakref returns a weak reference to target (weakref.ref(target,
// callback)). callback is Nil or a callable object (a class with Call);
// it is called with the weakref when target dies, unless the weakref has
// died first. Without a callback an existing plain weakref is returned
// (with a new reference), as CPython reuses it. The caller owns the
// result; it is Nil when memory is exhausted.
func (c *Collector) NewWeakref(target, callback Object) Object {
	c.check("NewWeakref", target)
	tt := typeOf(target)
	if tt.weaklist == 0 {
		panic(usage("NewWeakref", target, "cannot create weak reference to '%s' object", tt.name))
	}
	if callback != Nil {
		c.check("NewWeakref", callback)
		if typeOf(callback).call == nil {
			panic(usage("NewWeakref", callback, "callback of type '%s' is not callable", typeOf(callback).name))
		}
	}
	list := weaklist(target, tt)
	if callback == Nil && *list != Nil && wrOf(*list).callback == Nil {
		c.incref(*list)
		return *list
	}
	wr := c.alloc(typeTabAt(WeakrefType), weakrefBodySize)
	if wr == Nil {
		return Nil
	}
	// The allocation may have run a collection that changed the list:
	// it is read again below. As weakref.ref in 3.11 (weakref___new__),
	// a new basic ref goes to the head even if that collection made one
	// meanwhile; the object then has two.
	b := wrOf(wr)
	b.object = target
	c.incref(callback)
	b.callback = callback
	c.track(wr)
	if head := *list; callback == Nil || head == Nil || wrOf(head).callback != Nil {
		insertHead(wr, list)
	} else {
		insertAfter(wr, head) // after the basic ref
	}
	return wr
}

func insertHead(wr Object, list *Object) {
	next := *list
	b := wrOf(wr)
	b.prev = Nil
	b.next = next
	if next != Nil {
		wrOf(next).prev = wr
	}
	*list = wr
}

func insertAfter(wr, prev Object) {
	b, p := wrOf(wr), wrOf(prev)
	b.prev = prev
	b.next = p.next
	if p.next != Nil {
		wrOf(p.next).prev = wr
	}
	p.next = wr
}

// WeakrefGet returns the referent, borrowed, or Nil once it has died
// (calling the ref). A referent whose count has reached zero is dead even
// while its weakrefs are not yet cleared, as when the trashcan defers its
// deallocation: PyWeakref_GET_OBJECT answers None for it (gh-60806), and
// so does this, where handing it out would let a callback bring it back
// and have it deallocated twice.
func (c *Collector) WeakrefGet(wr Object) Object {
	c.checkKind("WeakrefGet", wr, kindWeakref)
	if o := wrOf(wr).object; o != Nil && hdr(o).refcnt > 0 {
		return o
	}
	return Nil
}

// WeakrefCallback returns the callback, borrowed, or Nil (__callback__).
func (c *Collector) WeakrefCallback(wr Object) Object {
	c.checkKind("WeakrefCallback", wr, kindWeakref)
	return wrOf(wr).callback
}

// GetWeakrefCount is weakref.getweakrefcount.
func (c *Collector) GetWeakrefCount(o Object) int {
	c.check("GetWeakrefCount", o)
	t := typeOf(o)
	if t.weaklist == 0 {
		return 0
	}
	n := 0
	for wr := *weaklist(o, t); wr != Nil; wr = wrOf(wr).next {
		n++
	}
	return n
}

// unlinkWeakref is the first half of clear_weakref: take wr off its
// referent's list and mark it dead.
func unlinkWeakref(wr Object) {
	b := wrOf(wr)
	if b.object == Nil {
		return
	}
	list := weaklist(b.object, typeOf(b.object))
	if *list == wr {
		*list = b.next
	}
	b.object = Nil
	if b.prev != Nil {
		wrOf(b.prev).next = b.next
	}
	if b.next != Nil {
		wrOf(b.next).prev = b.prev
	}
	b.prev, b.next = Nil, Nil
}

// clearWeakref is clear_weakref: unlink and drop the callback.
func (c *Collector) clearWeakref(wr Object) {
	unlinkWeakref(wr)
	b := wrOf(wr)
	if cb := b.callback; cb != Nil {
		b.callback = Nil
		c.decref(cb)
	}
}

func weakrefTraverse(o Object, visit func(Object)) {
	if cb := wrOf(o).callback; cb != Nil {
		visit(cb)
	}
}

func weakrefClear(c *Collector, o Object) { c.clearWeakref(o) }

func weakrefDealloc(c *Collector, o Object) {
	untrack(o)
	c.clearWeakref(o)
	c.gcFree(o)
}

// handleCallback is handle_callback: call cb(wr), reporting a panic as
// unraisable.
func (c *Collector) handleCallback(wr, cb Object) {
	defer c.catch("", cb)
	typeOf(cb).call(c, cb, wr)
}

// clearWeakRefs is PyObject_ClearWeakRefs, run when o dies by reference
// counting: every weakref to o is cleared first, then the callbacks of
// those still alive are called, in list order (newest first). With more
// than one weakref left, CPython holds the (weakref, callback) pairs in a
// new tuple while the callbacks run: an allocation that counts towards
// generation 0 and may start a collection, a tuple that GetReferrers
// finds from inside a callback, and whose release, last item first,
// drops the oldest callback first. So does this.
func (c *Collector) clearWeakRefs(o Object, t *typeDesc) {
	list := weaklist(o, t)
	// The callback-less refs at the head first, two at most, as CPython
	// clears its basic ref and basic proxy. With no proxies here the
	// second matters when a collection run by NewWeakref's allocation
	// made a basic ref too, and the object has two: both go, and do not
	// count towards the tuple below.
	for i := 0; i < 2 && *list != Nil && wrOf(*list).callback == Nil; i++ {
		c.clearWeakref(*list)
	}
	if *list == Nil {
		return
	}
	if cur := *list; wrOf(cur).next == Nil {
		b := wrOf(cur)
		cb := b.callback
		b.callback = Nil
		c.clearWeakref(cur)
		if cb != Nil {
			if hdr(cur).refcnt > 0 {
				c.handleCallback(cur, cb)
			}
			c.decref(cb)
		}
		return
	}
	count := 0
	for cur := *list; cur != Nil; cur = wrOf(cur).next {
		count++
	}
	// o is untracked, so a collection started here does not see it; one
	// of its weakrefs may die in it, so the list is walked afresh below.
	pairs := c.alloc(typeTabAt(TupleType), ptrSize*uintptr(1+2*count))
	if pairs == Nil {
		// CPython gives up with a MemoryError and leaves the weakrefs
		// pointing at the dead object; here they are cleared, and their
		// callbacks dropped uncalled.
		for *list != Nil {
			c.clearWeakref(*list)
		}
		c.unraisableMsg(ErrNoMemory, "in clearing the weak references to", o)
		return
	}
	*at[int](body(pairs)) = 2 * count
	c.track(pairs)
	for i, cur := 0, *list; i < count && cur != Nil; i++ {
		b := wrOf(cur)
		next, cb := b.next, b.callback
		b.callback = Nil
		if hdr(cur).refcnt > 0 {
			c.incref(cur)
			*tupleItem(pairs, 2*i) = cur
			*tupleItem(pairs, 2*i+1) = cb
		} else {
			c.decref(cb)
		}
		unlinkWeakref(cur)
		cur = next
	}
	for i := 0; i < count; i++ {
		if cb := *tupleItem(pairs, 2*i+1); cb != Nil {
			c.handleCallback(*tupleItem(pairs, 2*i), cb)
		}
	}
	c.decref(pairs)
}
