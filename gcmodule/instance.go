package gcmodule

import "unsafe"

// Instances of classes: what a Python class statement produces, reduced
// to what the collector cares about. A class is a registered type whose
// finalizer (__del__), legacy finalizer (tp_del) and __call__ are Go
// functions in the type table. Instances are tracked from creation and
// support weak references.
//
// Attributes are kept as CPython 3.11 keeps them (Objects/dictobject.c):
// each class has, in each collector, one list of attribute names, its
// shared keys, in the order instances first set them; an instance holds
// its values inline, in an array numbered by that list. So a = A();
// a.a = a is one object to the collector (collect() returns 1), and the
// collector visits, clears and releases an instance's attributes in the
// class's order, not in the order this instance set them. The shared
// keys take at most 30 names, and every new instance lowers that room by
// one: when an instance sets a name the list can no longer take, its
// attributes move to a __dict__ of its own, a dict object, as CPython
// materialises one.
//
//	instance body:  values ──> | size | norder | hi | values[size] | order[size] |
//	                dict   ──> a dict object, once materialised (values is then 0)
//	                weaklist

type instBody struct {
	values   uintptr // the inline values, or 0 once a dict holds the attributes
	dict     Object  // the materialised __dict__, or Nil
	weaklist Object
}

const (
	instBodySize     = 3 * ptrSize
	instWeaklistOffs = 2 * ptrSize // of weaklist in the body
)

// Checked at compile time: the sizes and the weaklist offset that the type
// table and the values blocks use are the structs'.
var (
	_ [instBodySize - unsafe.Sizeof(instBody{})]struct{}
	_ [unsafe.Sizeof(instBody{}) - instBodySize]struct{}
	_ [instWeaklistOffs - unsafe.Offsetof(instBody{}.weaklist)]struct{}
	_ [unsafe.Offsetof(instBody{}.weaklist) - instWeaklistOffs]struct{}
	_ [valuesHeadSize - unsafe.Sizeof(valuesHead{})]struct{}
	_ [unsafe.Sizeof(valuesHead{}) - valuesHeadSize]struct{}
)

func instOf(o Object) *instBody { return at[instBody](body(o)) }

// The inline values (PyDictValues): a MEM block of a head, the values
// numbered by the class's shared keys, and the order in which this
// instance set them (one byte per slot), which a materialised dict keeps.
type valuesHead struct {
	size   int32 // slots: the shared keys' room when the instance was made
	norder int32 // entries of order in use
	hi     int32 // one past the highest slot ever set: traversal stops here
	_      int32
}

const valuesHeadSize = 16

func valuesOf(v uintptr) *valuesHead { return at[valuesHead](v) }

func valuesSlot(v uintptr, i int) *Object {
	return at[Object](v + valuesHeadSize + uintptr(i)*ptrSize)
}

func valuesOrder(v uintptr, i int) *uint8 {
	return at[uint8](v + valuesHeadSize + uintptr(valuesOf(v).size)*ptrSize + uintptr(i))
}

// addToOrder is _PyDictValues_AddToInsertionOrder.
func addToOrder(v uintptr, ix int) {
	h := valuesOf(v)
	*valuesOrder(v, int(h.norder)) = uint8(ix)
	h.norder++
}

// deleteFromOrder is delete_index_from_values.
func deleteFromOrder(v uintptr, ix int) {
	h := valuesOf(v)
	n := int(h.norder)
	for i := 0; i < n; i++ {
		if int(*valuesOrder(v, i)) == ix {
			for ; i+1 < n; i++ {
				*valuesOrder(v, i) = *valuesOrder(v, i+1)
			}
			h.norder--
			return
		}
	}
}

// sharedKeysMaxSize is SHARED_KEYS_MAX_SIZE: the most names a class's
// shared keys hold.
const sharedKeysMaxSize = 30

// sharedKeys is a class's ht_cached_keys in one collector.
type sharedKeys struct {
	index  map[string]int // name -> slot
	names  []Object       // the interned names, by slot
	usable int            // dk_usable: names that may still be added
}

// keysOf returns t's shared keys in c, made as _PyDict_NewKeysForClass
// makes them (room for SHARED_KEYS_MAX_SIZE names, less one per instance).
func (c *Collector) keysOf(t *typeDesc) *sharedKeys {
	sk := c.classKeys[t]
	if sk == nil {
		sk = &sharedKeys{index: map[string]int{}, usable: sharedKeysMaxSize}
		c.classKeys[t] = sk
	}
	return sk
}

// insert is insert_into_dictkeys: name's slot, the next one if name is
// new and room remains, or -1.
func (sk *sharedKeys) insert(name string, k Object) int {
	if ix, ok := sk.index[name]; ok {
		return ix
	}
	if sk.usable <= 0 {
		return -1
	}
	ix := len(sk.names)
	sk.names = append(sk.names, k)
	sk.index[name] = ix
	sk.usable--
	return ix
}

// initInlineValues is init_inline_values: every new instance takes one
// from the room its class's shared keys have left (down to 1), and gets a
// slot for each name they hold or may still take.
func (c *Collector) initInlineValues(o Object, t *typeDesc) bool {
	sk := c.keysOf(t)
	if sk.usable > 1 {
		sk.usable--
	}
	size := len(sk.names) + sk.usable
	v := memCalloc(1, valuesHeadSize+uintptr(size)*(ptrSize+1))
	if v == 0 {
		return false
	}
	valuesOf(v).size = int32(size)
	instOf(o).values = v
	return true
}

// ClassSpec describes a class for NewClass.
type ClassSpec struct {
	// Name is the class's name (tp_name), which the debug output prints.
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
		panic(argUsage("NewClass", "", "the class needs a Name"))
	}
	return register("NewClass", &typeDesc{
		name:     spec.Name,
		kind:     kindInstance,
		gc:       true,
		size:     instBodySize,
		weaklist: hdrSize + instWeaklistOffs,
		traverse: instanceTraverse,
		clear:    instanceClear,
		release:  instanceRelease,
		finalize: spec.Finalize,
		del:      spec.Del,
		call:     spec.Call,
		dealloc:  subtypeDealloc,
	})
}

// NewInstance returns a new instance of class cls (cls()), tracked, with
// no attributes; Nil when memory is exhausted.
func (c *Collector) NewInstance(cls Type) Object {
	c.checkOpen("NewInstance")
	if cls.desc("NewInstance").kind != kindInstance {
		panic(argUsage("NewInstance", cls.Name(), "not a class from NewClass"))
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
// (DelAttr deletes). It returns ErrNoMemory when memory runs out: for the
// name's str, or for the __dict__ the instance gets once its class's
// shared keys (at most 30 names, less one per instance made) cannot take
// the name.
func (c *Collector) SetAttr(o Object, name string, v Object) error {
	c.checkKind("SetAttr", o, kindInstance)
	c.check("SetAttr", v)
	_, err := c.storeAttr(o, name, v)
	return err
}

// GetAttr returns o.name, borrowed, and whether o has it.
func (c *Collector) GetAttr(o Object, name string) (Object, bool) {
	c.checkKind("GetAttr", o, kindInstance)
	b := instOf(o)
	if v := b.values; v != 0 {
		sk := c.classKeys[typeOf(o)]
		if sk == nil {
			return Nil, false
		}
		ix, ok := sk.index[name]
		if !ok || ix >= int(valuesOf(v).size) {
			return Nil, false
		}
		x := *valuesSlot(v, ix)
		return x, x != Nil
	}
	k, ok := c.interned[name]
	if !ok || b.dict == Nil {
		return Nil, false
	}
	return tableGet(*dictTable(b.dict), k)
}

// DelAttr deletes o.name (del o.name) and reports whether it was there.
// As in CPython, deleting a name the instance does not have still adds
// it to the class's shared keys, or materialises the instance's __dict__
// when they are full.
func (c *Collector) DelAttr(o Object, name string) bool {
	c.checkKind("DelAttr", o, kindInstance)
	found, _ := c.storeAttr(o, name, Nil)
	return found
}

// storeAttr is _PyObject_StoreInstanceAttribute, or PyDict_SetItem /
// PyDict_DelItem on the materialised dict: o.name = v, or del o.name when
// v is Nil. found reports whether o had the name before.
func (c *Collector) storeAttr(o Object, name string, v Object) (found bool, err error) {
	k := c.intern(name)
	if k == Nil {
		return false, ErrNoMemory
	}
	b := instOf(o)
	if vals := b.values; vals != 0 {
		// ix < size always holds (an instance's size is the keys' names
		// plus room when it was made, a sum that never grows); checked
		// all the same, since a slot past the values would be memory
		// that is not theirs.
		if ix := c.keysOf(typeOf(o)).insert(name, k); ix >= 0 && ix < int(valuesOf(vals).size) {
			p := valuesSlot(vals, ix)
			old := *p
			if v != Nil {
				c.incref(v)
			}
			*p = v
			if h := valuesOf(vals); int32(ix) >= h.hi {
				h.hi = int32(ix) + 1
			}
			switch {
			case old == Nil && v == Nil:
				return false, nil
			case old == Nil:
				addToOrder(vals, ix)
			case v == Nil:
				deleteFromOrder(vals, ix)
			}
			c.decref(old)
			return old != Nil, nil
		}
		if err := c.materialize(o); err != nil {
			return false, err
		}
	}
	if b.dict == Nil {
		if v == Nil {
			return false, nil
		}
		if b.dict = c.NewDict(); b.dict == Nil {
			return false, ErrNoMemory
		}
	}
	if v == Nil {
		return c.tableDel(*dictTable(b.dict), k), nil
	}
	_, found = tableGet(*dictTable(b.dict), k)
	return found, c.DictSetItem(b.dict, k, v)
}

// materialize is make_dict_from_instance_attributes and the dict's
// conversion to a table of its own when a name that the shared keys
// cannot take arrives: a new dict holds o's attributes in the order o set
// them, and the inline values go. Making the dict may start a collection,
// which sees o as it was.
func (c *Collector) materialize(o Object) error {
	d := c.NewDict()
	if d == Nil {
		return ErrNoMemory
	}
	b := instOf(o)
	vals := b.values
	if vals == 0 {
		// A finalizer run by that collection materialised o meanwhile.
		c.decref(d)
		return nil
	}
	names := c.keysOf(typeOf(o)).names
	for i, n := 0, int(valuesOf(vals).norder); i < n; i++ {
		ix := int(*valuesOrder(vals, i))
		if err := c.DictSetItem(d, names[ix], *valuesSlot(vals, ix)); err != nil {
			c.decref(d)
			return err
		}
	}
	b.values, b.dict = 0, d
	c.freeValues(vals)
	return nil
}

// freeValues drops the references the inline values hold, in slot order,
// and frees them (_PyObject_FreeInstanceAttributes); the caller has
// detached them from the instance.
func (c *Collector) freeValues(v uintptr) {
	for i, n := 0, int(valuesOf(v).hi); i < n; i++ {
		if x := *valuesSlot(v, i); x != Nil {
			c.decref(x)
		}
	}
	memFree(v)
}

// instanceTraverse is subtype_traverse: the inline values in slot order
// (_PyObject_VisitInstanceAttributes), or the materialised dict. The
// collector's own walks repeat it with their visit written in
// (instanceDecref, instanceReachable in visit.go), and freeValues too:
// a change here goes there.
func instanceTraverse(o Object, visit func(Object)) {
	b := instOf(o)
	if v := b.values; v != 0 {
		for i, n := 0, int(valuesOf(v).hi); i < n; i++ {
			if x := *valuesSlot(v, i); x != Nil {
				visit(x)
			}
		}
	} else if b.dict != Nil {
		visit(b.dict)
	}
}

// instanceClear is subtype_clear: each attribute dropped in slot order,
// one at a time (_PyObject_ClearInstanceAttributes), then the
// materialised dict. The inline values stay, empty.
func instanceClear(c *Collector, o Object) {
	b := instOf(o)
	if v := b.values; v != 0 {
		for i := 0; i < int(valuesOf(v).hi); i++ {
			p := valuesSlot(v, i)
			if x := *p; x != Nil {
				*p = Nil
				deleteFromOrder(v, i)
				c.decref(x)
			}
		}
	}
	if d := b.dict; d != Nil {
		b.dict = Nil
		c.decref(d)
	}
}

// instanceRelease is the part of subtype_dealloc that drops the
// attributes: the materialised dict, or the inline values, detached
// first and then released in slot order.
func instanceRelease(c *Collector, o Object) {
	b := instOf(o)
	if d := b.dict; d != Nil {
		b.dict = Nil
		c.decref(d)
		return
	}
	if v := b.values; v != 0 {
		b.values = 0
		c.freeValues(v)
	}
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
