package rawalloc

import "math/bits"

// Size classes of the class blocks. Up to linearMaxBytes the capacities
// grow in steps of alignBytes; above it every power-of-two interval
// (2^k, 2^(k+1)] is cut into stepsPerDoubling equal steps, which keeps the
// rounding waste under a quarter of the request while the number of classes
// (and so of free lists) stays small.
const (
	// alignBytes is the alignment of every block's data and the granule of
	// every capacity.
	alignBytes = 16
	// linearMaxBytes is the largest capacity of the linear classes.
	linearMaxBytes = 128
	// linearShift is log2(linearMaxBytes).
	linearShift = 7
	// linearClasses counts the classes 16, 32, ... linearMaxBytes.
	linearClasses = linearMaxBytes / alignBytes
	// stepsPerDoubling is the number of classes in each interval
	// (2^k, 2^(k+1)] above linearMaxBytes.
	stepsPerDoubling = 4
	// stepShift is log2(stepsPerDoubling).
	stepShift = 2
	// maxClassShift is log2(maxClassBytes).
	maxClassShift = 18
	// maxClassBytes is the capacity of the largest class: requests above it
	// get a big block with a mapping of its own.
	maxClassBytes = 1 << maxClassShift
	// numClasses is the number of size classes.
	numClasses = linearClasses + stepsPerDoubling*(maxClassShift-linearShift)
)

// classBytes holds the capacity in bytes of each class, in increasing order.
var classBytes = func() (caps [numClasses]uintptr) {
	for c := range caps {
		caps[c] = classCapacity(c)
	}
	return caps
}()

// classCapacity computes the capacity in bytes of class c; classBytes
// caches it.
func classCapacity(c int) uintptr {
	if c < linearClasses {
		return uintptr(c+1) * alignBytes
	}
	group := (c - linearClasses) / stepsPerDoubling
	step := (c - linearClasses) % stepsPerDoubling
	k := uint(group + linearShift) // the class lies in (2^k, 2^(k+1)]
	return 1<<k + uintptr(step+1)<<(k-stepShift)
}

// classOf returns the smallest class whose capacity holds n bytes. A
// request of 0 bytes gets the smallest class, like malloc(1). n must not
// exceed maxClassBytes.
func classOf(n uintptr) int {
	if n <= linearMaxBytes {
		if n == 0 {
			return 0
		}
		return int((n+alignBytes-1)/alignBytes) - 1
	}
	// 2^k < n <= 2^(k+1); the step inside that interval is (n-1-2^k) / 2^(k-2).
	k := bits.Len64(uint64(n-1)) - 1
	step := int((n - 1 - 1<<uint(k)) >> uint(k-stepShift))
	return linearClasses + (k-linearShift)*stepsPerDoubling + step
}

// classAtMost returns the largest class whose capacity is at most n bytes,
// or -1 if even the smallest class does not fit. It is used to carve a
// chunk's leftover tail into blocks.
func classAtMost(n uintptr) int {
	if n < alignBytes {
		return -1
	}
	if n >= maxClassBytes {
		return numClasses - 1
	}
	c := classOf(n)
	if classBytes[c] > n {
		c--
	}
	return c
}
