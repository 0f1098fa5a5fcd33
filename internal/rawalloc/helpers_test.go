package rawalloc

import (
	"errors"
	"sync"
	"testing"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// testMapper wraps mmap.Map so that a test can make mapping fail (to
// inject out-of-memory) and refuse sizes above a limit.
type testMapper struct {
	mu       sync.Mutex
	calls    int     // map calls so far, failed ones included
	failFrom int     // calls numbered >= failFrom fail (0: never)
	maxSize  uintptr // sizes above it fail (0: no limit)
	off      bool    // every call fails
	// offset, when not 0, makes each mapping start offset bytes (a
	// multiple of 16 below a page) into a larger mmap.Map mapping, so not
	// on a page, which a MapFunc may do: the heap must then never decommit
	// or remap it. Such memory is released with m.unmapAll, not the heap's.
	offset uintptr
	// maps and mapped count the mappings handed out and their bytes (as
	// asked for), which a heap's Stats must match; under lists the
	// mmap.Map mappings beneath them when offset is not 0.
	maps   int
	mapped uintptr
	under  [][2]uintptr
}

func (m *testMapper) mapFn(size uintptr) unsafe.Pointer {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.off || (m.failFrom > 0 && m.calls >= m.failFrom) || (m.maxSize > 0 && size > m.maxSize) {
		return nil
	}
	whole := size
	if m.offset != 0 {
		whole = roundUp(m.offset+size, pageBytes)
	}
	p := mapWithMmap(whole)
	if p == nil {
		return nil
	}
	if m.offset != 0 {
		m.under = append(m.under, [2]uintptr{uintptr(p), whole})
		p = unsafe.Add(p, m.offset)
	}
	m.maps++
	m.mapped += size
	return p
}

// unmapAll unmaps every mapping of an offset mapper; the heaps that used
// it must not be used again.
func (m *testMapper) unmapAll(tb testing.TB) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.under {
		if err := mmap.Unmap(ptr(r[0]), r[1]); err != nil {
			tb.Error(err)
		}
	}
	m.under = nil
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

// newMapperHeap is newTestHeap for a heap that maps through m. The memory
// of an offset mapper goes back to the OS through m: the heap's regions do
// not start where mmap.Map's mappings do.
func newMapperHeap(tb testing.TB, m *testMapper) *Heap {
	tb.Helper()
	if m.offset == 0 {
		return newTestHeap(tb, m.mapFn)
	}
	h := New(m.mapFn)
	tb.Cleanup(func() { m.unmapAll(tb) })
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

// Blocks are filled and checked in full up to fullBytes; past it only the
// first sampleBytes of every page are, at offsets that do not depend on the
// block's size, so that a prefix of a filled block still verifies and the
// fuzzer's multi-megabyte blocks (a few hundred per input, each filled and
// checked word by word under coverage instrumentation) stay fast. A big
// block is moved or remapped a page at a time, so a page lost or misplaced
// is still caught, and small blocks are checked whole.
const (
	fullBytes   = 64 << 10
	sampleBytes = 64
)

// eachWordRange calls f for each run [lo, hi) of the words of an n-byte
// block that fill writes and verify and allZero check.
func eachWordRange(n uintptr, f func(lo, hi int) bool) {
	words := int(n / 8)
	if !f(0, min(words, fullBytes/8)) {
		return
	}
	for lo := fullBytes / 8; lo < words; lo += int(pageBytes / 8) {
		if !f(lo, min(words, lo+sampleBytes/8)) {
			return
		}
	}
}

// tailSampled reports whether the n%8 bytes past an n-byte block's last
// whole word are among those filled and checked.
func tailSampled(n uintptr) bool {
	off := n / 8 * 8
	return off < fullBytes || off%pageBytes < sampleBytes
}

// fill writes a pattern derived from seed into the n bytes at p (16-byte
// aligned; past fullBytes, only the sampled words), a word at a time. Each
// word holds its own index, so a block copied to the wrong offset is caught.
func fill(p unsafe.Pointer, n uintptr, seed byte) {
	words := unsafe.Slice((*uint64)(p), n/8)
	eachWordRange(n, func(lo, hi int) bool {
		for i := lo; i < hi; i++ {
			words[i] = patternWord(seed, i)
		}
		return true
	})
	if tailSampled(n) {
		w := patternWord(seed, int(n/8))
		copy(bytesAt(uintptr(p)+n/8*8, n%8), (*[8]byte)(unsafe.Pointer(&w))[:])
	}
}

// verify returns the index of the first of the n bytes at p that differs
// from fill's pattern for seed (to the word), or -1. Any prefix of a
// filled block verifies.
func verify(p unsafe.Pointer, n uintptr, seed byte) int {
	words := unsafe.Slice((*uint64)(p), n/8)
	bad := -1
	eachWordRange(n, func(lo, hi int) bool {
		for i := lo; i < hi; i++ {
			if words[i] != patternWord(seed, i) {
				bad = i * 8
				return false
			}
		}
		return true
	})
	if bad >= 0 || !tailSampled(n) {
		return bad
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

// allZero reports whether the n bytes at p are zero where fill would
// have written (so a block that reuses a filled one is checked where the
// old pattern was).
func allZero(p unsafe.Pointer, n uintptr) bool {
	words := unsafe.Slice((*uint64)(p), n/8)
	zero := true
	eachWordRange(n, func(lo, hi int) bool {
		for _, w := range words[lo:hi] {
			if w != 0 {
				zero = false
				return false
			}
		}
		return true
	})
	if !zero || !tailSampled(n) {
		return zero
	}
	for _, c := range bytesAt(uintptr(p)+n/8*8, n%8) {
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
