package gcmodule

// Instances of classes: what a Python class statement produces, reduced
// to what the collector cares about. A class is a registered type whose
// finalizer (__del__), legacy finalizer (tp_del) and __call__ are Go
// functions in the type table. An instance keeps its attributes in a hash
// table of its own, like CPython 3.11's inline values: a = A(); a.a = a
// is one object to the collector (collect() returns 1), not an instance
// plus a __dict__. Instances are tracked from creation and support weak
// references.

type instBody struct {
	attrs    uintptr // attribute table (dicttable.go), or 0
	weaklist Object
}

const instBodySize = 16

func instOf(o Object) *instBody { return at[instBody](body(o)) }

// ClassSpec describes a class for NewClass.
type ClassSpec struct {
	Name string
	// Finalize is __del__ (PEP 442): called at most once, by the last
	// Decref or by the collector when the instance is cyclic garbage;
	// storing a new reference to self resurrects the instance.
	Finalize func(c *Collector, self Object)
	// Del is a legacy tp_del (_testcapi.with_tp_del): run on every
	// deallocation by reference counting, but an instance with one that
	// is part of cyclic garbage is never freed; it goes to Garbage.
	Del func(c *Collector, self Object)
	// Call is __call__ with one argument; it lets instances serve as weak
	// reference callbacks (a bound method is an instance of a class
	// whose Call invokes the method on an attribute).
	Call func(c *Collector, self, arg Object)
}

// NewClass registers a class and returns its type. It is safe for
// concurrent use; classes are never unregistered.
func NewClass(spec ClassSpec) Type {
	if spec.Name == "" {
		panic("gcmodule: NewClass: the class needs a Name")
	}
	return register(&typeDesc{
		name:     spec.Name,
		kind:     kindInstance,
		gc:       true,
		size:     instBodySize,
		weaklist: hdrSize + 8,
		traverse: instanceTraverse,
		clear:    instanceClear,
		release:  instanceClear,
		finalize: spec.Finalize,
		del:      spec.Del,
		call:     spec.Call,
		dealloc:  subtypeDealloc,
	})
}

// NewInstance returns a new instance of class cls (cls()), tracked, with
// no attributes; Nil when memory is exhausted.
func (c *Collector) NewInstance(cls Type) Object {
	if cls.desc("NewInstance").kind != kindInstance {
		panic("gcmodule: NewInstance(" + cls.Name() + "): not a class from NewClass")
	}
	return c.NewObject(cls)
}

// intern returns the str object for an attribute name, shared by all
// instances; interned names live as long as the collector.
func (c *Collector) intern(name string) Object {
	if s, ok := c.interned[name]; ok {
		return s
	}
	s := c.NewStr(name)
	if s != Nil {
		c.interned[name] = s
	}
	return s
}

// SetAttr sets o.name = v, taking a reference to v, which must not be Nil
// (DelAttr deletes). It returns ErrNoMemory when the table cannot grow.
func (c *Collector) SetAttr(o Object, name string, v Object) error {
	c.checkKind("SetAttr", o, kindInstance)
	c.check("SetAttr", v)
	k := c.intern(name)
	if k == Nil {
		return ErrNoMemory
	}
	return c.tableSet(&instOf(o).attrs, k, v)
}

// GetAttr returns o.name, borrowed, and whether o has it.
func (c *Collector) GetAttr(o Object, name string) (Object, bool) {
	c.checkKind("GetAttr", o, kindInstance)
	k, ok := c.interned[name]
	if !ok {
		return Nil, false
	}
	return tableGet(instOf(o).attrs, k)
}

// DelAttr deletes o.name (del o.name) and reports whether it was there.
func (c *Collector) DelAttr(o Object, name string) bool {
	c.checkKind("DelAttr", o, kindInstance)
	k, ok := c.interned[name]
	if !ok {
		return false
	}
	return c.tableDel(instOf(o).attrs, k)
}

// instanceTraverse visits the attribute values in insertion order
// (_PyObject_VisitInstanceAttributes).
func instanceTraverse(o Object, visit func(Object)) { tableTraverse(instOf(o).attrs, visit) }

// instanceClear is subtype_clear: drop the attributes.
func instanceClear(c *Collector, o Object) {
	b := instOf(o)
	t := b.attrs
	b.attrs = 0
	c.tableFree(t)
}

// subtypeDealloc is subtype_dealloc, the tp_dealloc of classes and of
// types from RegisterType: finalizer, weak references, legacy finalizer,
// then the type's own release and the free. Either finalizer may
// resurrect the object, which then stays alive (and tracked).
func subtypeDealloc(c *Collector, o Object) {
	t := typeOf(o)
	if !t.gc {
		// No GC head: no FINALIZED bit, so __del__ runs again each time
		// the object is resurrected and released.
		if t.finalize != nil && c.callFinalizerFromDealloc(o, t) {
			return
		}
		if t.del != nil && c.callDelFromDealloc(o, t) {
			return
		}
		if t.weaklist != 0 && *weaklist(o, t) != Nil {
			c.clearWeakRefs(o, t)
		}
		if t.release != nil {
			t.release(c, o)
		}
		c.atomFree(o)
		return
	}
	untrack(o)
	if c.trashBegin(o) {
		return
	}
	defer c.trashEnd()
	if t.finalize != nil {
		c.track(o)
		if c.callFinalizerFromDealloc(o, t) {
			return
		}
		untrack(o)
	}
	// Weak references are cleared, and their callbacks run, after the
	// finalizer and before tp_del.
	if t.weaklist != 0 && *weaklist(o, t) != Nil {
		c.clearWeakRefs(o, t)
	}
	if t.del != nil {
		c.track(o)
		if c.callDelFromDealloc(o, t) {
			return
		}
		untrack(o)
	}
	if (t.finalize != nil || t.del != nil) && t.weaklist != 0 {
		// Weak references made by the finalizers die quietly.
		for l := weaklist(o, t); *l != Nil; {
			unlinkWeakref(*l)
		}
	}
	if t.release != nil {
		t.release(c, o)
	}
	c.gcFree(o)
}

// callFinalizerFromDealloc is PyObject_CallFinalizerFromDealloc: run the
// finalizer with the object temporarily alive, and report whether it came
// back to life.
func (c *Collector) callFinalizerFromDealloc(o Object, t *typeDesc) bool {
	h := hdr(o)
	h.refcnt = 1
	if !t.gc || !gcIsFinalized(asGC(o)) {
		c.callFinalizer(o, t)
		if t.gc {
			gcSetFinalized(asGC(o))
		}
	}
	if h.refcnt <= 0 {
		panic(usage("Decref", o, "refcount is too small after its finalizer ran"))
	}
	h.refcnt--
	return h.refcnt != 0
}

// callDelFromDealloc is slot_tp_del: the same dance for a legacy
// finalizer, which has no once-only bit.
func (c *Collector) callDelFromDealloc(o Object, t *typeDesc) bool {
	h := hdr(o)
	h.refcnt = 1
	c.callDel(o, t)
	if h.refcnt <= 0 {
		panic(usage("Decref", o, "refcount is too small after its legacy finalizer ran"))
	}
	h.refcnt--
	return h.refcnt != 0
}

func (c *Collector) callFinalizer(o Object, t *typeDesc) {
	defer c.catch("", o)
	t.finalize(c, o)
}

func (c *Collector) callDel(o Object, t *typeDesc) {
	defer c.catch("", o)
	t.del(c, o)
}
