package obmalloc

import (
	"fmt"
	"math/bits"
	"unsafe"
)

// Malloc is PyObject_Malloc: n bytes (Alignment-aligned from a pool,
// 16-byte aligned from the large-block allocator), or nil
// when memory is exhausted. Requests of 1..Threshold bytes come from pools;
// 0 bytes, larger requests, and small ones when no arena can be mapped go
// to the large-block allocator.
//
// The common case, a class whose ring has a pool, is written out here
// with no call (pymalloc_alloc): pop the first pool's free list or, when
// it is empty, carve the pool's next virgin block, and take the pool out
// of its ring once it has neither.
//
// CPython carves one block ahead (pymalloc_pool_extend links the next
// virgin block in as a one-element free list, writing to it); here a
// virgin block is handed out straight from nextoffset. The blocks come in
// the same order, and a fresh block is not read or written before the
// caller has it, which saves a cache miss per block when pools are
// carved over memory the cache no longer holds. So freeblock == 0 means
// "no freed block", and a pool is full when it also has no virgin block.
func (h *Heap) Malloc(n uintptr) unsafe.Pointer {
	if n-1 < h.l.threshold { // 1 <= n <= threshold; n == 0 wraps around
		idx := (n - 1) >> (h.l.alignShift & 63)
		// The slot holds the ring's first pool, or the ring's phantom
		// head, two words before the slot, when the ring is empty.
		slot := h.usedpools + idx*2*ptrSize
		pool := poolAt(word(slot))
		if pool.addr() != slot-2*ptrSize {
			pool.count++
			bp := pool.freeblock
			if bp != 0 {
				pool.freeblock = word(bp)
			} else {
				bp = pool.addr() + uintptr(pool.nextoffset)
				pool.nextoffset += uint32((idx + 1) << (h.l.alignShift & 63))
			}
			if pool.freeblock == 0 && pool.nextoffset > pool.maxnextoffset {
				unlinkPool(pool) // full
			}
			return ptr(bp)
		}
	}
	return h.mallocSlow(n)
}

// mallocSlow is Malloc without a pool ready: a new pool for a small
// request, the large allocator otherwise. Malloc has this one call, so
// that where it is inlined (the replay loop, with the demo's PGO
// profile) the caller's values live across a single call site. It is
// never inlined: a profile that finds it hot (new pools fault their pages
// in) would otherwise pull it into the caller's loop, whose fast path then
// has fewer registers.
//
//go:noinline
func (h *Heap) mallocSlow(n uintptr) unsafe.Pointer {
	if n-1 < h.l.threshold {
		if bp := h.allocateFromNewPool(uint32((n - 1) >> (h.l.alignShift & 63))); bp != 0 {
			return ptr(bp)
		}
	}
	return h.mallocLarge(n)
}

func (h *Heap) mallocLarge(n uintptr) unsafe.Pointer {
	h.checkOpen("Malloc", n)
	if n > maxRequestBytes {
		return nil
	}
	p := h.large.Malloc(n)
	if p != nil {
		h.rawAllocatedBlocks++
	}
	return p
}

// Calloc is PyObject_Calloc: nelem*elsize zeroed bytes, or nil when the
// product overflows PY_SSIZE_T_MAX or memory is exhausted.
//
// It is never inlined: a PGO build that inlined it into a hot caller then
// called Malloc from there instead of inlining Malloc into Calloc, which
// costs a call per small calloc.
//
//go:noinline
func (h *Heap) Calloc(nelem, elsize uintptr) unsafe.Pointer {
	hi, n := bits.Mul64(uint64(nelem), uint64(elsize))
	if hi != 0 || n > maxRequestBytes {
		return nil
	}
	if n := uintptr(n); n-1 < h.l.threshold {
		// A small request takes Malloc's path; should it fall back to
		// the large allocator (no arena), that block is cleared here too,
		// where CPython would call PyMem_RawCalloc.
		p := h.Malloc(n)
		if p != nil {
			clear(bytesAt(uintptr(p), n)) // a recycled block holds old data
		}
		return p
	}
	h.checkOpen("Calloc", uintptr(n))
	p := h.large.Calloc(nelem, elsize)
	if p != nil {
		h.rawAllocatedBlocks++
	}
	return p
}

// Free is PyObject_Free. A block in an arena goes back on its pool's free
// list; anything else is handed to the large allocator, which panics on a
// pointer it did not allocate. Free(nil) does nothing.
//
// Two checks cost nothing measurable and stay on: a pool with no block in
// use cannot own a live block (a double free, or a pointer into a pool
// that is empty or was never carved), and no block starts inside a pool
// header.
//
// The common case, a pool block whose pool keeps a block in use, is
// written out here with no call; every other case (the large allocator,
// a pool that empties, a bad pointer) goes to freeSlow, which decides
// afresh, as Malloc does with mallocSlow. The push onto the free list is
// freeSlow's, written out again on purpose: sharing it through a small
// inlined helper made the replay loop 1..4 % slower (5 alternating
// rounds of bench/scripts/replay-ab.sh, session 9, raw in
// bench/results/session9-experiments.txt; 78.5 against 77.8
// instructions per op on pydoc under callgrind).
func (h *Heap) Free(p unsafe.Pointer) {
	a := uintptr(p)
	if m := &h.arenaMap; m.coversPool(m.bot(a), a, h.l.poolBase) {
		pool := poolAt(a & h.l.poolBase)
		// count > 1: the pool keeps a block after this one (count 0 is
		// freeSlow's fault, count 1 empties the pool).
		if pool.count > 1 && a-pool.addr() >= h.l.poolOverhead {
			lastfree := pool.freeblock
			setWord(a, lastfree)
			pool.freeblock = a
			pool.count--
			if lastfree == 0 && pool.nextoffset > pool.maxnextoffset {
				// The pool was full: see freeSlow.
				h.linkPoolFront(pool, pool.szidx)
			}
			return
		}
	}
	h.freeSlow(p)
}

// freeSlow is Free for any pointer: it checks and frees as Free does and
// handles the cases Free leaves to it. It is never inlined, as mallocSlow.
//
//go:noinline
func (h *Heap) freeSlow(p unsafe.Pointer) {
	a := uintptr(p)
	if m := &h.arenaMap; !m.coversPool(m.bot(a), a, h.l.poolBase) {
		h.freeLarge(p)
		return
	}
	pool := poolAt(a &^ h.l.poolMask)
	if pool.count == 0 || a&h.l.poolMask < h.l.poolOverhead {
		h.badBlock("Free", a, pool)
	}
	lastfree := pool.freeblock
	setWord(a, lastfree)
	pool.freeblock = a
	pool.count--
	if lastfree == 0 && pool.nextoffset > pool.maxnextoffset {
		// The pool was full: it goes to the front of its ring, so the
		// block just freed is the next one handed out.
		h.linkPoolFront(pool, pool.szidx)
		return
	}
	if pool.count == 0 {
		h.insertToFreepool(pool)
	}
}

func (h *Heap) freeLarge(p unsafe.Pointer) {
	if p == nil {
		return
	}
	h.checkOpen("Free", uintptr(p))
	h.refuseHeadOfArena("Free", uintptr(p))
	defer explainLargeFault()
	h.large.Free(p)
	h.rawAllocatedBlocks--
}

// refuseHeadOfArena panics for an address that lies in one of the arenas
// although coversPool said no: it is in the partial pool before the first
// pool boundary of an arena that is not pool-aligned, where no block lies,
// and whose pool header would be outside the arena.
func (h *Heap) refuseHeadOfArena(call string, a uintptr) {
	if h.arenaMap.isUsed(a) {
		panic(Fault{Call: call, Addr: a, Problem: "the address is in the partial pool before the arena's first pool boundary, where no block lies"})
	}
}

// poolOf returns the pool of block address a (known to be in an arena)
// after Free's two checks.
func (h *Heap) poolOf(call string, a uintptr) *poolHeader {
	pool := poolAt(a &^ h.l.poolMask)
	if pool.count == 0 || a&h.l.poolMask < h.l.poolOverhead {
		h.badBlock(call, a, pool)
	}
	return pool
}

// problemEmptyPool is badBlock's text for a pool with no block in use. It
// does not accuse the pointer passed: a double free of another block of
// the pool goes unnoticed while the pool's count stays above 0 (as in
// CPython), and it is the next, valid, free of the pool that finds the
// count at 0. Only a layer that checks every free can name the bad one.
const problemEmptyPool = "the pool holding this address (%#x) has no block in use: this pointer, or an earlier free of another block of the same pool, " +
	"was a double free or a pointer never returned by Malloc; debug hooks that check every free find the first bad one " +
	"(for pymalloc's heap, run with GOPYMALLOC=debug)"

func (h *Heap) badBlock(call string, a uintptr, pool *poolHeader) {
	problem := fmt.Sprintf(problemEmptyPool, pool.addr())
	if a&h.l.poolMask < h.l.poolOverhead {
		problem = fmt.Sprintf("the address is inside the pool's header, not a block (pool %#x)", pool.addr())
	}
	panic(Fault{Call: call, Addr: a, Problem: problem})
}

// Realloc is PyObject_Realloc. A pool block stays where it is when the new
// size n still fits its class and shrinks it by less than a quarter
// (n <= size && 4n > 3*size); otherwise the data moves to a block chosen
// for n (pool or large) and the old block is freed. A block of the large
// allocator stays with it, whatever n. On failure Realloc returns nil and
// p is untouched.
func (h *Heap) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	if n > maxRequestBytes {
		return nil
	}
	if p == nil {
		h.checkOpen("Realloc", 0)
		return h.Malloc(n)
	}
	a := uintptr(p)
	if m := &h.arenaMap; !m.coversPool(m.bot(a), a, h.l.poolBase) {
		return h.reallocLarge(p, n)
	}
	size := h.l.blockSize(int(h.poolOf("Realloc", a).szidx))
	if n <= size {
		if 4*n > 3*size {
			return p
		}
		size = n
	}
	q := h.Malloc(n)
	if q != nil {
		copy(bytesAt(uintptr(q), size), bytesAt(a, size))
		h.Free(p)
	}
	return q
}

// reallocLarge is Realloc for a block outside the arenas, which only the
// large allocator can resize (it alone knows how many bytes p holds). It
// is a function of its own so that Realloc has no defer, whose set-up
// and check every Realloc of a pool block paid.
func (h *Heap) reallocLarge(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	a := uintptr(p)
	h.checkOpen("Realloc", a)
	h.refuseHeadOfArena("Realloc", a)
	defer explainLargeFault()
	return h.large.Realloc(p, n)
}
