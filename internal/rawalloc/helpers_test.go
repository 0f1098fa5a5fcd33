package rawalloc

import (
	"errors"
	"sync"
	"testing"
	"unsafe"
)

// testMapper wraps mmap.Map so that a test can make mapping fail (to
// inject out-of-memory) and refuse sizes above a limit.
type testMapper struct {
	mu       sync.Mutex
	calls    int     // map calls so far, failed ones included
	failFrom int     // calls numbered >= failFrom fail (0: never)
	maxSize  uintptr // sizes above it fail (0: no limit)
	off      bool    // every call fails
}

func (m *testMapper) mapFn(size uintptr) unsafe.Pointer {
	m.mu.Lock()
	m.calls++
	fail := m.off || (m.failFrom > 0 && m.calls >= m.failFrom) || (m.maxSize > 0 && size > m.maxSize)
	m.mu.Unlock()
	if fail {
		return nil
	}
	return mapWithMmap(size)
}

func (m *testMapper) setOff(off bool) {
	m.mu.Lock()
	m.off = off
	m.mu.Unlock()
}

// newTestHeap returns a heap whose mappings are unmapped when the test
// ends. A Heap never unmaps by design; tests and fuzzing create many heaps
// and must not accumulate their memory.
func newTestHeap(tb testing.TB, mapFn MapFunc) *Heap {
	tb.Helper()
	h := New(mapFn)
	tb.Cleanup(func() { h.unmapAll(tb) })
	return h
}

// unmapAll returns every mapping of h to the OS; h must not be used again.
// All test MapFuncs get their memory from mmap.Map.
func (h *Heap) unmapAll(tb testing.TB) {
	h.lock()
	defer h.unlock()
	if err := h.unmapLocked(); err != nil {
		tb.Error(err)
	}
}

// fill writes a pattern derived from seed into the n bytes at p (16-byte
// aligned), a word at a time so that fuzzing big blocks stays cheap. Each
// word holds its own index, so a block copied to the wrong offset is caught.
func fill(p unsafe.Pointer, n uintptr, seed byte) {
	words := unsafe.Slice((*uint64)(p), n/8)
	for i := range words {
		words[i] = patternWord(seed, i)
	}
	w := patternWord(seed, int(n/8))
	copy(bytesAt(uintptr(p)+n/8*8, n%8), (*[8]byte)(unsafe.Pointer(&w))[:])
}

// verify returns the index of the first of the n bytes at p that differs
// from fill's pattern for seed (to the word), or -1. Any prefix of a
// filled block verifies.
func verify(p unsafe.Pointer, n uintptr, seed byte) int {
	words := unsafe.Slice((*uint64)(p), n/8)
	for i := range words {
		if words[i] != patternWord(seed, i) {
			return i * 8
		}
	}
	// The tail is the first bytes of the next word, as memory holds it, so
	// any prefix of a filled block verifies.
	w := patternWord(seed, int(n/8))
	wb := (*[8]byte)(unsafe.Pointer(&w))
	for i, c := range bytesAt(uintptr(p)+n/8*8, n%8) {
		if c != wb[i] {
			return int(n/8*8) + i
		}
	}
	return -1
}

func patternWord(seed byte, i int) uint64 {
	return uint64(seed)*0x0101010101010101 ^ uint64(i)*0x9e3779b97f4a7c15
}

// allZero reports whether the n bytes at p are zero.
func allZero(p unsafe.Pointer, n uintptr) bool {
	for _, c := range bytesAt(uintptr(p), n) {
		if c != 0 {
			return false
		}
	}
	return true
}

// faultOf runs f and returns the Fault it panicked with; ok is false if f
// returned normally. A panic with anything else is re-raised.
func faultOf(f func()) (fault Fault, ok bool) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		err, isErr := r.(error)
		if !isErr || !errors.As(err, &fault) {
			panic(r)
		}
		ok = true
	}()
	f()
	return Fault{}, false
}

// add offsets a pointer into a block (for interior pointers).
func add(p unsafe.Pointer, off uintptr) unsafe.Pointer { return unsafe.Add(p, off) }
