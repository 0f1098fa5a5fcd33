package rawalloc

// Stats is a snapshot of a Heap's figures. All sizes are in bytes.
//
// Block capacities count the usable bytes only; the 16-byte headers, the
// chunks' start bitmaps, the part of the current chunk that no block has
// been carved from yet, the decommitted tail of a big block that Realloc
// shrank in place and the free big mappings lost to a failed decommit
// (doc.go) are in MappedBytes but in neither LiveBytes nor FreeBytes.
type Stats struct {
	// LiveBlocks is the number of blocks currently allocated.
	LiveBlocks int
	// LiveBytes is the sum of the capacities of the allocated blocks.
	LiveBytes uintptr
	// MappedBytes is everything mapped so far; it never decreases, because
	// the heap keeps what it maps.
	MappedBytes uintptr
	// Maps is the number of successful map calls (chunks and big blocks).
	Maps int
	// FreeBytes is the capacity available for reuse: free class blocks and
	// the cached mappings of freed big blocks.
	FreeBytes uintptr
}

// Stats returns a snapshot of the heap's figures.
func (h *Heap) Stats() Stats {
	h.lock()
	defer h.unlock()
	return h.stats
}
