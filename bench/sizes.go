package bench

import (
	"math"
	"math/bits"
)

// maxRequest bounds the sizes the Go-side backends accept; larger
// requests fail with nil, as C allocators fail them, instead of panicking
// in make or overflowing an int. It is 1 TiB on 64-bit systems and
// math.MaxInt (2 GiB - 1) on 32-bit ones, where make and modernc.org/memory
// take an int. Every size in the public traces is below 2^31, so the
// traces replay the same on both.
const maxRequest = min(1<<40, math.MaxInt)

// callocSize returns nelem*elsize, and false when the product overflows or
// exceeds maxRequest (calloc then returns NULL).
func callocSize(nelem, elsize uintptr) (uintptr, bool) {
	hi, lo := bits.Mul64(uint64(nelem), uint64(elsize))
	return uintptr(lo), hi == 0 && lo <= maxRequest
}

// The 16-byte size classes up to 512 bytes that pymalloc uses, shared by
// the sync.Pool backend and the free list so that all three sort requests
// the same way.
const (
	classStep  = 16
	smallMax   = 512
	smallCount = smallMax / classStep // 32
)

// smallClass returns the class of a request of n <= smallMax bytes; a
// request of 0 bytes gets the smallest class, as in pymalloc.
func smallClass(n uintptr) uintptr {
	if n == 0 {
		return 0
	}
	return (n - 1) / classStep
}
