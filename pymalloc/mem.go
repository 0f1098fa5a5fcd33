package pymalloc

import (
	"encoding/binary"
	"unsafe"
)

// Off-heap memory access for the debug hooks: the only uses of unsafe in
// the package besides the unsafe.Pointer values of the public API and the
// typed helpers' conversions.
//
// Invariant for every helper: the addresses passed lie inside a block
// that a domain's allocator has handed out and not taken back (the debug
// registry says so before any memory is read). That memory comes from
// mmap, which the Go runtime neither scans nor moves, so a pointer made
// from such an address can neither keep a Go object alive nor dangle into
// one; and no Go pointer is ever stored there.

// ptrAt turns an address back into a pointer. unsafe.Add from nil, rather
// than a conversion of the uintptr, states that the result is derived from
// no Go object.
func ptrAt(addr uintptr) unsafe.Pointer { return unsafe.Add(nil, addr) }

// bytesAt views the n bytes at addr; the slice must not outlive the call.
func bytesAt(addr, n uintptr) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(ptrAt(addr)), n)
}

// copyMem is copy, kept out of line: Go 1.26's compiler crashes
// ("disjointTypes: one of arguments is not a pointer") when it inlines a
// copy of constant size between a local array and memory reached through
// unsafe.Add(nil, ...), as Realloc's saved bytes are.
//
//go:noinline
func copyMem(dst, src []byte) int { return copy(dst, src) }

// fill sets n bytes at addr to b, doubling what is set with each copy,
// so large blocks are filled at memmove's speed.
func fill(addr, n uintptr, b byte) {
	s := bytesAt(addr, n)
	if len(s) == 0 {
		return
	}
	s[0] = b
	for done := 1; done < len(s); done *= 2 {
		copy(s[done:], s[:done])
	}
}

// readSize reads the big-endian size field of a debug block at base.
func readSize(base uintptr) uint64 { return binary.BigEndian.Uint64(bytesAt(base, 8)) }

// writeSize writes the big-endian size field of a debug block at base.
func writeSize(base uintptr, n uintptr) { binary.BigEndian.PutUint64(bytesAt(base, 8), uint64(n)) }

// pcsKey turns a stack of program counters into a map key: the bytes of
// the slice, copied into a string. The slice holds plain integers, so
// viewing its memory as bytes is safe; the string does not alias it.
func pcsKey(pcs []uintptr) string {
	if len(pcs) == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(&pcs[0])), len(pcs)*int(unsafe.Sizeof(pcs[0]))))
}
