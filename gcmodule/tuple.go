package gcmodule

// tuple: an immutable container with its items inline (PyTupleObject).
// Tracked from creation, except the empty tuple, a singleton per
// collector, and untracked by every
// collection once it holds nothing that may be tracked (bpo-4688): a tuple
// of atoms can never be part of a cycle. Tuples have no tp_clear; the
// collector breaks cycles through them by clearing the other members.

func tupleItem(o Object, i int) *Object {
	return at[Object](body(o) + ptrSize + uintptr(i)*ptrSize)
}

func tupleLen(o Object) int { return *at[int](body(o)) }

// NewTuple returns a new tuple of items (each increfed), or Nil when
// memory is exhausted. As in CPython, NewTuple() with no items returns a
// new reference to the collector's one empty tuple, which allocates
// nothing, does not count towards a collection and is never tracked.
func (c *Collector) NewTuple(items ...Object) Object {
	c.checkOpen("NewTuple")
	n := len(items)
	if n == 0 {
		c.incref(c.emptyTuple)
		return c.emptyTuple
	}
	for _, it := range items {
		if it != Nil {
			c.check("NewTuple", it)
		}
	}
	o := c.alloc(typeTabAt(TupleType), ptrSize*uintptr(1+n))
	if o == Nil {
		return Nil
	}
	*at[int](body(o)) = n
	for i, it := range items {
		c.incref(it)
		*tupleItem(o, i) = it
	}
	c.track(o)
	return o
}

// TupleLen is len(t).
func (c *Collector) TupleLen(t Object) int {
	c.checkKind("TupleLen", t, kindTuple)
	return tupleLen(t)
}

// TupleGetItem returns t[i], borrowed.
func (c *Collector) TupleGetItem(t Object, i int) Object {
	c.checkKind("TupleGetItem", t, kindTuple)
	if i < 0 || i >= tupleLen(t) {
		panic(usage("TupleGetItem", t, "index %d out of range (len %d)", i, tupleLen(t)))
	}
	return *tupleItem(t, i)
}

// tupleTraverse is tupletraverse: last item to first.
func tupleTraverse(o Object, visit func(Object)) {
	for i := tupleLen(o) - 1; i >= 0; i-- {
		if x := *tupleItem(o, i); x != Nil {
			visit(x)
		}
	}
}

func tupleDealloc(c *Collector, o Object) {
	if o == c.emptyTuple {
		hdr(o).refcnt = 1 // kept usable, as CPython's static singleton
		panic(usage("Decref", o, "the empty tuple's reference count fell to zero: it was released more times than NewTuple() handed it out"))
	}
	untrack(o)
	if c.trashBegin(o) {
		return
	}
	if n := tupleLen(o); n <= 2 {
		var x0, x1 Object
		if n > 0 {
			x0 = *tupleItem(o, 0)
		}
		if n > 1 {
			x1 = *tupleItem(o, 1)
		}
		c.freeEarly(o)
		if n > 1 {
			c.decref(x1)
		}
		if n > 0 {
			c.decref(x0)
		}
		c.uncount()
	} else {
		for i := n - 1; i >= 0; i-- {
			c.decref(*tupleItem(o, i))
		}
		c.gcFree(o)
	}
	c.trashEnd()
}

// mayBeTracked is _PyObject_GC_MAY_BE_TRACKED: could x be, or become,
// part of a cycle? Atoms cannot; a tuple can only while it is tracked.
func mayBeTracked(x Object) bool {
	if x == Nil || !isGC(x) {
		return false
	}
	if hdr(x).typ == TupleType {
		return isTracked(x)
	}
	return true
}

// tupleMaybeUntrack is _PyTuple_MaybeUntrack.
func tupleMaybeUntrack(o Object) {
	if !isTracked(o) {
		return
	}
	for i := tupleLen(o) - 1; i >= 0; i-- {
		x := *tupleItem(o, i)
		// A Nil item means a tuple still under construction.
		if x == Nil || mayBeTracked(x) {
			return
		}
	}
	untrack(o)
}
