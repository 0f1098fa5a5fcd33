package rawalloc

import "unsafe"

// The only uses of unsafe in the package are the helpers below. Each takes
// an address that the Heap has already established lies inside one of its
// own mappings (memory from its MapFunc, i.e. from the operating system):
// the Go runtime never allocates, moves, scans or frees that memory, so a
// pointer made from such an address cannot hide or resurrect a Go object,
// and the memory stays valid as long as it is one of the heap's mappings:
// the Heap unmaps nothing before Close, and a big mapping that mmap.Remap
// moves leaves the heap's list in the same locked call, so no address of
// its old range is dereferenced again. Pages past a shrunk big block's
// capacity, or of a freed one, are decommitted, which keeps them mapped
// and usable, unless the decommit failed, after which they are never
// touched (the mapping is lost, big.go). Nothing stored in that memory is
// a Go pointer; addresses in it are plain uintptr values.

// ptr turns an address inside one of the heap's mappings back into a
// pointer. unsafe.Add from nil, rather than a conversion of the uintptr,
// states that the result is not derived from any Go object.
func ptr(addr uintptr) unsafe.Pointer {
	return unsafe.Add(nil, addr)
}

// wordAt returns the machine word at addr (aligned to at least 8 bytes),
// which lies inside one of the heap's mappings.
func wordAt(addr uintptr) *uintptr {
	return (*uintptr)(ptr(addr))
}

// bytesAt views the n bytes at addr, which lie inside one of the heap's
// mappings, as a byte slice for copy and clear. The slice must not outlive
// the call that made it.
func bytesAt(addr, n uintptr) []byte {
	return unsafe.Slice((*byte)(ptr(addr)), n)
}
