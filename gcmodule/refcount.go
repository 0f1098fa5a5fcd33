package gcmodule

// Reference counting: Py_INCREF, Py_DECREF and _Py_Dealloc. Most objects
// die here, the moment their count reaches zero; the cycle collector only
// finds what reference counting cannot.

// Incref adds a reference to o (Py_XINCREF: Nil is ignored).
func (c *Collector) Incref(o Object) {
	if o == Nil {
		c.checkOpen("Incref") // any other o meets the closed collector in check
		return
	}
	c.check("Incref", o).refcnt++
}

// Decref drops a reference to o (Py_XDECREF: Nil is ignored); at zero
// the object is deallocated at once, dropping its own references in turn.
// Decref of a dead object, or of an object whose count is already zero
// (one being deallocated), panics.
func (c *Collector) Decref(o Object) {
	if o == Nil {
		c.checkOpen("Decref") // any other o meets the closed collector in check
		return
	}
	h := c.check("Decref", o)
	if h.refcnt <= 0 {
		panic(usage("Decref", o, "reference count would become negative (%d - 1): the object is being deallocated", h.refcnt))
	}
	h.refcnt--
	if h.refcnt == 0 {
		c.dealloc(o)
	}
}

// Refcount returns o's reference count (sys.getrefcount without the
// argument's own reference).
func (c *Collector) Refcount(o Object) int { return int(c.check("Refcount", o).refcnt) }

// incref and decref are the unchecked forms the object implementations
// use on references they own.
func (c *Collector) incref(o Object) {
	if o != Nil {
		hdr(o).refcnt++
	}
}

func (c *Collector) decref(o Object) {
	if o == Nil {
		return
	}
	h := hdr(o)
	h.refcnt--
	if h.refcnt <= 0 {
		if h.refcnt < 0 {
			h.refcnt = 0
			panic(usage("Decref", o, "reference count went negative: an object dropped a reference it did not own"))
		}
		c.dealloc(o)
	}
}

// dealloc is _Py_Dealloc: the type's tp_dealloc. The built-in containers
// are called directly, sparing the type table and an indirect call on the
// path every freed object takes.
func (c *Collector) dealloc(o Object) {
	switch hdr(o).typ {
	case ListType:
		listDealloc(c, o)
	case TupleType:
		tupleDealloc(c, o)
	case DictType:
		dictDealloc(c, o)
	default:
		typeOf(o).dealloc(c, o)
	}
}

// atomDealloc frees an int or str.
func atomDealloc(c *Collector, o Object) { c.atomFree(o) }
