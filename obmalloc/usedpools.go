package obmalloc

// usedpools: for each size class, a circular doubly linked ring of the
// pools that have both used and free blocks. Allocation always takes the
// first pool of its class's ring.
//
// As in CPython, the table stores only two words per class: slots 2i and
// 2i+1 are the nextpool and prevpool fields of a phantom pool header for
// class i, which starts two words before slot 2i. Only those two fields of
// a phantom are ever touched, so the bytes before them may belong to the
// previous class; the table is mapped with two spare words in front so the
// phantom of class 0 stays inside the mapping.
//
//	usedpools:  [pad pad][next0 prev0][next1 prev1] ... [next31 prev31]
//	             \______ phantom 0 ______/
//	                           \______ phantom 1 ______/
//
// An empty ring is a phantom whose nextpool and prevpool point to itself.

// usedpoolsBytes is the table's size for n classes, with its front padding.
func usedpoolsBytes(n int) uintptr { return uintptr(2*n+2) * ptrSize }

// phantom returns the address of class idx's phantom pool header.
func (h *Heap) phantom(idx uint32) uintptr {
	return h.usedpools + uintptr(idx)*2*ptrSize - 2*ptrSize
}

// initUsedpools makes every ring empty.
func (h *Heap) initUsedpools() {
	for i := 0; i < h.l.nclasses; i++ {
		ph := poolAt(h.phantom(uint32(i)))
		ph.nextpool = ph.addr()
		ph.prevpool = ph.addr()
	}
}

// linkPoolFront inserts pool at the front of class idx's ring, so the next
// allocation of that class comes from it.
func (h *Heap) linkPoolFront(pool *poolHeader, idx uint32) {
	head := poolAt(h.phantom(idx))
	first := poolAt(head.nextpool)
	pool.nextpool = first.addr()
	pool.prevpool = head.addr()
	first.prevpool = pool.addr()
	head.nextpool = pool.addr()
}

// unlinkPool removes pool from the ring it is in.
func unlinkPool(pool *poolHeader) {
	next, prev := poolAt(pool.nextpool), poolAt(pool.prevpool)
	next.prevpool = prev.addr()
	prev.nextpool = next.addr()
}
