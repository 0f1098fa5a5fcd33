package rawalloc

import (
	"errors"
	"math/bits"
	"sync"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// Heap is a large-block allocator: CPython's PyMem_RawMalloc family
// without a C library. A Heap from New is safe for concurrent use; one
// mutex guards it. A Heap from NewPrivate belongs to one goroutine at a
// time and takes no lock, as the C library's malloc skips its locks in a
// single-threaded process. The zero Heap is New(nil); a Heap must not be
// copied once used.
type Heap struct {
	mu      sync.Mutex
	private bool // no locking: the owner serialises the calls
	mapFn   MapFunc

	// regions are all the heap's mappings (chunks and big blocks), sorted
	// by start address and never overlapping. They decide, before any
	// memory is read, whether an address can be a block of the heap.
	regions []region

	// freeHead is the first free block (data address) of each class's LIFO
	// free list, 0 when empty; freeCount is the list's length.
	freeHead  [numClasses]uintptr
	freeCount [numClasses]int

	// The current chunk: blocks are carved at bump, and limit is its end.
	// cur is its start address, 0 before the first chunk.
	cur, bump, limit uintptr
	// chunkBytes is the size of all chunks together; it sets the size of
	// the next one.
	chunkBytes uintptr
	// The worker that populates the current chunk ahead of the bump
	// (ahead.go): a carve that takes the bump past aheadNext asks it for
	// more, up to aheadBytes beyond; aheadEnd is where the last request
	// ended.
	aheadNext, aheadEnd uintptr
	ahead               ahead
	aheadOn             bool // EnablePopulateAhead

	// bigFree caches the mappings of freed big blocks, sorted by size and
	// then address; bigCommitted is the size of those whose pages were not
	// decommitted.
	bigFree      []bigEntry
	bigCommitted uintptr

	stats Stats
}

// MapFunc maps size bytes of zeroed, read-write memory outside the Go heap
// and returns its start, or nil on failure. The start must be aligned to at
// least 16 bytes (a misaligned one panics) and should be page-aligned, and
// the memory must come from the operating system, as mmap.Map's does: the
// heap never unmaps it, but may pass whole pages of a big mapping (of a
// freed big block, or past the capacity of one that Realloc shrank) to
// mmap.Decommit. Tests use a MapFunc to inject out-of-memory.
type MapFunc func(size uintptr) unsafe.Pointer

// New returns an empty heap that maps memory with mapFn, or with mmap.Map
// when mapFn is nil. Nothing is mapped until the first allocation.
func New(mapFn MapFunc) *Heap {
	return &Heap{mapFn: mapFn}
}

// NewPrivate is New for a heap that one goroutine at a time uses, such as
// the large-block allocator owned by one obmalloc.Heap: no call locks.
func NewPrivate(mapFn MapFunc) *Heap {
	return &Heap{mapFn: mapFn, private: true}
}

func (h *Heap) lock() {
	if !h.private {
		h.mu.Lock()
	}
}

func (h *Heap) unlock() {
	if !h.private {
		h.mu.Unlock()
	}
}

// maxRequestBytes is the largest request the heap attempts; larger ones are
// absurd (no machine has that memory) and fail at once, which also keeps
// every size computation below free of overflow.
const maxRequestBytes = 1 << 62

// absurd reports whether a request of n bytes is refused without trying.
// On 32-bit platforms half the address space is the limit.
func absurd(n uintptr) bool {
	return uint64(n) > maxRequestBytes || n > ^uintptr(0)>>1
}

// Malloc returns a block of at least n bytes, 16-byte aligned, or nil when
// memory is exhausted or n is absurd (above 1<<62). Malloc(0) returns a
// distinct block, as malloc(1) would. The contents are undefined.
func (h *Heap) Malloc(n uintptr) unsafe.Pointer {
	if absurd(n) {
		return nil
	}
	data, _ := h.lockedAlloc("Malloc", n)
	return ptr(data)
}

// Calloc returns a zeroed block for nelem elements of elsize bytes, or nil
// when the product overflows, is absurd, or memory is exhausted. A zero
// count or size gives a distinct block, like Malloc(0).
func (h *Heap) Calloc(nelem, elsize uintptr) unsafe.Pointer {
	hi, lo := bits.Mul64(uint64(nelem), uint64(elsize))
	if hi != 0 || uint64(uintptr(lo)) != lo || absurd(uintptr(lo)) {
		return nil
	}
	n := uintptr(lo)
	data, fresh := h.lockedAlloc("Calloc", n)
	// Freshly carved or mapped memory is still as the OS gave it: zero.
	// Reused memory is cleared here, outside the lock: the block is the
	// caller's alone now.
	if data != 0 && !fresh {
		clear(bytesAt(data, max(n, 1)))
	}
	return ptr(data)
}

// Realloc resizes the block p to hold n bytes and returns its (possibly
// new) address. A nil p is Malloc(n); n == 0 shrinks to a minimal block,
// like realloc(p, 1). On failure (no memory for a growth, or an absurd n)
// it returns nil and p stays valid and unchanged. A p that is not a live block of h panics with a Fault.
//
// Policy: the block stays in place when n fits its capacity and would not
// leave too much of it unused: for a class block, when n's own class is
// the block's class or n is more than 3/4 of the capacity (CPython's rule
// for its small blocks, 4n > 3c); for a big block, when n is at least half of the
// capacity (the same slack the big-block cache accepts). A big block also
// stays in place when it shrinks below that to more than 256 KiB (the
// pages past its new capacity are decommitted) or grows within its own
// mapping, and keeps its data when mmap.Remap can grow its mapping (see
// the package doc). Otherwise the block moves: a new block is allocated,
// min(capacity, n) bytes are copied and the old block is freed; when
// there is no memory for the new block, a shrink keeps the block as it is
// (so a shrink never fails) and a growth fails.
func (h *Heap) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	if p == nil {
		return h.Malloc(n)
	}
	h.lock()
	defer h.unlock()
	b := h.mustLive("Realloc", uintptr(p))
	if absurd(n) {
		return nil
	}
	if b.fits(n) {
		return p
	}
	if b.big() {
		if data := h.reallocBig(b, n); data != 0 {
			return ptr(data)
		}
	}
	data, _ := h.alloc("Realloc", n)
	if data == 0 {
		if n <= b.capacity() {
			// A shrink does not fail for want of memory, as glibc's
			// realloc's never does: the block stays as it is, roomier
			// than the policy would have it.
			return p
		}
		return nil
	}
	keep := min(b.capacity(), n)
	copy(bytesAt(data, keep), bytesAt(b.data, keep))
	if b.big() {
		b.region = h.regionOf(b.data) // alloc may have added a mapping
	}
	h.release(b)
	return ptr(data)
}

// Free returns the block p to the heap. Free(nil) does nothing. A p that
// is not a live block of h (foreign, interior or already freed) panics with
// a Fault.
func (h *Heap) Free(p unsafe.Pointer) {
	if p == nil {
		return
	}
	if h.private {
		h.release(h.mustLive("Free", uintptr(p)))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock() // mustLive panics on misuse
	h.release(h.mustLive("Free", uintptr(p)))
}

// Owns reports whether p is the start of a block currently allocated by h.
// It reads no memory outside h's own mappings, so it is safe for any
// address: Go heap, stack, foreign, freed or interior pointers give false.
func (h *Heap) Owns(p unsafe.Pointer) bool {
	if p == nil {
		return false
	}
	h.lock()
	defer h.unlock()
	_, problem := h.classify(uintptr(p))
	return problem == ""
}

// UsableSize returns the capacity in bytes of the live block p, which is at
// least what was asked for, and 0 for a nil p, as glibc's
// malloc_usable_size(NULL) does (nil is what a failed Malloc returns, and
// what Free and Realloc accept). Any other p that is not a live block of h
// panics with a Fault, as Free does.
func (h *Heap) UsableSize(p unsafe.Pointer) uintptr {
	if p == nil {
		return 0
	}
	h.lock()
	defer h.unlock()
	return h.mustLive("UsableSize", uintptr(p)).capacity()
}

// lockedAlloc is alloc under the heap's lock, released even if alloc panics.
func (h *Heap) lockedAlloc(call string, n uintptr) (data uintptr, fresh bool) {
	if h.private {
		return h.alloc(call, n)
	}
	h.mu.Lock()
	defer h.mu.Unlock() // alloc panics on a corrupt free list
	return h.alloc(call, n)
}

// alloc returns the data address of a new live block of at least n bytes
// and whether its memory is untouched since it was mapped (hence zero), or
// 0 when memory is exhausted. the heap's lock is held.
func (h *Heap) alloc(call string, n uintptr) (data uintptr, fresh bool) {
	if n <= maxClassBytes {
		return h.allocClass(call, classOf(n))
	}
	return h.allocBig(call, n)
}

// release frees the live block b. the heap's lock is held.
func (h *Heap) release(b blockRef) {
	if b.big() {
		h.freeBig(b)
	} else {
		h.freeClass(b)
	}
}

// blockRef is a block that classify has validated.
type blockRef struct {
	data uintptr // address of the data, as handed out
	hd   *header // the header in front of it
	// region is the index of its mapping in Heap.regions, valid until a
	// mapping is added or moved (Realloc looks it up again after moving
	// the block).
	region int
}

func (b blockRef) big() bool         { return b.hd.state&flagBig != 0 }
func (b blockRef) class() int        { return int(b.hd.state & classMask) }
func (b blockRef) capacity() uintptr { return uintptr(b.hd.capacity) }

// fits applies Realloc's in-place policy to a new size of n bytes.
func (b blockRef) fits(n uintptr) bool {
	c := b.capacity()
	switch {
	case n > c:
		return false
	case b.big():
		return n >= c/2
	default:
		return classOf(n) == b.class() || 4*n > 3*c
	}
}

// classify finds the live block whose data starts at addr. On failure it
// returns the problem that a Fault would report. It dereferences nothing
// until addr is known to be inside one of h's mappings, and inside a chunk
// reads the header only once the start bitmap says a block starts at addr.
// the heap's lock is held.
func (h *Heap) classify(addr uintptr) (blockRef, string) {
	i := h.regionOf(addr)
	if i < 0 {
		return blockRef{}, problemNoMapping
	}
	r := &h.regions[i]
	var hd *header
	if r.big {
		if addr != r.start+headerBytes {
			return blockRef{}, problemInterior
		}
		hd = headerOf(addr)
		if !saneBigHeader(hd, r.used-addr) {
			return blockRef{}, problemCorrupt
		}
	} else {
		if addr%alignBytes != 0 || !isBlockStart(r.start, addr) {
			return blockRef{}, problemInterior
		}
		hd = headerOf(addr)
		if !saneClassHeader(hd) {
			return blockRef{}, problemCorrupt
		}
	}
	if hd.state&flagLive == 0 {
		return blockRef{}, problemFreed
	}
	return blockRef{data: addr, hd: hd, region: i}, ""
}

// mustLive is classify for Free, Realloc and UsableSize: anything but a
// live block of h panics with a Fault naming call. the heap's lock is held (the
// deferred unlock of the caller releases it during the panic).
func (h *Heap) mustLive(call string, addr uintptr) blockRef {
	b, problem := h.classify(addr)
	if problem != "" {
		panic(Fault{Call: call, Addr: addr, Problem: problem})
	}
	return b
}

// Close returns every mapping of the heap to the OS and leaves it empty:
// all its blocks become invalid at once, and later calls map afresh. The
// heap never unmaps on its own; Close is for programs that make heaps and
// throw them away (a replay, a test). A heap whose memory comes from a
// MapFunc cannot know how to give it back and returns an error.
func (h *Heap) Close() error {
	h.lock()
	defer h.unlock()
	h.ahead.stop()
	if h.mapFn != nil {
		return errors.New("rawalloc: Close: the heap's memory came from its MapFunc; release it there")
	}
	return h.unmapLocked()
}

// unmapLocked unmaps every region as mmap mapped it and resets the heap
// to its zero state. the heap's lock is held.
func (h *Heap) unmapLocked() error {
	h.ahead.stop()
	var errs []error
	for _, r := range h.regions {
		errs = append(errs, mmap.Unmap(ptr(r.start), r.end-r.start))
	}
	// Every field back to zero but the mutex (held) and the settings made
	// before the first allocation: the MapFunc, private and aheadOn.
	h.regions, h.bigFree = nil, nil
	h.freeHead, h.freeCount = [numClasses]uintptr{}, [numClasses]int{}
	h.cur, h.bump, h.limit, h.chunkBytes, h.bigCommitted = 0, 0, 0, 0, 0
	h.aheadNext, h.aheadEnd = 0, 0
	h.stats = Stats{}
	return errors.Join(errs...)
}
