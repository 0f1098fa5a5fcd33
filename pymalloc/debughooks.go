package pymalloc

import (
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/rawalloc"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// The debug hooks: CPython 3.11's PyMem_SetupDebugHooks, with its block
// layout, plus a registry of blocks that CPython does not have.
//
// Each block asks the allocator below for n+24 bytes and is laid out as
// CPython lays it out (p is the pointer handed out):
//
//	p-16      p-8  p-7 .. p-1   p .. p+n-1              p+n .. p+n+7
//	| n, BE 8 | id | 7 x 0xFD   | data: 0xCD on malloc  | 8 x 0xFD |
//
// Free and Realloc check the id, then the leading pad, then the trailing
// pad, as _PyMem_DebugCheckAddress does, and beyond it the domain the
// registry recorded (first) and the size field (between the pads). CPython reads that memory
// whatever the pointer, so a double free, a foreign or an interior pointer
// crashes it or prints garbage. Here a registry of the blocks the hooks
// handed out (a Go map, by address) is consulted first: no byte is read
// until the pointer is known to be a live block, and every other pointer
// gets a diagnosis of its own. Freed blocks are filled with 0xDD and kept
// in a bounded quarantine before the allocator below gets them back; a
// block that leaves the quarantine must still be all 0xDD, or it was
// written after it was freed.

// The byte patterns of the debug hooks: CPython's PYMEM_CLEANBYTE,
// PYMEM_DEADBYTE and PYMEM_FORBIDDENBYTE. A tool that finds one of them
// where it expected data knows what it is looking at.
const (
	CleanByte     = 0xCD // fills the data of a block handed out
	DeadByte      = 0xDD // fills a freed block, kept in quarantine
	ForbiddenByte = 0xFD // the pads before and after every block
)

// The debug block layout (PYMEM_DEBUG_EXTRA_BYTES and the byte patterns).
const (
	debugSST      = 8            // sizeof(size_t)
	debugHead     = 2 * debugSST // size field, id byte, leading pad
	debugOverhead = 3 * debugSST // plus the trailing pad
	cleanByte     = CleanByte
	deadByte      = DeadByte
	forbiddenByte = ForbiddenByte
	maxSsize      = pySsizeTMax   // PY_SSIZE_T_MAX (api.go)
	erasedSize    = 64            // Realloc marks this much of each end dead
	freeDepth     = 8             // frames kept of the call that freed a block
	probeSpan     = 1024          // blocks up to this extent are found by probing
	maxFreedKept  = 1 << 20       // freed addresses remembered for double frees
	defaultQBlock = 1024          // quarantine: blocks
	defaultQBytes = 4 << 20       // quarantine: bytes
	misalignedKey = debugHead - 1 // data address bits that probing assumes zero
)

type op int

const (
	opMalloc op = iota
	opCalloc
	opRealloc
	opFree
)

// callNames are the Go names reports give each domain's calls.
var callNames = [3][4]string{
	DomainRaw: {"pymalloc.RawMalloc", "pymalloc.RawCalloc", "pymalloc.RawRealloc", "pymalloc.RawFree"},
	DomainMem: {"pymalloc.MemMalloc", "pymalloc.MemCalloc", "pymalloc.MemRealloc", "pymalloc.MemFree"},
	DomainObj: {"pymalloc.Malloc", "pymalloc.Calloc", "pymalloc.Realloc", "pymalloc.Free"},
}

// apiIDs are CPython's API id bytes.
var apiIDs = [3]byte{DomainRaw: 'r', DomainMem: 'm', DomainObj: 'o'}

// debugAllocator is one domain's hook: CPython's debug_alloc_api_t. The
// RAW variant differs in its id, its names and its quarantine: it is
// called with the default heap's lock held, so it only ever gives RAW
// blocks back (to the large-block allocator), never MEM or OBJ ones to the
// heap. Go has no GIL for the MEM and OBJ variants to check. Every hook
// takes the registry's lock only while it does not call the allocator
// below (which, for MEM and OBJ, may call back into the RAW hook).
type debugAllocator struct {
	st     *debugState
	domain Domain
	api    byte
	next   Allocator
	// lenient: the allocator below can tell its own blocks (owner) and
	// may hold some the hooks never saw: it had live blocks when the hook
	// was made, or it is the default heap or the RAW domain's allocator
	// (newDebugAllocator). A pointer the registry does not know may then
	// be one of those, and is passed down if the allocator below owns it.
	// Otherwise such a pointer is a fault.
	lenient bool
	// removed: RemoveDebugHooks took this hook off its domain (guarded by
	// st.mu). A call that loaded the hook before and enters it after
	// makes its block bare, and passes unknown blocks down.
	removed bool
}

// owner is implemented by allocators that can tell their own blocks: the
// large-block allocator exactly, the default heap by arena (address_in_
// range) and by asking the RAW domain, the debug hooks by their registry.
type owner interface{ Owns(unsafe.Pointer) bool }

type blockState uint8

const (
	stateLive blockState = iota + 1
	stateQuarantined
)

// dblock is the registry's record of a block handed out by the hooks.
type dblock struct {
	size  uintptr
	owner *debugAllocator // the hook that allocated it
	state blockState
	// inner: a RAW block that the default heap obtained for a MEM or OBJ
	// block whose debug header sits at its start (a 0-byte or large
	// request, nested as in CPython). Only that block's hook may free it.
	inner bool
	// forHeap: a RAW block made for the default heap (a large MEM or OBJ
	// request), not for a RawMalloc; hooked: one that has held a MEM or
	// OBJ hook's block. A forHeap block never hooked is a plain MEM or
	// OBJ block, made by a call that had loaded its domain's allocator
	// just before that domain's hook was installed. hooked is not inner
	// || released: Realloc clears inner while the heap moves the block
	// (its hook may then reallocate it), and a MEM or OBJ free of its
	// address meanwhile, racing the move, must be a fault, not passed
	// down as plain.
	forHeap, hooked bool
	// released: such a block whose MEM or OBJ block has left the
	// quarantine; the free that follows comes from inside the heap, under
	// its lock, and must not panic once it has done its work.
	released bool
	// When quarantined: the call that freed it, and its stack.
	freedBy string
	freePCs [freeDepth]uintptr
}

// freedRec remembers a block the allocator below has taken back, so that
// a second free is a double free and not a foreign pointer.
type freedRec struct {
	size    uintptr
	api     byte
	freedBy string
	freePCs [freeDepth]uintptr
	seq     uintptr // when it was remembered (debugState.freedOrder)
}

// debugState is the registry shared by the hooks of the three domains, so
// that a block freed through the wrong domain is still recognised.
type debugState struct {
	mu     sync.Mutex
	blocks map[uintptr]*dblock // live and quarantined blocks, by data address
	// wide holds the blocks that probing cannot find: extent above
	// probeSpan, or data not 16-byte aligned.
	wide  map[uintptr]struct{}
	freed map[uintptr]freedRec
	// freedOrder holds (address, seq) pairs in the order freed records
	// were made, so that the oldest are forgotten first once there are
	// freedLimit of them. A pair whose record has since gone (the address
	// was handed out again) or been remade is stale and skipped.
	freedOrder ring
	freedSeq   uintptr
	freedLimit int
	// The quarantine, one per domain of the allocating hook: quarantined
	// data addresses, oldest first, and their extents (size+24)
	// together. The RAW hook runs while the default heap's lock is held
	// (the heap's large blocks come from it), so it must never give a
	// MEM or OBJ block back to that heap: each hook only evicts its own
	// domain's blocks. The bounds apply to each quarantine.
	q          [3]ring
	qbytes     [3]uintptr
	qMaxBlocks int
	qMaxBytes  uintptr
	// pending are faults found while the default heap's lock was held,
	// raised once the call that took it has returned.
	pending []Fault
	// moving counts the blocks that Realloc has taken out of blocks while
	// the allocator below works on them: they are live all the same, and
	// RemoveDebugHooks must wait for them.
	moving int
}

func newDebugState() *debugState {
	return &debugState{
		blocks:     map[uintptr]*dblock{},
		wide:       map[uintptr]struct{}{},
		freed:      map[uintptr]freedRec{},
		freedLimit: maxFreedKept,
		qMaxBlocks: defaultQBlock,
		qMaxBytes:  defaultQBytes,
	}
}

// debug is the registry of the package-level hooks.
var debug = newDebugState()

// belowHooks returns a without the package's debug hook on it, and
// whether it had one.
func belowHooks(a Allocator) (Allocator, bool) {
	if h, ok := a.(*debugAllocator); ok && h.st == debug {
		return h.next, true
	}
	return a, false
}

// newDebugAllocator wraps next as domain d's hook, recording its blocks in st.
func newDebugAllocator(st *debugState, d Domain, next Allocator) *debugAllocator {
	_, isOwner := next.(owner)
	// The RAW hook is always lenient: it is installed last, and the MEM
	// and OBJ hooks may have had plain RAW blocks made for their large
	// blocks meanwhile. That costs nothing, as the large-block allocator
	// knows a freed block from a live one. So is a hook over the default
	// heap, even an empty one: a call in flight while the hooks go in
	// makes a plain block, which must be passed down when freed, and the
	// default heap's Owns refuses an address inside a block or in a pool
	// with none in use. Over any other allocator a hook is lenient only
	// if it had blocks to pass down, as its Owns may be coarser
	// (obmalloc.Heap's is address_in_range).
	_, isDefaultHeap := next.(*sharedHeap)
	lenient := isOwner && (d == DomainRaw || isDefaultHeap || liveBlocks(next) > 0)
	return &debugAllocator{st: st, domain: d, api: apiIDs[d], next: next, lenient: lenient}
}

// liveBlocks counts the blocks next has handed out, when it can say;
// otherwise it answers 1, "maybe some".
func liveBlocks(next Allocator) int {
	switch a := next.(type) {
	case *rawalloc.Heap:
		return a.Stats().LiveBlocks
	case *obmalloc.Heap:
		return a.AllocatedBlocks()
	}
	return 1
}

func (d *debugAllocator) call(o op) string { return callNames[d.domain][o] }

// Malloc is _PyMem_DebugRawMalloc.
func (d *debugAllocator) Malloc(n uintptr) unsafe.Pointer { return d.alloc(false, n) }

// Calloc is _PyMem_DebugRawCalloc, which asks the allocator below for
// calloc(1, n+24). A product above PY_SSIZE_T_MAX is a fault: CPython's
// public wrappers return NULL for it, here it is reported as the caller's
// bug it almost always is.
func (d *debugAllocator) Calloc(nelem, elsize uintptr) unsafe.Pointer {
	hi, lo := bits.Mul64(uint64(nelem), uint64(elsize))
	if hi != 0 || lo > uint64(maxSsize) {
		raise(callocOverflowFault(d.call(opCalloc), nelem, elsize))
		return nil
	}
	return d.alloc(true, uintptr(lo))
}

// alloc is _PyMem_DebugRawAlloc: the header, the 0xCD fill (not for
// calloc), the trailing pad.
func (d *debugAllocator) alloc(zero bool, n uintptr) unsafe.Pointer {
	if n > maxSsize-debugOverhead {
		return nil
	}
	var base unsafe.Pointer
	if zero {
		base = d.next.Calloc(1, n+debugOverhead)
	} else {
		base = d.next.Malloc(n + debugOverhead)
	}
	if base == nil {
		return nil
	}
	data := d.decorate(uintptr(base), n)
	if !zero {
		fill(data, n, cleanByte)
	}
	d.st.mu.Lock()
	if d.removed {
		d.st.mu.Unlock()
		if zero { // the header and pad were written on calloc's zeros
			clear(bytesAt(uintptr(base), debugHead))
			clear(bytesAt(data+n, debugSST))
		}
		return base
	}
	d.st.add(data, &dblock{size: n, owner: d, state: stateLive})
	d.st.markInner(uintptr(base), true)
	d.st.mu.Unlock()
	return ptrAt(data)
}

// decorate writes the header and the trailing pad of a block of n bytes
// at base and returns its data address.
func (d *debugAllocator) decorate(base, n uintptr) uintptr {
	writeSize(base, n)
	h := bytesAt(base+debugSST, debugSST)
	h[0] = d.api
	for i := 1; i < debugSST; i++ {
		h[i] = forbiddenByte
	}
	data := base + debugHead
	fill(data+n, debugSST, forbiddenByte)
	return data
}

// Free is _PyMem_DebugRawFree: check, fill the whole block with 0xDD, and
// put it in quarantine; the oldest quarantined blocks are checked and
// given back to the allocator below.
func (d *debugAllocator) Free(p unsafe.Pointer) {
	if p == nil {
		return
	}
	call := d.call(opFree)
	a := uintptr(p)
	st := d.st
	var pcs [freeDepth]uintptr
	if tracing.on.Load() {
		// Only while tracing, as tracebacks are: the stack capture would
		// be most of a free's cost.
		runtime.Callers(2, pcs[:])
	}
	st.mu.Lock()
	b := st.blocks[a]
	if d.plainForHeap(b) {
		st.mu.Unlock()
		d.next.Free(p) // the heap gives it back to the RAW hook
		return
	}
	if b == nil || b.state != stateLive || b.inner {
		f, known := st.diagnose(call, a)
		removed := d.removed
		st.mu.Unlock()
		if !known && (removed || d.passDown(p)) {
			d.next.Free(p) // a block from before the hooks, or after them
			return
		}
		if !known {
			f = foreignFault(call, a)
		}
		raise(f) // continue mode: the bad pointer is ignored
		return
	}
	f, bad := st.check(d, call, a, b)
	if bad && b.released {
		// The default heap frees it from inside, where a panic would
		// leave it half freed: the evicting hook's finish raises it.
		st.pending = append(st.pending, f)
		bad = false
	}
	if bad && FaultMode(faultMode.Load()) == PanicOnFault {
		st.mu.Unlock()
		raise(f) // panics before anything changed
		return
	}
	if bad && f.Addr != a {
		st.repairInner(a) // the fault reported was the RAW block's below
	}
	nested := b.released
	fill(a-debugHead, b.size+debugOverhead, deadByte)
	b.state, b.freedBy, b.freePCs = stateQuarantined, call, pcs
	qd := b.owner.domain // the maker's allocator takes it back
	st.q[qd].push(a)
	st.qbytes[qd] += b.size + debugOverhead
	out := st.evict(call, qd, false)
	st.mu.Unlock()
	if bad {
		raise(f)
	}
	if nested {
		out.postpone(st)
		return
	}
	out.finish(st)
}

// Realloc is _PyMem_DebugRawRealloc: check; save and mark dead the header,
// the trailer and up to 64 bytes at each end of the data; reallocate the
// underlying block; rewrite header and trailer (with the old size if that
// failed); restore the saved bytes; fill the growth with 0xCD.
func (d *debugAllocator) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	if p == nil {
		return d.alloc(false, n)
	}
	call := d.call(opRealloc)
	a := uintptr(p)
	st := d.st
	st.mu.Lock()
	b := st.blocks[a]
	if d.plainForHeap(b) {
		st.mu.Unlock()
		return d.next.Realloc(p, n) // stays plain, through the heap and the RAW hook
	}
	if b == nil || b.state != stateLive || b.inner {
		f, known := st.diagnose(call, a)
		removed := d.removed
		st.mu.Unlock()
		if !known && (removed || d.passDown(p)) {
			return d.next.Realloc(p, n) // a block from before the hooks, or after them, stays unchecked
		}
		if !known {
			f = foreignFault(call, a)
		}
		raise(f)
		return nil // continue mode: as if the realloc failed
	}
	f, bad := st.check(d, call, a, b)
	if bad && FaultMode(faultMode.Load()) == PanicOnFault {
		st.mu.Unlock()
		raise(f)
		return nil
	}
	if n > maxSsize-debugOverhead {
		st.mu.Unlock()
		if bad {
			raise(f)
		}
		return nil
	}
	if bad && f.Addr != a {
		st.repairInner(a) // the fault reported was the RAW block's below
	}
	// The block leaves the registry while the allocator below works on
	// it, without the lock; it comes back under its new address.
	st.remove(a)
	st.moving++
	st.markInner(a-debugHead, false) // its hook may now reallocate it
	st.mu.Unlock()
	if bad {
		raise(f)
	}
	owner := b.owner // continue mode after a wrong domain: the maker's allocator
	old := b.size
	head := a - debugHead
	var save [2 * erasedSize]byte
	if old <= uintptr(len(save)) {
		copyMem(save[:], bytesAt(a, old))
		fill(head, old+debugOverhead, deadByte)
	} else {
		copyMem(save[:erasedSize], bytesAt(a, erasedSize))
		fill(head, erasedSize+debugHead, deadByte)
		tail := a + old
		copyMem(save[erasedSize:], bytesAt(tail-erasedSize, erasedSize))
		fill(tail-erasedSize, erasedSize+debugSST, deadByte)
	}
	// A panic of the allocator below (a fault its own hook found) is
	// taken as a failed realloc: the block is restored and registered
	// again before the panic goes on, so that it is neither lost to the
	// registry nor left counted as moving. This assumes, as of the
	// default heap and the RAW hook, that an allocator which panics in
	// Realloc has not moved or freed the block first; one set with
	// SetAllocator under the hooks must keep to that.
	var r unsafe.Pointer
	below := func() (p any) {
		defer func() { p = recover() }()
		r = owner.next.Realloc(ptrAt(head), n+debugOverhead)
		return nil
	}()
	size := n
	if r == nil {
		size = old // rewrite the old block's header and trailer
	} else {
		head = uintptr(r)
	}
	data := owner.decorate(head, size)
	if old <= uintptr(len(save)) {
		copyMem(bytesAt(data, min(size, old)), save[:])
	} else {
		copyMem(bytesAt(data, min(size, erasedSize)), save[:erasedSize])
		if i := old - erasedSize; size > i {
			copyMem(bytesAt(data+i, min(size-i, erasedSize)), save[erasedSize:])
		}
	}
	if r != nil && size > old {
		fill(data+old, size-old, cleanByte)
	}
	st.mu.Lock()
	st.moving--
	st.add(data, &dblock{size: size, owner: owner, state: stateLive})
	st.markInner(head, true)
	if r != nil && data != a {
		var pcs [freeDepth]uintptr
		if tracing.on.Load() {
			runtime.Callers(2, pcs[:])
		}
		st.remember(a, freedRec{size: old, api: owner.api, freedBy: call + " (the block moved)", freePCs: pcs})
	}
	st.mu.Unlock()
	if below != nil {
		panic(below)
	}
	if r == nil {
		return nil
	}
	return ptrAt(data)
}

// Owns reports whether p is a live block of the hooks, or, for blocks
// allocated before them, of the allocator below.
func (d *debugAllocator) Owns(p unsafe.Pointer) bool {
	d.st.mu.Lock()
	b := d.st.blocks[uintptr(p)]
	d.st.mu.Unlock()
	if b != nil {
		return b.state == stateLive
	}
	return d.passDown(p)
}

// passDown says whether a pointer unknown to the registry is a block the
// allocator below handed out before the hooks were installed. It is
// called without the registry's lock: the allocator below may take its
// own lock and call the RAW hook. It takes the caller's pointer as it
// came: rebuilt from an integer, a Go pointer would trip checkptr.
func (d *debugAllocator) passDown(p unsafe.Pointer) bool {
	if !d.lenient {
		return false
	}
	return d.next.(owner).Owns(p)
}

// add records a block; the lock is held.
func (st *debugState) add(a uintptr, b *dblock) {
	st.blocks[a] = b
	delete(st.freed, a)
	if b.size+debugOverhead > probeSpan || a&misalignedKey != 0 {
		st.wide[a] = struct{}{}
	}
}

// markInner flags (or unflags) the live RAW block at base, if there is
// one, as holding the debug block whose header starts at base. The lock is
// held.
func (st *debugState) markInner(base uintptr, inner bool) {
	if b := st.blocks[base]; b != nil && b.state == stateLive {
		b.inner = inner
		b.hooked = b.hooked || inner
	}
}

// markForHeap flags the live RAW block at p as made for the default heap.
func (st *debugState) markForHeap(p uintptr) {
	st.mu.Lock()
	if b := st.blocks[p]; b != nil && b.state == stateLive {
		b.forHeap = true
	}
	st.mu.Unlock()
}

// plainForHeap says whether b, the registry's record of a pointer given to
// d, is a plain MEM or OBJ block from the default heap (see dblock), which
// d must pass down as it would a block from before the hooks; the lock is
// held.
func (d *debugAllocator) plainForHeap(b *dblock) bool {
	return b != nil && b.forHeap && !b.hooked && b.state == stateLive && d.domain != DomainRaw
}

// remove forgets a block; the lock is held.
func (st *debugState) remove(a uintptr) {
	delete(st.blocks, a)
	delete(st.wide, a)
}

// remember records a freed address for double-free reports, forgetting
// the oldest records beyond freedLimit; the lock is held.
func (st *debugState) remember(a uintptr, r freedRec) {
	st.freedSeq++
	r.seq = st.freedSeq
	st.freed[a] = r
	st.freedOrder.push(a)
	st.freedOrder.push(r.seq)
	for len(st.freed) > st.freedLimit {
		old, seq := st.freedOrder.pop(), st.freedOrder.pop()
		if rec, ok := st.freed[old]; ok && rec.seq == seq {
			delete(st.freed, old)
		}
	}
	if n := st.freedOrder.len() / 2; n > 2*len(st.freed)+1024 {
		st.compactFreedOrder()
	}
}

// compactFreedOrder drops the stale pairs of freedOrder, which would
// otherwise grow with every address handed out again; amortised over the
// records made since the last compaction, it costs O(1) each.
func (st *debugState) compactFreedOrder() {
	var kept ring
	for st.freedOrder.len() > 0 {
		a, seq := st.freedOrder.pop(), st.freedOrder.pop()
		if rec, ok := st.freed[a]; ok && rec.seq == seq {
			kept.push(a)
			kept.push(seq)
		}
	}
	st.freedOrder = kept
}

// forgetFreed clears the freed record; the lock is held.
func (st *debugState) forgetFreed() {
	clear(st.freed)
	st.freedOrder = ring{}
}

// containing finds the live or quarantined block whose extent (header,
// data, trailing pad) holds a, without reading any memory; the lock is
// held. Blocks up to probeSpan bytes with aligned data are found by
// looking up each 16-byte-aligned data address that could hold a; the
// others are few and scanned.
func (st *debugState) containing(a uintptr) (uintptr, *dblock) {
	inside := func(c uintptr, b *dblock) bool {
		return a >= c-debugHead && a-(c-debugHead) < b.size+debugOverhead
	}
	// Nested blocks (see dblock.inner) both contain a pointer into the
	// MEM or OBJ block; that one, with the higher data address, is the
	// block the program knows, and the answer.
	var best uintptr
	var found *dblock
	c := (a + debugHead) &^ misalignedKey
	for k := 0; k <= probeSpan/debugHead && c >= debugHead; k++ {
		if b := st.blocks[c]; b != nil && inside(c, b) {
			best, found = c, b
			break
		}
		c -= debugHead
	}
	for c := range st.wide {
		if b := st.blocks[c]; inside(c, b) && c > best {
			best, found = c, b
		}
	}
	return best, found
}

// diagnose explains why a is not a live block of the registry: in
// quarantine or freed (a double free), or inside a block (interior). It
// reports known == false when the registry knows nothing of a, which the
// caller, without the lock, may still find to be a block of the allocator
// below. The lock is held.
func (st *debugState) diagnose(call string, a uintptr) (f Fault, known bool) {
	if b := st.blocks[a]; b != nil {
		if b.state == stateQuarantined {
			return quarantinedFault(call, a, b), true
		}
		if outer := st.blocks[a+debugHead]; b.inner && outer != nil {
			return interiorFault(call, a, a+debugHead, outer), true
		}
	}
	if c, b := st.containing(a); b != nil {
		return interiorFault(call, a, c, b), true
	}
	if r, ok := st.freed[a]; ok {
		return releasedFault(call, a, r), true
	}
	return Fault{}, false
}

// check is _PyMem_DebugCheckAddress for a block the registry knows to be
// live, so its memory can be read: the id byte, the leading pad, the size
// field (which the registry can confirm, unlike CPython), the trailing
// pad. It returns the first fault found. The lock is held.
func (st *debugState) check(d *debugAllocator, call string, a uintptr, b *dblock) (Fault, bool) {
	head := bytesAt(a-debugHead, debugHead)
	id := head[debugSST]
	switch {
	case b.owner.api != d.api:
		return blockFault(call, a, b, FaultWrongDomain, badIDProblem(b.owner.api, d.api)), true
	case id != d.api:
		return blockFault(call, a, b, FaultBadID, badIDProblem(id, d.api)), true
	}
	for _, c := range head[debugSST+1:] {
		if c != forbiddenByte {
			return blockFault(call, a, b, FaultLeadingPad, "bad leading pad byte"), true
		}
	}
	if readSize(a-debugHead) != uint64(b.size) {
		return blockFault(call, a, b, FaultSizeField, "bad size field"), true
	}
	for _, c := range bytesAt(a+b.size, debugSST) {
		if c != forbiddenByte {
			return blockFault(call, a, b, FaultTrailingPad, "bad trailing pad byte"), true
		}
	}
	if ib := st.blocks[a-debugHead]; ib != nil && ib.inner {
		// A write 8..15 bytes past this block, or 17..32 before it, lands
		// in the pads of the RAW block under it. Found here, it is
		// reported before anything changes, not from inside the heap's
		// free or realloc of that block, which would leave this one half
		// freed or half moved.
		return st.check(ib.owner, call, a-debugHead, ib)
	}
	return Fault{}, false
}

// repairInner rewrites the header and trailer of the RAW block under the
// block at a, if there is one. In continue mode, once a fault in them has
// been reported, it spares the RAW hook a second report of the same bytes
// when the block below is freed or reallocated. The lock is held.
func (st *debugState) repairInner(a uintptr) {
	if ib := st.blocks[a-debugHead]; ib != nil && ib.inner {
		ib.owner.decorate(a-2*debugHead, ib.size)
	}
}

// released is a block that left the quarantine: the allocator below gets
// it back once the lock is released.
type released struct {
	base  unsafe.Pointer
	owner *debugAllocator
}

// evicted is what evict hands back: blocks to free and faults to report,
// after the lock is released.
type evicted struct {
	blocks []released
	faults []Fault
}

// evict takes blocks out of the quarantine while it is over its bounds
// (all of them if flush), checks that each is still all 0xDD, and moves
// it to the freed record. The lock is held.
func (st *debugState) evict(call string, d Domain, flush bool) evicted {
	var out evicted
	q := &st.q[d]
	for q.len() > 0 && (flush || q.len() > st.qMaxBlocks || st.qbytes[d] > st.qMaxBytes) {
		a := q.pop()
		b := st.blocks[a]
		st.remove(a)
		st.qbytes[d] -= b.size + debugOverhead
		if f, bad := deadCheck(call, a, b); bad {
			out.faults = append(out.faults, f)
		}
		if ib := st.blocks[a-debugHead]; ib != nil && ib.inner { // its hook frees it below
			ib.inner, ib.released = false, true
		}
		st.remember(a, freedRec{size: b.size, api: b.owner.api, freedBy: b.freedBy, freePCs: b.freePCs})
		out.blocks = append(out.blocks, released{ptrAt(a - debugHead), b.owner})
	}
	return out
}

// finish gives the evicted blocks back and reports the faults found in
// them; the lock is not held. Every block is given back and every fault
// reported before the first one panics: a fault raised by an allocator
// below (the RAW hook under a large block) or found in one block must not
// leave the others out of their pools, nor their reports unwritten.
func (out evicted) finish(st *debugState) {
	below := out.giveBack()
	st.mu.Lock()
	faults := append(out.faults, st.pending...)
	st.pending = nil
	st.mu.Unlock()
	for _, f := range faults {
		writeReport(f)
	}
	if len(faults) > 0 && FaultMode(faultMode.Load()) == PanicOnFault {
		if _, reported := below.(Fault); below != nil && !reported {
			// The first fault's panic hides it: say it first.
			reportMu.Lock()
			fmt.Fprintf(faultWriter(), "Fatal error: the allocator below panicked while taking back blocks leaving the quarantine: %v\n", below)
			reportMu.Unlock()
		}
		panic(faults[0])
	}
	if below != nil {
		panic(below)
	}
}

// giveBack frees every evicted block below and returns the first panic of
// the allocator there, recovered so that one bad block does not keep the
// others out of their pools.
func (out evicted) giveBack() (below any) {
	for _, r := range out.blocks {
		func() {
			defer func() {
				if p := recover(); p != nil && below == nil {
					below = p
				}
			}()
			r.owner.next.Free(r.base)
		}()
	}
	return below
}

// postpone is finish for a free made by the default heap for a MEM or OBJ
// block leaving the quarantine: the heap's lock is held and its books are
// not yet updated, so the faults wait for that hook's finish to raise
// them.
func (out evicted) postpone(st *debugState) {
	below := out.giveBack()
	st.mu.Lock()
	st.pending = append(st.pending, out.faults...)
	st.mu.Unlock()
	if below != nil {
		panic(below)
	}
}

// quarantinedIn counts the quarantined blocks that next will get back.
func (st *debugState) quarantinedIn(next Allocator) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for d := range st.q {
		q := &st.q[d]
		for i := range q.len() {
			if b := st.blocks[q.buf[(q.head+i)%len(q.buf)]]; b != nil && b.owner.next == next {
				n++
			}
		}
	}
	return n
}

// ring is a FIFO of addresses.
type ring struct {
	buf        []uintptr
	head, size int
}

func (r *ring) len() int { return r.size }

func (r *ring) push(a uintptr) {
	if r.size == len(r.buf) {
		nb := make([]uintptr, max(16, 2*len(r.buf)))
		for i := 0; i < r.size; i++ {
			nb[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.size)%len(r.buf)] = a
	r.size++
}

func (r *ring) pop() uintptr {
	a := r.buf[r.head]
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return a
}

// FlushQuarantine checks every block in the debug hooks' quarantine (each
// must still be all 0xDD) and gives it back to its allocator. Faults are
// reported as usual. Without the hooks it does nothing. Tests call it
// before counting blocks: quarantined blocks are still allocated below.
func FlushQuarantine() { debug.flush("pymalloc.FlushQuarantine") }

// flush empties the quarantines. Giving a MEM or OBJ block back may put
// the RAW block under it in quarantine, hence RAW last.
func (st *debugState) flush(call string) {
	for _, d := range []Domain{DomainObj, DomainMem, DomainRaw} {
		st.mu.Lock()
		out := st.evict(call, d, true)
		st.mu.Unlock()
		out.finish(st)
	}
}

// SetQuarantine bounds each domain's quarantine of the debug hooks to at
// most blocks freed blocks and bytes bytes (each block counts its size
// plus 24) and returns the previous bounds; the defaults are 1024 blocks
// and 4 MiB. A block goes on only while both bounds hold, so a block
// whose size plus 24 exceeds bytes leaves at once, checked but never
// watched: a later write to it is not detected. A zero in either bound
// turns the quarantine off: freed blocks go back at once, and a write
// after free is no longer detected.
func SetQuarantine(blocks int, bytes uintptr) (prevBlocks int, prevBytes uintptr) {
	if blocks < 0 {
		panic("pymalloc: SetQuarantine: negative block count")
	}
	debug.mu.Lock()
	prevBlocks, prevBytes = debug.qMaxBlocks, debug.qMaxBytes
	debug.qMaxBlocks, debug.qMaxBytes = blocks, bytes
	debug.mu.Unlock()
	for _, d := range []Domain{DomainObj, DomainMem, DomainRaw} {
		debug.mu.Lock()
		out := debug.evict("pymalloc.SetQuarantine", d, false)
		debug.mu.Unlock()
		out.finish(debug)
	}
	return prevBlocks, prevBytes
}

// SetupDebugHooks installs the debug hooks on the three domains
// (PyMem_SetupDebugHooks): each domain's current allocator is wrapped by
// a hook that lays blocks out as CPython's debug hooks do and checks them
// on Free and Realloc, and, beyond CPython, detects double frees, frees of
// interior and foreign pointers and writes to freed blocks. A domain whose
// allocator already is a debug hook is left alone, so calling it twice
// changes nothing. GOPYMALLOC=debug installs them at start-up.
//
// Install the hooks before allocating: a block allocated before them and
// freed through them is handed to the allocator below unchecked, and a
// pointer that allocator does not recognise is reported as foreign.
// Other goroutines may go on allocating and freeing while the hooks go
// in: the blocks their calls in flight make are plain, and passed down
// when freed.
func SetupDebugHooks() {
	hooksMu.Lock()
	defer hooksMu.Unlock()
	// RAW last: a large MEM or OBJ block made in between, while its
	// domain has a hook and RAW has none, sits in a plain RAW block, which
	// the RAW hook passes down when it is freed. In the other order such a
	// block would be a RAW hook's block handed out with no MEM or OBJ
	// header, and freeing it through its own domain's hook a wrong-domain
	// fault.
	for _, d := range []Domain{DomainObj, DomainMem, DomainRaw} {
		cur := domains[d].Load().a
		if _, ok := belowTracer(cur).(*debugAllocator); ok {
			continue
		}
		debug.mu.Lock()
		debug.forgetFreed() // addresses were handed out unseen while this domain had no hook
		debug.mu.Unlock()
		if t, ok := cur.(*tracer); ok {
			// Under the tracer, so that traces keep the addresses the
			// program sees.
			domains[d].Store(&holder{&tracer{domain: d, next: newDebugAllocator(debug, d, t.next)}})
			continue
		}
		domains[d].Store(&holder{newDebugAllocator(debug, d, cur)})
	}
}

// RemoveDebugHooks undoes SetupDebugHooks: it flushes the quarantine and
// gives each domain back the allocator its hook wraps. It refuses, and
// changes nothing, while blocks allocated under the hooks are live (the
// allocators below could not free them), returning an error that counts
// them; a domain whose hook is not on top (another hook was installed
// since) is left as it is. Other goroutines may go on allocating and
// freeing meanwhile: a call that took a hook just before it went makes a
// plain block. It is for tests and experiments; CPython has no
// counterpart.
func RemoveDebugHooks() error {
	hooksMu.Lock()
	defer hooksMu.Unlock()
	FlushQuarantine()
	var hooks []*debugAllocator
	var bare [3]*holder
	for _, d := range []Domain{DomainRaw, DomainMem, DomainObj} {
		switch a := domains[d].Load().a.(type) {
		case *debugAllocator:
			if a.st == debug {
				hooks, bare[d] = append(hooks, a), &holder{a.next}
			}
		case *tracer:
			if h, ok := a.next.(*debugAllocator); ok && h.st == debug {
				hooks, bare[d] = append(hooks, h), &holder{&tracer{domain: d, next: h.next}}
			}
		}
	}
	// The hooks are marked removed, under the registry's lock, only while
	// no block made under them is live. A call that loaded a hook and
	// enters it afterwards then makes a bare block and passes the blocks
	// it does not know down: no block the hooks decorated can reach the
	// bare allocator, which would take its data address for a block.
	debug.mu.Lock()
	n := len(debug.blocks) + debug.moving
	if n == 0 {
		for _, h := range hooks {
			h.removed = true
		}
		// Without the hooks, freed addresses are handed out again
		// unseen: what the registry remembers of them would be stale
		// (and a removed hook, still installed a moment, would take a
		// plain block at such an address for a double free).
		debug.forgetFreed()
	}
	debug.mu.Unlock()
	if n > 0 {
		return &liveBlocksError{n}
	}
	for d, h := range bare {
		if h != nil {
			domains[d].Store(h)
		}
	}
	return nil
}

type liveBlocksError struct{ n int }

func (e *liveBlocksError) Error() string {
	return fmt.Sprintf("pymalloc: RemoveDebugHooks: %d blocks allocated under the debug hooks are still live", e.n)
}

// DebugHooksInstalled reports whether the debug hooks serve the OBJ domain.
func DebugHooksInstalled() bool {
	_, ok := belowTracer(obj()).(*debugAllocator)
	return ok
}

// objHook returns the OBJ domain's debug hook, or nil.
func objHook() *debugAllocator {
	h, _ := belowTracer(obj()).(*debugAllocator)
	return h
}
