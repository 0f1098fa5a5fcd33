package pymalloc

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// New returns a zeroed T in pymalloc memory (the OBJ domain), or nil when
// memory is exhausted. T must not contain Go pointers (pointers, strings,
// slices, maps, channels, functions, interfaces): the garbage collector
// does not see this memory, so it would not keep their targets alive. New
// panics on such a T, naming the type and the field; under the debug hooks
// the same message is reported as a Fault (FaultGoPointer), and New
// returns nil in ContinueOnFault mode. A zero-size T still gets a block of
// its own, as malloc(0) does in CPython (unlike Go's new, which shares
// one address): every value from New must be deleted.
func New[T any]() *T {
	if !mustBePointerFree[T]("New") {
		return nil
	}
	var zero T
	return (*T)(Calloc(1, unsafe.Sizeof(zero)))
}

// Delete frees a value from New. Delete(nil) does nothing. A pointer
// inside a value (&v.Field past the first), which the pools could not
// tell from a block of their own, as CPython's cannot, is refused, as
// FreeSlice refuses a re-sliced slice; so is any pointer the heap refuses
// (a Go pointer, a value deleted already and noticed as such). Both panic
// with an obmalloc.Fault whose Call names Delete and T. Under the debug
// hooks, which diagnose every pointer themselves, the fault is theirs
// instead (a Fault naming pymalloc.Free, and no panic in
// ContinueOnFault mode); the same holds for FreeSlice and ResizeSlice.
func Delete[T any](p *T) {
	if p == nil {
		return
	}
	mustStartBlock[T]("Delete", unsafe.Pointer(p), "a pointer inside a value (&v.Field) cannot be deleted")
	defer blameHelper[T]("Delete", "a pointer from New, once")
	Free(unsafe.Pointer(p))
}

// MakeSlice returns a zeroed []T of length and capacity n in pymalloc
// memory, or nil when memory is exhausted or n*size overflows (under the
// debug hooks an overflow is a FaultCallocOverflow). The same rule as New
// applies to T. It panics when n is negative. MakeSlice(0) returns an
// empty, non-nil slice that holds a block, like New of a zero-size T: free
// it as any other.
func MakeSlice[T any](n int) []T {
	if !mustBePointerFree[T]("MakeSlice") {
		return nil
	}
	if n < 0 {
		panic(fmt.Sprintf("pymalloc: MakeSlice[%v](%d): negative length", reflect.TypeFor[T](), n))
	}
	var zero T
	p := Calloc(uintptr(n), unsafe.Sizeof(zero))
	if p == nil {
		return nil
	}
	return unsafe.Slice((*T)(p), n)
}

// ResizeSlice is PyMem_Resize for a slice from MakeSlice: it reallocates
// s's block to hold n values of T and returns the slice of length and
// capacity n over it, the first min(cap(s), n) values kept and any after
// them zeroed. s must not be used afterwards (the block may have moved),
// unless ResizeSlice returns nil: memory is exhausted or n*size
// overflows, and s is left as it was. A nil s is MakeSlice(n). Like
// FreeSlice, it refuses a slice re-sliced from its start, and like
// MakeSlice it panics when n is negative. It is what append cannot do
// here: append beyond the capacity moves the values to the Go heap and
// leaves the block behind.
func ResizeSlice[T any](s []T, n int) []T {
	if s == nil {
		return MakeSlice[T](n)
	}
	if n < 0 {
		panic(fmt.Sprintf("pymalloc: ResizeSlice[%v](%d): negative length", reflect.TypeFor[T](), n))
	}
	var zero T
	size := unsafe.Sizeof(zero)
	if size != 0 && uintptr(n) > pySsizeTMax/size {
		return nil
	}
	old := cap(s)
	p := unsafe.Pointer(unsafe.SliceData(s[:old]))
	mustStartBlock[T]("ResizeSlice", p, "a slice re-sliced from its start (s[k:]) cannot be resized")
	q := func() unsafe.Pointer {
		defer blameHelper[T]("ResizeSlice", "a slice from MakeSlice or ResizeSlice, as it came or as s[:k]")
		return Realloc(p, uintptr(n)*size)
	}()
	if q == nil {
		return nil
	}
	out := unsafe.Slice((*T)(q), n)
	if n > old {
		clear(out[old:]) // Realloc leaves the growth uninitialised (0xCD under the debug hooks)
	}
	return out
}

// FreeSlice frees a slice from MakeSlice or ResizeSlice; a nil slice
// does nothing. s must start where MakeSlice's did: re-sliced from its start (s[k:]), it
// points inside the block, which the pools cannot tell from a block of
// their own, as CPython's cannot, and freeing it would corrupt the pool;
// FreeSlice panics instead, with an obmalloc.Fault. (append beyond the
// capacity makes a Go slice, which Free refuses as foreign.)
func FreeSlice[T any](s []T) {
	if s == nil {
		return
	}
	p := unsafe.Pointer(unsafe.SliceData(s[:cap(s)]))
	mustStartBlock[T]("FreeSlice", p, "a slice re-sliced from its start (s[k:]) cannot be freed")
	defer blameHelper[T]("FreeSlice", "a slice from MakeSlice, once, as it came or as s[:k]; append beyond its capacity moves it to the Go heap")
	Free(p)
}

// mustStartBlock panics, naming the helper and T, when p lies in a pool
// block of the default heap but not at its start (poolBlockStart).
func mustStartBlock[T any](name string, p unsafe.Pointer, why string) {
	if !poolBlockStart(p) {
		panic(obmalloc.Fault{Call: helperCall[T](name), Addr: uintptr(p), Problem: "not the start of a block: " + why})
	}
}

// helperCall is the Call of a typed helper's Fault: "Delete[main.point]".
func helperCall[T any](name string) string {
	return fmt.Sprintf("%s[%v]", name, reflect.TypeFor[T]())
}

// blameHelper, deferred by a typed helper around its Free, turns the
// heap's Fault (which names Free) into one that names the helper and T
// and says what the helper takes, so that the message points at the call
// the user wrote. Other panics go on unchanged.
func blameHelper[T any](name, takes string) {
	r := recover()
	if r == nil {
		return
	}
	if f, ok := r.(obmalloc.Fault); ok {
		f.Call = helperCall[T](name)
		f.Problem += " (" + name + " takes only " + takes + ")"
		panic(f)
	}
	panic(r)
}

// poolBlockStart reports whether p, when it lies in a pool of the default
// heap serving the OBJ domain without hooks, is where a block of the
// pool's class starts; any other p is left to Free to judge (the hooks
// and the large-block allocator recognise interior pointers themselves).
func poolBlockStart(p unsafe.Pointer) bool {
	if belowTracer(obj()) != Allocator(defaultHeap) {
		return true
	}
	start, ok := defaultHeap.liveBlockAt(p)
	return start || !ok
}

// pointerFree caches, per type, the path to its first Go pointer ("" when
// it has none).
var pointerFree sync.Map // reflect.Type -> string

// mustBePointerFree panics when T holds a Go pointer: with a string
// naming the type and the field, or, under the debug hooks, with a Fault
// carrying the same words after the report. It returns false only in
// ContinueOnFault mode, after the report.
func mustBePointerFree[T any](call string) bool {
	t := reflect.TypeFor[T]()
	v, ok := pointerFree.Load(t)
	if !ok {
		v, _ = pointerFree.LoadOrStore(t, goPointerPath(t, ""))
	}
	path := v.(string)
	if path == "" {
		return true
	}
	msg := fmt.Sprintf("type %v holds a Go pointer at %s; pymalloc memory is invisible to the Go garbage collector", t, path)
	name := fmt.Sprintf("pymalloc.%s[%v]", call, t)
	if DebugHooksInstalled() {
		raise(goPointerFault(name, msg))
		return false
	}
	panic(fmt.Sprintf("pymalloc: %s[%v]: %s", call, t, msg))
}

// goPointerPath returns where in t a Go pointer lives (".Field[0]" style,
// "value" for t itself), or "".
func goPointerPath(t reflect.Type, at string) string {
	here := at
	if here == "" {
		here = "the value itself"
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.UnsafePointer, reflect.Map, reflect.Chan, reflect.Func,
		reflect.Interface, reflect.Slice, reflect.String:
		return fmt.Sprintf("%s (%v)", here, t)
	case reflect.Array:
		if t.Len() == 0 {
			return ""
		}
		return goPointerPath(t.Elem(), at+"[0]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if p := goPointerPath(f.Type, at+"."+f.Name); p != "" {
				return p
			}
		}
	}
	return ""
}
