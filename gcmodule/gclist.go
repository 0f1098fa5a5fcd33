package gcmodule

// The GC lists: circular doubly linked lists threaded through the GC heads
// (gcmodule.c's gc_list_* functions). A head address g is the object's
// address minus gcHeadSize (two words, W = ptrSize bytes each); a list
// head is a bare PyGC_Head in the collector's off-heap block of list
// heads.
//
//	_gc_next (g+0): next head; 0 = untracked. (CPython borrows bit 0
//	                as NEXT_MASK_UNREACHABLE; here it is flagUnreachable
//	                in the object header.)
//	_gc_prev (g+W): previous head in bits 2.., FINALIZED in bit 0,
//	                COLLECTING in bit 1; during a collection the upper
//	                bits hold gc_refs instead (the list is then singly
//	                linked until move_unreachable relinks it).

const (
	prevFinalized  uintptr = 1 << 0 // _PyGC_PREV_MASK_FINALIZED
	prevCollecting uintptr = 1 << 1 // _PyGC_PREV_MASK_COLLECTING
	prevShift              = 2      // _PyGC_PREV_SHIFT
	prevMask               = ^(prevFinalized | prevCollecting)
)

// gcNext is GC_NEXT.
func gcNext(g uintptr) uintptr { return word(g) }

// gcPrev is GC_PREV: the pointer bits of _gc_prev.
func gcPrev(g uintptr) uintptr { return word(g+ptrSize) & prevMask }

// setNext is _PyGCHead_SET_NEXT.
func setNext(g, n uintptr) { setWord(g, n) }

// setPrev is _PyGCHead_SET_PREV: it keeps g's flag bits.
func setPrev(g, p uintptr) { setWord(g+ptrSize, word(g+ptrSize)&^prevMask|p) }

func gcListInit(l uintptr) {
	setWord(l, l)
	setWord(l+ptrSize, l)
}

func gcListIsEmpty(l uintptr) bool { return word(l) == l }

// gcListAppend links node at the end of list.
func gcListAppend(node, list uintptr) {
	last := word(list + ptrSize)
	setPrev(node, last)
	setNext(last, node)
	setNext(node, list)
	setWord(list+ptrSize, node)
}

// gcListRemove unlinks node and marks it untracked.
func gcListRemove(node uintptr) {
	prev, next := gcPrev(node), gcNext(node)
	setNext(prev, next)
	setPrev(next, prev)
	setWord(node, 0)
}

// gcListMove unlinks node from whatever list holds it and appends it to
// list, keeping its flags.
func gcListMove(node, list uintptr) {
	fromPrev, fromNext := gcPrev(node), gcNext(node)
	setNext(fromPrev, fromNext)
	setPrev(fromNext, fromPrev)
	toPrev := word(list + ptrSize)
	setPrev(node, toPrev)
	setNext(toPrev, node)
	setWord(list+ptrSize, node)
	setNext(node, list)
}

// gcListMerge appends from's nodes to to; from becomes empty.
func gcListMerge(from, to uintptr) {
	if !gcListIsEmpty(from) {
		toTail := gcPrev(to)
		fromHead := gcNext(from)
		fromTail := gcPrev(from)
		setNext(toTail, fromHead)
		setPrev(fromHead, toTail)
		setNext(fromTail, to)
		setPrev(to, fromTail)
	}
	gcListInit(from)
}

func gcListSize(l uintptr) int {
	n := 0
	for g := gcNext(l); g != l; g = gcNext(g) {
		n++
	}
	return n
}

// gcListClearCollecting clears COLLECTING on every node of l.
func gcListClearCollecting(l uintptr) {
	for g := gcNext(l); g != l; g = gcNext(g) {
		setWord(g+ptrSize, word(g+ptrSize)&^prevCollecting)
	}
}

// gcSetRefs sets gc_refs, the working copy of the reference count kept in
// _gc_prev.
func gcSetRefs(g uintptr, refs int64) {
	setWord(g+ptrSize, word(g+ptrSize)&^prevMask|uintptr(refs)<<prevShift)
}

func gcIsCollecting(g uintptr) bool { return word(g+ptrSize)&prevCollecting != 0 }

func gcClearCollecting(g uintptr) { setWord(g+ptrSize, word(g+ptrSize)&^prevCollecting) }

func gcIsFinalized(g uintptr) bool { return word(g+ptrSize)&prevFinalized != 0 }

func gcSetFinalized(g uintptr) { setWord(g+ptrSize, word(g+ptrSize)|prevFinalized) }
