package gcmodule

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// NumGenerations is the number of generations a Collector collects
// (NUM_GENERATIONS): 0, 1 and 2, the oldest, whose collection is a full
// one. It is the length of GetStats's array and one more than the
// highest generation Collect and GetObjects accept.
const NumGenerations = 3

// generation is struct gc_generation: a list head, a threshold, a count.
type generation struct {
	head      uintptr
	threshold int
	count     int
}

// GenStats is one generation's entry of GetStats
// (struct gc_generation_stats).
type GenStats struct {
	Collections   int // collections of this generation
	Collected     int // objects collected by them
	Uncollectable int // objects found uncollectable by them
}

// Collector is the state CPython keeps per interpreter (GCState): the
// generations, thresholds and counts, the garbage list, the callbacks, the
// debug flags, and the trashcan. Every object belongs to the Collector that
// allocated it, and every function taking an object must be called on that
// Collector.
//
// A Collector and its objects belong to one goroutine at a time, as a
// CPython interpreter belongs to the thread holding its GIL: a program may
// hand a Collector to another goroutine (through a channel or under a
// mutex), but two goroutines must never call into it at once. There is no
// lock: concurrent calls corrupt the generation lists and reference
// counts. The race detector reports them through the Collector's own
// fields, such as the allocation count (it does not see pymalloc memory). Finalizers, weak reference
// callbacks and collection callbacks run on the goroutine that triggered
// them, synchronously.
type Collector struct {
	// live counts the objects allocated and not yet freed, the
	// collector's own included: the only way Close can know that no
	// untracked object (an atom, an untracked tuple or dict) is left.
	// It shares a cache line with generation 0's count, which alloc and
	// free update anyway.
	live      int
	gens      [NumGenerations]generation
	permanent uintptr // permanent_generation (gc.freeze)

	// Working lists of a collection. A collection never nests (collecting
	// guards it), so one head of each is enough.
	unreachable      uintptr
	finalizers       uintptr
	wrcbToCall       uintptr
	seen             uintptr
	finalUnreachable uintptr
	heads            uintptr // the off-heap block holding all the heads above

	enabled    bool
	collecting bool
	broken     string // set when a collection panicked half-way
	closed     bool   // Close has freed what the collector owned
	debug      int

	garbage Object // gc.garbage, a list
	// emptyTuple is (), CPython's singleton: NewTuple() hands out new
	// references to it; it is never tracked, counted or freed.
	emptyTuple Object
	// Callbacks is gc.callbacks: called in order around every collection,
	// automatic or asked for. A program may edit it as Python code edits
	// the list; AddCallback returns the matching remove.
	Callbacks []Callback
	// addedCallback is the function that the AddCallback registration
	// being called wraps: what a panic in it is reported against.
	// callingCallback identifies (callbackID) the list entry being called,
	// so that only that entry's wrapper sets addedCallback.
	addedCallback   Callback
	callingCallback uintptr

	stats            [NumGenerations]GenStats
	longLivedTotal   int
	longLivedPending int

	trashNesting int    // trash_delete_nesting
	trashLater   Object // trash_delete_later, chained through _gc_prev

	out        io.Writer
	unraisable func(Unraisable)

	salt   uint32
	lo, hi uintptr // every object this collector allocated lies in [lo, hi)

	interned map[string]Object // attribute names
	// classKeys are the classes' shared keys (instance.go).
	classKeys map[*typeDesc]*sharedKeys

	// Visitors, bound once so that traversing makes no allocation.
	visitDecrefFn      func(Object)
	visitDecrefFirstFn func(Object)
	visitReachableFn   func(Object)
	visitMoveFn        func(Object)
	visitAppendFn      func(Object)
	visitReferrerFn    func(Object)

	young    uintptr  // visit_reachable's list
	moveTo   uintptr  // visit_move's list
	moved    int      // visit_move's count
	visitOut []Object // visit_append's output (GetReferents)
	targets  []Object // visit_referrer's objects (GetReferrers)
	refFound bool

	freeHook func(o Object) // tests: told about every object freed
}

const (
	headGen0 = iota
	headGen1
	headGen2
	headPermanent
	headUnreachable
	headFinalizers
	headWrcb
	headSeen
	headFinal
	numHeads
)

var collectorSeq atomic.Uint32

// NewCollector returns a collector in CPython's initial state: enabled,
// thresholds (700, 10, 10), no debug flags, empty garbage and callbacks,
// debug output to os.Stderr. It panics when memory is exhausted.
func NewCollector() *Collector {
	c := &Collector{enabled: true, lo: ^uintptr(0)}
	c.salt = (collectorSeq.Add(1) * 0x9E3779B1) | 1
	c.heads = memCalloc(numHeads, gcHeadSize)
	if c.heads == 0 {
		panic("gcmodule: NewCollector: out of memory")
	}
	head := func(i int) uintptr {
		h := c.heads + uintptr(i)*gcHeadSize
		gcListInit(h)
		return h
	}
	c.gens[0] = generation{head: head(headGen0), threshold: 700}
	c.gens[1] = generation{head: head(headGen1), threshold: 10}
	c.gens[2] = generation{head: head(headGen2), threshold: 10}
	c.permanent = head(headPermanent)
	c.unreachable = head(headUnreachable)
	c.finalizers = head(headFinalizers)
	c.wrcbToCall = head(headWrcb)
	c.seen = head(headSeen)
	c.finalUnreachable = head(headFinal)

	c.visitDecrefFn = c.visitDecref
	c.visitDecrefFirstFn = c.visitDecrefFirst
	c.visitReachableFn = c.visitReachable
	c.visitMoveFn = c.visitMove
	c.visitAppendFn = c.visitAppend
	c.visitReferrerFn = c.visitReferrer
	c.interned = make(map[string]Object)
	c.classKeys = make(map[*typeDesc]*sharedKeys)

	c.garbage = c.NewList()
	c.emptyTuple = c.alloc(typeTabAt(TupleType), ptrSize)
	if c.garbage == Nil || c.emptyTuple == Nil {
		panic("gcmodule: NewCollector: out of memory")
	}
	c.uncount() // static in CPython: never linked into the counts
	return c
}

// Close frees what the collector itself owns, once the program's objects
// are gone: the Garbage list, the empty tuple, the interned attribute
// names and the generation lists' heads, every pymalloc block NewCollector
// and the collector's work took. It refuses, with an error saying how many
// objects are still live and where, while any object the collector
// allocated is alive (tracked or not, frozen, in Garbage, or in a cycle
// that only a Collect(2) would free) or a reference to one of its own
// objects (NewTuple()'s empty tuple, Garbage) is still held; the
// collector is then unchanged and still usable. Close runs no collection,
// no finalizer and no callback. It refuses to close Default, which the
// package-level functions use for the life of the program, refuses
// while a collection or a deallocation is in progress (from a finalizer
// or a callback), and refuses for good a collector left unusable by a
// collection that panicked, or one whose own objects a Decref too many
// freed: what it would free can no longer be trusted, so its memory stays
// allocated.
//
// After Close every method panics with a *UsageError, "use of a closed
// Collector", and a second Close returns that error, as closing an
// os.File twice does.
//
// CPython's analogue is an interpreter's finalization (_PyGC_Fini clears
// gc.garbage and gc.callbacks, and the interned strings go); see the
// package documentation for what differs.
func (c *Collector) Close() error {
	switch {
	case c.closed:
		return c.closedError("Close")
	case c == Default:
		return errors.New("gcmodule: Close: Default is never closed: the package-level functions use it for the life of the program")
	case c.broken != "":
		// Its lists are half collected: nothing in them can be trusted
		// enough to free, so its memory stays allocated.
		return fmt.Errorf("gcmodule: Close: the collector is unusable (%s): its memory cannot be released", c.broken)
	case c.collecting || c.trashNesting > 0:
		return errors.New("gcmodule: Close: called during a collection or a deallocation")
	}
	own := []Object{c.garbage, c.emptyTuple}
	for _, s := range c.interned {
		own = append(own, s)
	}
	// Check its own objects before trusting the count: a Decref too many
	// may have freed one, and freeing it again would go half-way.
	for _, o := range own {
		if h := hdr(o); h.tag != c.tagFor(o) || h.refcnt < 1 {
			return fmt.Errorf("gcmodule: Close: the collector's own object %#x (Garbage, the empty tuple or an interned attribute name) was freed by a Decref it did not own: the collector cannot be closed", uintptr(o))
		}
	}
	if n := c.live - len(own); n != 0 {
		// The Garbage list is tracked, and frozen with the rest by
		// Freeze; it is not one of the program's objects.
		count := func(head uintptr) (n int) {
			for g := gcNext(head); g != head; g = gcNext(g) {
				if fromGC(g) != c.garbage {
					n++
				}
			}
			return n
		}
		frozen := count(c.permanent)
		tracked := frozen
		for i := range NumGenerations {
			tracked += count(c.gens[i].head)
		}
		return fmt.Errorf("gcmodule: Close: %d objects are still live (%d tracked, %d of them frozen; %d in Garbage): drop them, and Collect(2) if they are in cycles, before closing",
			n, tracked, frozen, listOf(c.garbage).size)
	}
	held := 0
	for _, o := range own {
		held += int(hdr(o).refcnt) - 1
	}
	if held > 0 {
		return fmt.Errorf("gcmodule: Close: %d references to the collector's own objects (NewTuple()'s empty tuple, Garbage, the interned attribute names) are still held", held)
	}
	c.decref(c.garbage)
	c.freeEarly(c.emptyTuple) // never tracked, never counted, never decref'd to zero
	for _, s := range c.interned {
		c.decref(s)
	}
	memFree(c.heads)
	// An empty range of addresses sends every handle check to badHandle,
	// which reports the closed collector: the object methods pay nothing
	// for it.
	*c = Collector{closed: true, lo: ^uintptr(0), salt: c.salt}
	return nil
}

// closedError is the misuse of a closed Collector.
func (c *Collector) closedError(call string) *UsageError {
	return argUsage(call, "", "use of a closed Collector")
}

// checkOpen panics if c is closed; methods that take an object learn it
// from the handle check instead.
func (c *Collector) checkOpen(call string) {
	if c.closed || c.broken != "" {
		c.refuse(call)
	}
}

// refuse panics for a call on a closed collector or on one a panicking
// collection left unusable.
//
//go:noinline
func (c *Collector) refuse(call string) {
	if c.closed {
		panic(c.closedError(call))
	}
	panic(argUsage(call, "", "the collector is unusable: %s", c.broken))
}

// alloc returns a new object of type t with size bytes of zeroed data,
// reference count 1, untracked; Nil when memory is exhausted. For a
// container it is _PyObject_GC_New: the allocation counts towards
// generation 0 and may start an automatic collection, before the caller
// has tracked the object.
func (c *Collector) alloc(t *typeDesc, size uintptr) Object {
	n := hdrSize + size
	var o Object
	if t.gc {
		g := objMalloc(gcHeadSize + n)
		if g == 0 {
			return Nil
		}
		if g&7 != 0 {
			// The GC head's flag bits need the low bits of addresses.
			panic(usage("alloc", Object(g), "the OBJ domain's allocator returned a block that is not 8-byte aligned"))
		}
		setWord(g, 0)
		setWord(g+ptrSize, 0)
		o = fromGC(g)
	} else {
		p := objMalloc(n)
		if p == 0 {
			return Nil
		}
		o = Object(p)
	}
	for a := body(o); a < body(o)+size; a += ptrSize {
		setWord(a, 0)
	}
	h := hdr(o)
	h.refcnt = 1
	h.typ = t.index
	h.flags = 0
	if t.gc {
		h.flags = flagGC
	}
	h.tag = c.tagFor(o)
	c.live++
	if a := uintptr(o); a < c.lo {
		c.lo = a
	}
	if a := uintptr(o) + 1; a > c.hi {
		c.hi = a
	}
	if t.gc {
		c.gcLink()
	}
	return o
}

// gcLink is _PyObject_GC_Link's accounting: one more container
// allocated, and the automatic collection trigger.
func (c *Collector) gcLink() {
	g0 := &c.gens[0]
	g0.count++
	if g0.count > g0.threshold && c.enabled && g0.threshold != 0 && !c.collecting && c.broken == "" {
		c.collecting = true
		c.collectGenerations()
		c.collecting = false
	}
}

// gcFree is PyObject_GC_Del: unlink if still tracked, uncount, free.
func (c *Collector) gcFree(o Object) {
	g := asGC(o)
	if gcNext(g) != 0 {
		gcListRemove(g)
	}
	if c.gens[0].count > 0 {
		c.gens[0].count--
	}
	c.freeBlock(o, g)
}

// freeEarly frees an untracked container whose references the caller has
// read but not yet dropped; uncount must follow once they are dropped, so
// that generation 0's count moves as in CPython. Freeing a block before
// what it references makes a chain's blocks go back to pymalloc in the
// order the chain is torn down rather than its reverse, so that the
// memory is handed out again in order.
func (c *Collector) freeEarly(o Object) { c.freeBlock(o, asGC(o)) }

// uncount is gcFree's accounting, after freeEarly.
func (c *Collector) uncount() {
	if c.gens[0].count > 0 {
		c.gens[0].count--
	}
}

// atomFree is PyObject_Free for an object without a GC head.
func (c *Collector) atomFree(o Object) { c.freeBlock(o, uintptr(o)) }

func (c *Collector) freeBlock(o Object, block uintptr) {
	hdr(o).tag = c.deadTag(o)
	c.live--
	if c.freeHook != nil {
		c.freeHook(o)
	}
	objFree(block)
}

// track is _PyObject_GC_TRACK: append to generation 0.
func (c *Collector) track(o Object) {
	g := asGC(o)
	if gcNext(g) != 0 {
		panic(usage("Track", o, "object already tracked"))
	}
	if word(g+ptrSize)&prevCollecting != 0 {
		panic(usage("Track", o, "object is in a generation being collected"))
	}
	gcListAppend(g, c.gens[0].head)
}

// untrack is _PyObject_GC_UNTRACK; like PyObject_GC_UnTrack it accepts
// an object that is not tracked.
func untrack(o Object) {
	g := asGC(o)
	if gcNext(g) == 0 {
		return
	}
	gcListRemove(g)
	setWord(g+ptrSize, word(g+ptrSize)&prevFinalized)
}

func isTracked(o Object) bool { return gcNext(asGC(o)) != 0 }

// Track starts tracking a container that Untrack stopped tracking
// (PyObject_GC_Track). It panics if o is already tracked.
func (c *Collector) Track(o Object) {
	c.check("Track", o)
	if !isGC(o) {
		panic(usage("Track", o, "%s objects are not containers", typeOf(o).name))
	}
	c.track(o)
}

// Untrack stops tracking a container (PyObject_GC_UnTrack), which a type
// may do when it knows the object can no longer take part in a cycle.
// Untracking an untracked object does nothing.
func (c *Collector) Untrack(o Object) {
	c.check("Untrack", o)
	if isGC(o) {
		untrack(o)
	}
}

// SetOutput sets where the DEBUG_* flags print (sys.stderr in CPython);
// nil means os.Stderr.
func (c *Collector) SetOutput(w io.Writer) {
	c.checkOpen("SetOutput")
	c.out = w
}

func (c *Collector) output() io.Writer {
	if c.out == nil {
		return os.Stderr
	}
	return c.out
}
