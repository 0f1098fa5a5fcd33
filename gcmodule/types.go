package gcmodule

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
)

// Type identifies an object's type: a small integer into a process-wide
// table of type descriptors (CPython's ob_type, minus the pointer). The
// built-in types are registered when the package loads; RegisterType and
// NewClass add more. Types are never unregistered.
type Type uint16

// The built-in types. Their indices are fixed: they are registered, in
// this order, when the package is initialized.
const (
	IntType     Type = 1 + iota // int: an untracked atom holding an int64
	StrType                     // str: an untracked atom holding bytes
	ListType                    // list
	TupleType                   // tuple; collections untrack tuples that hold only atoms
	DictType                    // dict, tracked only once it may hold a container
	WeakrefType                 // weakref.ref, with an optional callback
)

// builtinTypes is the initial type table: index 0 (no type), then the
// built-in types at their constant indices. The table is made on first use,
// which may come from a package-level variable that registers a class,
// before init functions run.
func builtinTypes() []*typeDesc {
	tab := []*typeDesc{
		{name: "<invalid>"},
		IntType:   {name: "int", kind: kindInt, dealloc: atomDealloc},
		StrType:   {name: "str", kind: kindStr, dealloc: atomDealloc},
		ListType:  {name: "list", kind: kindList, gc: true, traverse: listTraverse, clear: listClear, dealloc: listDealloc},
		TupleType: {name: "tuple", kind: kindTuple, gc: true, traverse: tupleTraverse, dealloc: tupleDealloc},
		DictType:  {name: "dict", kind: kindDict, gc: true, traverse: dictTraverse, clear: dictClear, dealloc: dictDealloc},
		WeakrefType: {name: "weakref", kind: kindWeakref, gc: true,
			traverse: weakrefTraverse, clear: weakrefClear, dealloc: weakrefDealloc},
	}
	for i, t := range tab {
		t.index = Type(i)
		t.computeBits()
	}
	return tab
}

func init() {
	typesMu.Lock()
	if typeTab.Load() == nil {
		tab := builtinTypes()
		typeTab.Store(&tab)
	}
	typesMu.Unlock()
	Default = NewCollector()
}

// TypeSpec describes a type for RegisterType: CPython's type slots, as
// Go functions. The functions live in the Go-side type table; objects only
// carry the type's index.
type TypeSpec struct {
	// Name is what the debug output prints (tp_name).
	Name string

	// Size is the number of bytes of per-object data, after the header.
	// The data starts zeroed; Slot, SetSlot and Data reach it. It must
	// never hold a Go pointer: the Go garbage collector does not see it.
	Size uintptr

	// GC makes the type a container: objects carry a GC head, are
	// tracked from creation, and take part in collections
	// (Py_TPFLAGS_HAVE_GC). Traverse is then required.
	GC bool

	// Traverse calls visit on every object the object holds a strong
	// reference to (tp_traverse). It must not allocate, free, or change
	// any reference count; visit ignores Nil.
	Traverse func(o Object, visit func(Object))

	// Clear drops the references that may take part in cycles
	// (tp_clear); the collector calls it on cyclic garbage. Nil means the
	// type cannot break cycles itself (tuples are like that).
	Clear func(c *Collector, o Object)

	// Dealloc drops every reference the object holds and frees what it
	// owns, when its count reaches zero (the body of tp_dealloc; the
	// collector untracks, runs finalizers, clears weak references and
	// frees the object itself). Nil means Clear.
	Dealloc func(c *Collector, o Object)

	// Finalize is a PEP 442 finalizer (tp_finalize, Python's __del__):
	// called at most once per container object, before it is freed,
	// by the collector or by the last Decref. It may resurrect the
	// object by storing a new reference to it.
	Finalize func(c *Collector, o Object)

	// Del is a legacy finalizer (tp_del). A container with one that is
	// part of cyclic garbage is uncollectable: it and everything it
	// reaches go to Garbage instead of being freed.
	Del func(c *Collector, o Object)

	// Weakrefable lets weak references point to the objects
	// (tp_weaklistoffset != 0). The list head is kept after Size.
	Weakrefable bool

	// Call makes the objects callable with one argument, as weak
	// reference callbacks are called (tp_call).
	Call func(c *Collector, self, arg Object)
}

// kind says which built-in layout a type has.
type kind uint8

const (
	kindUser kind = iota
	kindInt
	kindStr
	kindList
	kindTuple
	kindDict
	kindWeakref
	kindInstance
)

var kindNames = [...]string{"user type", "int", "str", "list", "tuple", "dict", "weakref", "instance"}

// typeDesc is a type object: the spec plus what the collector derives.
type typeDesc struct {
	name      string
	index     Type
	kind      kind
	gc        bool
	size      uintptr // data bytes after the header (fixed part) of a user type's or class's object; the built-in constructors pass their own body sizes
	weaklist  uintptr // offset of the weak reference list from the handle; 0: none
	traverse  func(o Object, visit func(Object))
	clear     func(c *Collector, o Object)
	release   func(c *Collector, o Object) // user types: Dealloc or Clear
	finalize  func(c *Collector, o Object)
	del       func(c *Collector, o Object)
	call      func(c *Collector, self, arg Object)
	dealloc   func(c *Collector, o Object) // the whole tp_dealloc
	userClear bool                         // clear is user code: report its panics
	bits      typeBits                     // set by register
}

// typeBits says which of the collector's optional passes an object of
// the type may need.
type typeBits uint8

const (
	hasDel      typeBits = 1 << iota // legacy finalizer: move_legacy_finalizers
	hasWeakrefs                      // a weakref, or weakly referenceable: handle_weakrefs
	hasFinalize                      // tp_finalize: finalize_garbage
)

func (t *typeDesc) computeBits() {
	t.bits = 0
	if t.del != nil {
		t.bits |= hasDel
	}
	if t.kind == kindWeakref || t.weaklist != 0 {
		t.bits |= hasWeakrefs
	}
	if t.finalize != nil {
		t.bits |= hasFinalize
	}
}

var (
	typesMu sync.Mutex
	typeTab atomic.Pointer[[]*typeDesc] // copy on write; index 0 is invalid
)

// register adds t to the table for call (NewClass, RegisterType).
func register(call string, t *typeDesc) Type {
	typesMu.Lock()
	defer typesMu.Unlock()
	var old []*typeDesc
	if p := typeTab.Load(); p != nil {
		old = *p
	} else {
		old = builtinTypes()
	}
	if len(old) > 1<<16-1 {
		panic(argUsage(call, strconv.Quote(t.name), "too many types (%d): types are never unregistered", len(old)))
	}
	t.index = Type(len(old))
	t.computeBits()
	tab := make([]*typeDesc, len(old), len(old)+1)
	copy(tab, old)
	tab = append(tab, t)
	typeTab.Store(&tab)
	return t.index
}

// typeOf is Py_TYPE.
func typeOf(o Object) *typeDesc { return (*typeTab.Load())[hdr(o).typ] }

// RegisterType adds a type described by spec and returns it. It panics on
// an inconsistent spec (a container without Traverse, an empty name).
// Types are process-wide: any Collector can allocate objects of them with
// NewObject. RegisterType is safe for concurrent use.
func RegisterType(spec TypeSpec) Type {
	if spec.Name == "" {
		panic(argUsage("RegisterType", "", "the type needs a Name"))
	}
	if spec.GC && spec.Traverse == nil {
		panic(argUsage("RegisterType", strconv.Quote(spec.Name), "a GC type needs Traverse"))
	}
	size := (spec.Size + ptrSize - 1) &^ (ptrSize - 1)
	t := &typeDesc{
		name:     spec.Name,
		kind:     kindUser,
		gc:       spec.GC,
		size:     size,
		traverse: spec.Traverse,
		clear:    spec.Clear,
		finalize: spec.Finalize,
		del:      spec.Del,
		call:     spec.Call,
		dealloc:  subtypeDealloc,
	}
	t.userClear = spec.Clear != nil
	t.release = spec.Dealloc
	if t.release == nil {
		t.release = spec.Clear
	}
	if spec.Weakrefable {
		t.weaklist = hdrSize + size
		t.size += ptrSize
	}
	if t.traverse == nil {
		t.traverse = func(Object, func(Object)) {}
	}
	return register("RegisterType", t)
}

// Name is the type's name (tp_name).
func (t Type) Name() string {
	tab := *typeTab.Load()
	if int(t) == 0 || int(t) >= len(tab) {
		return fmt.Sprintf("Type(%d)", int(t))
	}
	return tab[t].name
}

func (t Type) desc(call string) *typeDesc {
	tab := *typeTab.Load()
	if int(t) == 0 || int(t) >= len(tab) {
		panic(argUsage(call, "", "unknown type %d", int(t)))
	}
	return tab[t]
}

// TypeOf returns the type of o.
func (c *Collector) TypeOf(o Object) Type {
	return c.check("TypeOf", o).typ
}

// Slot reads the i-th Object-sized word of o's data, for the Traverse of a
// type from RegisterType whose data is an array of object slots. It does
// not check its arguments (traverse functions run in the collector's inner
// loop); the result is a borrowed reference.
func Slot(o Object, i int) Object { return *at[Object](body(o) + uintptr(i)*ptrSize) }

// SetSlot stores v (which it increfs) in the i-th slot of o's data and
// drops the reference the slot held, as Py_XSETREF does.
func (c *Collector) SetSlot(o Object, i int, v Object) {
	c.check("SetSlot", o)
	t := typeOf(o)
	if t.kind != kindUser {
		panic(usage("SetSlot", o, "%s objects have no slots", t.name))
	}
	n := t.size / ptrSize
	if t.weaklist != 0 {
		n--
	}
	if i < 0 || uintptr(i) >= n {
		panic(usage("SetSlot", o, "slot %d out of range for %s (%d slots)", i, t.name, n))
	}
	if v != Nil {
		c.check("SetSlot", v)
	}
	p := at[Object](body(o) + uintptr(i)*ptrSize)
	old := *p
	c.incref(v)
	*p = v
	c.decref(old)
}

// NewObject allocates an object of a type from RegisterType or NewClass,
// with zeroed data and a reference count of 1; a container is tracked. It
// returns Nil when memory is exhausted.
func (c *Collector) NewObject(t Type) Object {
	c.checkOpen("NewObject")
	d := t.desc("NewObject")
	switch d.kind {
	case kindUser, kindInstance:
	default:
		panic(argUsage("NewObject", d.name, "use the %s constructor", d.name))
	}
	o := c.alloc(d, d.size)
	if o == Nil {
		return Nil
	}
	if d.gc {
		c.track(o)
	}
	if d.kind == kindInstance && !c.initInlineValues(o, d) {
		c.decref(o) // object_new: the values could not be had
		return Nil
	}
	return o
}
