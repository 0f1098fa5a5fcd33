package gcmodule

import (
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/callers"

	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// The one place that turns an address into a pointer.
//
// Objects, their GC heads, list item arrays, dict tables and the
// collector's list heads all live in pymalloc memory (arenas mapped from
// the OS, or the large-block allocator's chunks). The Go garbage collector
// never scans that memory and never moves it, so the package keeps every
// link there as a plain uintptr and makes a pointer only for the access
// itself. Invariant: every address passed to at, word or setWord is inside
// a block that pymalloc handed out and that has not been freed; none of
// that memory ever holds a Go pointer.

// at views the memory at addr as a T. T must hold no Go pointers.
func at[T any](addr uintptr) *T { return (*T)(unsafe.Add(nil, addr)) }

// word reads the pointer-sized word at addr.
func word(addr uintptr) uintptr { return *at[uintptr](addr) }

// setWord writes the pointer-sized word at addr.
func setWord(addr, v uintptr) { *at[uintptr](addr) = v }

// words views n consecutive words at addr (list items, tuple items).
func words(addr uintptr, n int) []Object {
	if n == 0 {
		return nil
	}
	return unsafe.Slice(at[Object](addr), n)
}

// bytesAt views n bytes at addr (str data).
func bytesAt(addr uintptr, n int) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice(at[byte](addr), n)
}

// The OBJ domain (PyObject_Malloc) holds objects; the MEM domain
// (PyMem_Malloc) holds their variable-size parts, as in CPython.

// This package allocates through pymalloc for the program, as CPython's
// object constructors do for Python code: a traced block's traceback
// (pymalloc's tracemalloc) starts at the program's call, without this
// package's frames, as tracemalloc's tracebacks hold Python frames and
// none of the interpreter's.
func init() { callers.RegisterLayer() }

func objMalloc(n uintptr) uintptr { return uintptr(pymalloc.Malloc(n)) }
func objFree(addr uintptr)        { pymalloc.Free(unsafe.Add(nil, addr)) }

func memMalloc(n uintptr) uintptr           { return uintptr(pymalloc.MemMalloc(n)) }
func memCalloc(nelem, size uintptr) uintptr { return uintptr(pymalloc.MemCalloc(nelem, size)) }
func memFree(addr uintptr)                  { pymalloc.MemFree(unsafe.Add(nil, addr)) }
func memRealloc(addr, n uintptr) uintptr {
	return uintptr(pymalloc.MemRealloc(unsafe.Add(nil, addr), n))
}

// ptrSize is the word: every link, item and slot in object memory is
// one, so the layouts follow the platform's word size (8 bytes on 64-bit
// systems, 4 on 32-bit ones) as CPython's do. Every size and offset of
// the layouts is derived from it or from the structs.
const ptrSize = unsafe.Sizeof(uintptr(0))

// Data returns the address of o's data (the Size bytes of a type from
// RegisterType), for types that keep more than object slots there. The
// memory must never hold a Go pointer.
func Data(o Object) unsafe.Pointer { return unsafe.Add(nil, body(o)) }
