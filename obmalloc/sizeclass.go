package obmalloc

// Size classes. Class i holds blocks of (i+1)*Alignment bytes, so with the
// default 16-byte alignment a request of n bytes (1 <= n <= 512) falls in
// class (n-1)>>4: 1..16 -> 0, 17..32 -> 1, ..., 497..512 -> 31. There is no
// lookup table; one shift finds the class, as in CPython.

// sizeClass returns the class of a small request (1 <= n <= threshold).
func (l *layout) sizeClass(n uintptr) int { return int((n - 1) >> l.alignShift) }

// blockSize is INDEX2SIZE: the size in bytes of the blocks of class i.
func (l *layout) blockSize(i int) uintptr { return uintptr(i+1) << l.alignShift }

// SizeClass reports the size class that serves a request of n bytes and
// the block size it gets, or ok == false when n is 0 or above the
// threshold (such requests go to the large-block allocator).
func (h *Heap) SizeClass(n uintptr) (class int, blockSize uintptr, ok bool) {
	if n == 0 || n > h.l.threshold {
		return 0, 0, false
	}
	c := h.l.sizeClass(n)
	return c, h.l.blockSize(c), true
}
