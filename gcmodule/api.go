package gcmodule

import (
	"math"
	"slices"
	"strconv"
	"unsafe"
)

// The gc module's functions, name for name, as methods of a Collector.
// default.go has the same functions at package level, on Default.

// Callback is a function in Callbacks (gc.callbacks): called with phase
// "start" before a collection and "stop" after it.
type Callback func(phase string, info CallbackInfo)

// CallbackInfo is the info dict of a gc callback.
type CallbackInfo struct {
	Generation    int // the generation collected
	Collected     int // objects collected ("stop" only; 0 on "start")
	Uncollectable int // objects found uncollectable and put in Garbage ("stop" only)
}

// invokeCallbacks is invoke_gc_callback. The list is read afresh at each
// step, as CPython does, so a callback may change it; a panicking
// callback is reported as unraisable and the rest still run.
func (c *Collector) invokeCallbacks(phase string, gen, collected, uncollectable int) {
	info := CallbackInfo{Generation: gen, Collected: collected, Uncollectable: uncollectable}
	for i := 0; i < len(c.Callbacks); i++ {
		c.callCallback(c.Callbacks[i], phase, info)
	}
}

func (c *Collector) callCallback(cb Callback, phase string, info CallbackInfo) {
	c.addedCallback = nil
	c.callingCallback = callbackID(cb)
	defer c.catchCallback(cb)
	cb(phase, info)
}

// catchCallback is PyErr_WriteUnraisable(cb) for a collection callback
// that panicked: CPython reports it against the callback object
// ("Exception ignored in: <function cb at 0x...>"); here the callback is a
// Go function, so Desc names it and Object stays Nil. For a registration
// of AddCallback it names the function the program passed, not the
// wrapper around it.
func (c *Collector) catchCallback(cb Callback) {
	if r := recover(); r != nil {
		if c.addedCallback != nil {
			cb = c.addedCallback
		}
		c.report(Unraisable{Err: r, Desc: funcDesc(cb)})
	}
}

// AddCallback appends cb to c.Callbacks (gc.callbacks.append(cb)) and
// returns a function that removes it (gc.callbacks.remove(cb)), which Go
// cannot do by value since funcs are not comparable. remove takes out this
// registration wherever it is in the list by then, even if cb was added
// more than once or the list was edited by hand; once it is gone (removed,
// or dropped from the list by hand) remove does nothing. Like a
// gc.callbacks.remove in a callback, removing a callback while the
// callbacks run makes the next one miss that phase. A nil cb panics, and
// so does remove, as every call does, once c is closed or unusable.
func (c *Collector) AddCallback(cb Callback) (remove func()) {
	c.checkOpen("AddCallback")
	if cb == nil {
		panic(argUsage("AddCallback", "nil", "nil callback"))
	}
	// The wrapper is a closure of its own, so that its funcval, unlike
	// cb's, names this registration and no other.
	var w Callback
	w = func(phase string, info CallbackInfo) {
		// Called as the list's entry, a panic out of it is cb's, for
		// catchCallback (collections never nest). Called by another
		// callback, a panic is that callback's, as in CPython, where the
		// exception leaves the entry that raised it.
		if c.callingCallback == callbackID(w) {
			c.addedCallback = cb
		}
		cb(phase, info)
	}
	c.Callbacks = append(c.Callbacks, w)
	return func() {
		c.checkOpen("AddCallback's remove")
		id := callbackID(w)
		for i, x := range c.Callbacks {
			if x != nil && callbackID(x) == id {
				// A new slice, not an edit in place: a copy of the list
				// the caller kept (to restore it later) stays as it was.
				c.Callbacks = slices.Concat(c.Callbacks[:i], c.Callbacks[i+1:])
				return
			}
		}
	}
}

// callbackID is the identity of a func value: the address of its funcval,
// which the gc compiler allocates afresh for each closure that captures
// variables (as AddCallback's wrapper does). Go offers no other way to tell
// two func values apart.
func callbackID(cb Callback) uintptr { return *(*uintptr)(unsafe.Pointer(&cb)) }

// Collect runs a collection of generation gen (0, 1 or 2; 2 is a full
// collection) with the callbacks around it, and returns the number of
// unreachable objects found: collected plus uncollectable (gc.collect).
// It works while automatic collection is disabled, returns 0 at once when
// called during a collection (from a finalizer or a callback), and panics
// on any other generation ("invalid generation", CPython's ValueError).
func (c *Collector) Collect(gen int) int {
	c.checkOpen("Collect")
	if gen < 0 || gen >= NumGenerations {
		panic(argUsage("Collect", strconv.Itoa(gen), "invalid generation"))
	}
	if c.collecting {
		return 0
	}
	c.collecting = true
	n := c.guarded(gen)
	c.collecting = false
	return n
}

// Enable turns automatic collection on (gc.enable).
func (c *Collector) Enable() {
	c.checkOpen("Enable")
	c.enabled = true
}

// Disable turns automatic collection off (gc.disable); Collect still
// works.
func (c *Collector) Disable() {
	c.checkOpen("Disable")
	c.enabled = false
}

// IsEnabled reports whether automatic collection is on (gc.isenabled).
func (c *Collector) IsEnabled() bool {
	c.checkOpen("IsEnabled")
	return c.enabled
}

// GetCount returns the current collection counts (gc.get_count): container
// allocations minus deallocations since the last collection, then the
// number of generation-0 collections since the last collection of
// generation 1 or older, then the generation-1 collections since the last
// full collection.
func (c *Collector) GetCount() (count0, count1, count2 int) {
	c.checkOpen("GetCount")
	return c.gens[0].count, c.gens[1].count, c.gens[2].count
}

// GetThreshold returns the collection thresholds (gc.get_threshold).
func (c *Collector) GetThreshold() (threshold0, threshold1, threshold2 int) {
	c.checkOpen("GetThreshold")
	return c.gens[0].threshold, c.gens[1].threshold, c.gens[2].threshold
}

// SetThreshold sets threshold0 and, if given, threshold1 and threshold2
// (gc.set_threshold); the others are unchanged. threshold0 = 0 turns
// automatic collection off. More than three thresholds panic, and so
// does a threshold outside a C int, which CPython's argument parsing
// refuses with an OverflowError after storing the thresholds before it.
func (c *Collector) SetThreshold(threshold0 int, more ...int) {
	c.checkOpen("SetThreshold")
	if len(more) > NumGenerations-1 {
		panic(argUsage("SetThreshold", "", "takes at most 3 arguments (%d given)", 1+len(more)))
	}
	for i, t := range append([]int{threshold0}, more...) {
		switch {
		case t > math.MaxInt32:
			panic(argUsage("SetThreshold", "", "signed integer is greater than maximum (%d)", t))
		case t < math.MinInt32:
			panic(argUsage("SetThreshold", "", "signed integer is less than minimum (%d)", t))
		}
		c.gens[i].threshold = t
	}
}

// SetDebug sets the debug flags (gc.set_debug).
func (c *Collector) SetDebug(flags int) {
	c.checkOpen("SetDebug")
	c.debug = flags
}

// GetDebug returns the debug flags (gc.get_debug).
func (c *Collector) GetDebug() int {
	c.checkOpen("GetDebug")
	return c.debug
}

// GetStats returns per-generation statistics (gc.get_stats), indexed by
// the generation each collection was asked for.
func (c *Collector) GetStats() [NumGenerations]GenStats {
	c.checkOpen("GetStats")
	return c.stats
}

// AllGenerations asks GetObjects for every generation (generation=None).
const AllGenerations = -1

// GetObjects returns the objects tracked in generation gen, or in all
// three for AllGenerations (gc.get_objects); frozen objects are not
// included. The handles are borrowed. It panics, with CPython's messages,
// for a generation above 2 or below -1.
func (c *Collector) GetObjects(gen int) []Object {
	c.checkOpen("GetObjects")
	if gen >= NumGenerations {
		panic(argUsage("GetObjects", strconv.Itoa(gen), "generation parameter must be less than the number of available generations (%d)", NumGenerations))
	}
	var out []Object
	if gen != AllGenerations {
		if gen < 0 {
			panic(argUsage("GetObjects", strconv.Itoa(gen), "generation parameter cannot be negative"))
		}
		return appendObjects(out, c.gens[gen].head)
	}
	for i := 0; i < NumGenerations; i++ {
		out = appendObjects(out, c.gens[i].head)
	}
	return out
}

func appendObjects(out []Object, list uintptr) []Object {
	for g := gcNext(list); g != list; g = gcNext(g) {
		out = append(out, fromGC(g))
	}
	return out
}

func (c *Collector) visitReferrer(o Object) {
	for _, t := range c.targets {
		if o == t {
			c.refFound = true
			return
		}
	}
}

// GetReferrers returns the tracked containers, in the three generations,
// that refer directly to any of objs (gc.get_referrers). Untracked and
// frozen containers are not searched. The handles are borrowed.
func (c *Collector) GetReferrers(objs ...Object) []Object {
	c.checkOpen("GetReferrers")
	for _, o := range objs {
		c.check("GetReferrers", o)
	}
	tab := *typeTab.Load()
	c.targets = objs
	defer func() { c.targets = nil }()
	var out []Object
	for i := 0; i < NumGenerations; i++ {
		head := c.gens[i].head
		for g := gcNext(head); g != head; g = gcNext(g) {
			o := fromGC(g)
			c.refFound = false
			tab[hdr(o).typ].traverse(o, c.visitReferrerFn)
			if c.refFound {
				out = append(out, o)
			}
		}
	}
	return out
}

func (c *Collector) visitAppend(o Object) {
	if o != Nil {
		c.visitOut = append(c.visitOut, o)
	}
}

// GetReferents returns what the containers among objs refer to directly,
// as their traverse functions visit them (gc.get_referents); atoms
// contribute nothing. The handles are borrowed.
func (c *Collector) GetReferents(objs ...Object) []Object {
	c.checkOpen("GetReferents")
	c.visitOut = nil
	for _, o := range objs {
		c.check("GetReferents", o)
		if !isGC(o) {
			continue
		}
		typeOf(o).traverse(o, c.visitAppendFn)
	}
	out := c.visitOut
	c.visitOut = nil
	return out
}

// IsTracked reports whether the collector tracks o (gc.is_tracked): false
// for atoms, for the empty tuple, for tuples and dicts that hold only
// atoms once they have been untracked.
func (c *Collector) IsTracked(o Object) bool {
	c.check("IsTracked", o)
	return isGC(o) && isTracked(o)
}

// IsFinalized reports whether o's finalizer has run (gc.is_finalized).
func (c *Collector) IsFinalized(o Object) bool {
	c.check("IsFinalized", o)
	return isGC(o) && gcIsFinalized(asGC(o))
}

// Freeze moves every tracked object into the permanent generation, which
// collections never examine, and zeroes the counts (gc.freeze): meant to
// be called before fork so that collections do not touch, and unshare,
// the parent's pages. Frozen garbage stays until Unfreeze.
func (c *Collector) Freeze() {
	c.checkOpen("Freeze")
	for i := 0; i < NumGenerations; i++ {
		gcListMerge(c.gens[i].head, c.permanent)
		c.gens[i].count = 0
	}
}

// Unfreeze moves the permanent generation back into generation 2
// (gc.unfreeze).
func (c *Collector) Unfreeze() {
	c.checkOpen("Unfreeze")
	gcListMerge(c.permanent, c.gens[NumGenerations-1].head)
}

// GetFreezeCount returns the number of objects in the permanent
// generation (gc.get_freeze_count).
func (c *Collector) GetFreezeCount() int {
	c.checkOpen("GetFreezeCount")
	return gcListSize(c.permanent)
}

// Garbage returns gc.garbage, a list object owned by the collector
// (borrowed): the uncollectable objects the collector found (those with a
// legacy finalizer, in cyclic garbage), or, under DebugSaveAll, every
// unreachable object. It holds references to them; clear it with
// ListClear, or remove entries with ListPop and ListRemove.
func (c *Collector) Garbage() Object {
	c.checkOpen("Garbage")
	return c.garbage
}
