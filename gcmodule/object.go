package gcmodule

import (
	"fmt"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// Object is a handle to an object: the address of its header in pymalloc
// memory (CPython's PyObject*). It is a plain integer, so the Go garbage
// collector neither scans nor keeps what it points to; the object lives
// exactly as long as its reference count says. Nil (0) is "no object",
// C's NULL: list and tuple items may hold it, and traverse functions
// skip it.
type Object uintptr

// Nil is the absent object (NULL).
const Nil Object = 0

// Memory layout, with W the word (ptrSize: 8 on 64-bit systems, 4 on
// 32-bit ones).
//
//	container (GC) object            atom (non-GC) object
//	h-2W  _gc_next   uintptr         h+0   ob_refcnt int64
//	h-W   _gc_prev   uintptr         h+8   type, flags, tag
//	h+0   ob_refcnt  int64           h+16  data ...
//	h+8   type, flags, tag
//	h+16  data ...
//
// The handle points at the reference count, as PyObject* does, and the GC
// head sits in front of it (AS_GC / FROM_GC). A block from pymalloc is
// 16-byte aligned (8 at least, whatever allocator the OBJ domain holds),
// so the low bits of a head address are free for flags, and a handle is
// 8-byte aligned on both word sizes (a head is 8 or 16 bytes), as the
// int64 count wants.
//
// The header is 16 bytes on both word sizes: a 32-bit CPython's PyObject
// is 8 (a 4-byte count and type pointer), but the check word matters more
// here than matching that size.
const (
	gcHeadSize = 2 * ptrSize                // sizeof(PyGC_Head): two words
	hdrSize    = unsafe.Sizeof(objHeader{}) // sizeof(PyObject): refcount + type word
)

// Checked at compile time: the header is 16 bytes on both word sizes,
// which keeps a handle 8-byte aligned behind a GC head.
var (
	_ [hdrSize - 16]struct{}
	_ [16 - hdrSize]struct{}
)

// objHeader is PyObject: the reference count, then what stands in for
// ob_type. tag is a check word derived from the address and the
// collector; it lets a bad handle be reported instead of followed.
type objHeader struct {
	refcnt int64
	typ    Type
	flags  uint16
	tag    uint32
}

const (
	flagGC uint16 = 1 << iota // the object carries a GC head (_PyObject_IS_GC)
	// flagUnreachable is NEXT_MASK_UNREACHABLE, kept in the header instead
	// of _gc_next so that the unreachable list is an ordinary list at once.
	// It means something only while COLLECTING is set: resetRefs clears it.
	flagUnreachable
)

func hdr(o Object) *objHeader { return at[objHeader](uintptr(o)) }

// body is the address of the object's data, just past the header.
func body(o Object) uintptr { return uintptr(o) + hdrSize }

func isGC(o Object) bool { return hdr(o).flags&flagGC != 0 }

// asGC is AS_GC: the head in front of a container object.
func asGC(o Object) uintptr { return uintptr(o) - gcHeadSize }

// fromGC is FROM_GC: the object behind a head.
func fromGC(g uintptr) Object { return Object(g + gcHeadSize) }

// tagFor is the check word of a live object of this collector at o.
func (c *Collector) tagFor(o Object) uint32 {
	return uint32((uint64(o)>>4)*0x9E3779B97F4A7C15>>32) ^ c.salt
}

// deadTag is written over the check word when the object is freed, so a
// later use of the handle is reported as use of a dead object (until the
// memory is handed out again).
func (c *Collector) deadTag(o Object) uint32 { return ^c.tagFor(o) }

// check validates a handle passed to a public function and returns its
// header. It costs a range test and one compare; anything that fails goes
// to the slow path, which panics with a *UsageError.
func (c *Collector) check(call string, o Object) *objHeader {
	a := uintptr(o)
	if a < c.lo || a >= c.hi || a&7 != 0 {
		c.badHandle(call, o)
	}
	h := hdr(o)
	if h.tag != c.tagFor(o) {
		c.badHandle(call, o)
	}
	return h
}

// UsageError is the panic value for every misuse of the API: a dead
// object, a reference count that would go negative, a handle that is not
// an object, a wrong type, an invalid generation or threshold, an
// inconsistent type spec. It names the call, what the call was given and
// the fault, so that a program can tell misuse from its own panics by
// type alone:
//
//	gcmodule: ListLen(0x7f3a2c1e0a30): object is dead: it was deallocated
//	gcmodule: Collect(3): invalid generation
//	gcmodule: SetThreshold: takes at most 3 arguments (4 given)
//
// Where Python's gc module raises an error for the same misuse (a
// ValueError from gc.collect or gc.get_objects, the TypeError and
// OverflowError of gc.set_threshold's arguments), Fault is CPython's text.
type UsageError struct {
	Call string // the function or method, as the package names it
	// Addr is the object at fault, for a fault about an object; 0 for
	// any other (and for Nil).
	Addr uintptr
	// Args is what the message shows between the call's parentheses: the
	// object's address, the argument at fault ("3" for Collect(3)), or ""
	// (no parentheses) when the fault is the call's as a whole.
	Args  string
	Fault string // what was wrong
}

func (e *UsageError) Error() string {
	if e.Args == "" {
		return "gcmodule: " + e.Call + ": " + e.Fault
	}
	return "gcmodule: " + e.Call + "(" + e.Args + "): " + e.Fault
}

// usage is the UsageError for a fault about object o.
func usage(call string, o Object, format string, args ...any) *UsageError {
	return &UsageError{Call: call, Addr: uintptr(o), Args: fmt.Sprintf("%#x", uintptr(o)), Fault: fmt.Sprintf(format, args...)}
}

// argUsage is the UsageError for a fault about an argument that is not an
// object (shown as args), or about the call itself (args "").
func argUsage(call, args, format string, a ...any) *UsageError {
	return &UsageError{Call: call, Args: args, Fault: fmt.Sprintf(format, a...)}
}

//go:noinline
func (c *Collector) badHandle(call string, o Object) {
	a := uintptr(o)
	switch {
	case c.closed:
		panic(c.closedError(call))
	case c.broken != "":
		panic(usage(call, o, "the collector is unusable: %s", c.broken))
	case o == Nil:
		panic(usage(call, o, "nil object"))
	case a&7 != 0:
		panic(usage(call, o, "not an object: handles are 8-byte aligned"))
	case a < c.lo || a >= c.hi:
		panic(usage(call, o, "not an object: this collector never allocated an object at that address"))
	case hdr(o).tag == c.deadTag(o),
		// Under the debug hooks a freed block is filled with DeadByte,
		// over the dead tag.
		hdr(o).tag == pymalloc.DeadByte*0x01010101 && pymalloc.DebugHooksInstalled():
		panic(usage(call, o, "object is dead: it was deallocated"))
	}
	panic(usage(call, o, "not a live object of this collector (freed and reused, another collector's, or not an object)"))
}

// checkKind validates o and that it is of kind k.
func (c *Collector) checkKind(call string, o Object, k kind) *objHeader {
	h := c.check(call, o)
	if t := typeOf(o); t.kind != k {
		panic(usage(call, o, "expected %s, got %s", kindNames[k], t.name))
	}
	return h
}

// repr is CPython's "<type 0x...>" as the debug output prints it.
func repr(o Object) string {
	return fmt.Sprintf("<%s %#x>", typeOf(o).name, uintptr(o))
}
