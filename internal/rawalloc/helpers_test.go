package rawalloc

import (
	"bytes"
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

// The blocks' contents. fill copies its pattern from one shared buffer
// and verify and allZero compare with bytes.Equal, so every byte is
// written and checked by the runtime's memmove and memequal: those are
// not instrumented for coverage, where a loop in this file would be,
// word by word, which under go test -fuzz made a fuzz input of many big
// blocks take over 10 s.
var pattern struct {
	mu  sync.Mutex
	buf []byte // word k holds k*patternStep ^ patternXor, as memory holds it
}

const (
	patternStep = 0x9e3779b97f4a7c15
	patternXor  = 0x5bd1e9955bd1e995
	// patternSeedWords is how far apart, in words, two seeds' patterns
	// start in the buffer.
	patternSeedWords = 3
)

// patternOf returns the n bytes fill writes for seed. Each word holds its
// own index (offset by the seed's start), so a block copied to the wrong
// offset, or a page of another block, is caught; the bytes do not depend
// on n, so any prefix of a filled block verifies.
func patternOf(seed byte, n uintptr) []byte {
	off := uintptr(seed) * patternSeedWords * 8
	pattern.mu.Lock()
	defer pattern.mu.Unlock()
	if uintptr(len(pattern.buf)) < off+n {
		// Grown, never changed in place: a slice handed out stays valid.
		buf := make([]byte, roundUp(max(off+n, 2*uintptr(len(pattern.buf))), 8))
		words := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/8)
		for k := range words {
			words[k] = uint64(k)*patternStep ^ patternXor
		}
		pattern.buf = buf
	}
	return pattern.buf[off : off+n : off+n]
}

// fill writes the pattern for seed into the n bytes at p.
func fill(p unsafe.Pointer, n uintptr, seed byte) {
	copy(bytesAt(uintptr(p), n), patternOf(seed, n))
}

// verify returns the index of the first of the n bytes at p that differs
// from fill's pattern for seed, or -1.
func verify(p unsafe.Pointer, n uintptr, seed byte) int {
	got, want := bytesAt(uintptr(p), n), patternOf(seed, n)
	if bytes.Equal(got, want) {
		return -1
	}
	for i := range got {
		if got[i] != want[i] {
			return i
		}
	}
	panic("unreachable: bytes.Equal and the loop disagree")
}

// zeroChunk is what allZero compares with, a chunk at a time.
var zeroChunk [64 << 10]byte

// allZero reports whether the n bytes at p are zero.
func allZero(p unsafe.Pointer, n uintptr) bool {
	b := bytesAt(uintptr(p), n)
	for len(b) > 0 {
		k := min(len(b), len(zeroChunk))
		if !bytes.Equal(b[:k], zeroChunk[:k]) {
			return false
		}
		b = b[k:]
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

// withBigBudget lowers (or raises) the big cache's committed budget to
// bytes for the rest of the test.
func withBigBudget(tb testing.TB, bytes uintptr) {
	saved := bigCacheCommittedBytes
	bigCacheCommittedBytes = bytes
	tb.Cleanup(func() { bigCacheCommittedBytes = saved })
}
