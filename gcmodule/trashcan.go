package gcmodule

// The trashcan (Py_TRASHCAN_BEGIN / Py_TRASHCAN_END): dropping the head of
// a long chain of containers would otherwise recurse once per link, each
// dealloc decref'ing the next object to zero. Container deallocators
// bracket their body with trashBegin and trashEnd. Past unwindLevel nested
// deallocations the dying object (count zero, untracked) is pushed on a
// "delete later" chain threaded through its _gc_prev word, and its
// deallocation returns at once; when the outermost deallocation finishes,
// the chain is drained in a loop. Recursion depth, on any goroutine stack,
// stays below unwindLevel container frames however long the chain is.

const trashUnwindLevel = 50 // _PyTrash_UNWIND_LEVEL

// trashBegin is _PyTrash_begin: it reports whether o was deferred, in
// which case the caller must return without touching o.
func (c *Collector) trashBegin(o Object) bool {
	if c.trashNesting >= trashUnwindLevel {
		setPrev(asGC(o), uintptr(c.trashLater))
		c.trashLater = o
		return true
	}
	c.trashNesting++
	return false
}

// trashEnd is _PyTrash_end.
func (c *Collector) trashEnd() {
	c.trashNesting--
	if c.trashLater != Nil && c.trashNesting <= 0 {
		c.trashDestroyChain()
	}
}

// trashDestroyChain is _PyTrash_thread_destroy_chain. The nesting count
// is raised while it runs so that the deallocations it calls defer to the
// chain instead of draining it recursively.
func (c *Collector) trashDestroyChain() {
	c.trashNesting++
	for c.trashLater != Nil {
		o := c.trashLater
		c.trashLater = Object(gcPrev(asGC(o)))
		c.dealloc(o)
	}
	c.trashNesting--
}
