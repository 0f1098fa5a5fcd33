package gcmodule

import (
	"fmt"
	"time"
)

// One collection: gc_collect_main and the phases it calls, in CPython
// 3.11's order and with its names. Every working list is threaded through
// the GC heads, so a collection allocates nothing per object.
//
//	young = generation g (with the younger ones spliced onto it)
//	  update_refs       gc_refs := refcount, COLLECTING set
//	  subtract_refs     gc_refs -= references from inside young
//	  move_unreachable  gc_refs == 0 and not reached -> unreachable
//	untrack_tuples, (g == 2) untrack_dicts; survivors -> older generation
//	  move_legacy_finalizers (+ what they reach)        -> finalizers
//	  handle_weakrefs   clear weakrefs to unreachable, call callbacks of
//	                    weakrefs that survive
//	  finalize_garbage  tp_finalize once per object
//	  handle_resurrected_objects  second reachability pass
//	  delete_garbage    tp_clear; what survives goes to the older generation
//	  handle_legacy_finalizers    tp_del objects -> Garbage

// updateRefs is update_refs.
func updateRefs(containers uintptr) {
	for g := gcNext(containers); g != containers; g = gcNext(g) {
		o := fromGC(g)
		resetRefs(o, g, hdr(o))
	}
}

// deduceUnreachable is deduce_unreachable. It returns what
// move_unreachable counted of the objects left in base, and how many
// base held. whole says that base holds every tracked object (a full
// collection, nothing frozen), which lets update_refs and subtract_refs
// share one walk.
func (c *Collector) deduceUnreachable(base, unreachable uintptr, whole bool) (youngCounts, int) {
	if !whole {
		updateRefs(base)
	}
	total := c.refsWalk(base, whole)
	gcListInit(unreachable)
	return c.moveUnreachable(base, unreachable), total
}

// untrackTuples is untrack_tuples; it returns how many it untracked.
func untrackTuples(head uintptr) int {
	n := 0
	for g := gcNext(head); g != head; {
		next := gcNext(g)
		if o := fromGC(g); hdr(o).typ == TupleType {
			tupleMaybeUntrack(o)
			if gcNext(g) == 0 {
				n++
			}
		}
		g = next
	}
	return n
}

// untrackDicts is untrack_dicts; it returns how many it untracked.
func untrackDicts(head uintptr) int {
	n := 0
	for g := gcNext(head); g != head; {
		next := gcNext(g)
		if o := fromGC(g); hdr(o).typ == DictType {
			dictMaybeUntrack(o)
			if gcNext(g) == 0 {
				n++
			}
		}
		g = next
	}
	return n
}

// garbageCounts is what move_legacy_finalizers saw of the objects it
// left in unreachable (a superset of what remains once the objects the
// legacy finalizers reach are moved out too).
type garbageCounts struct {
	objects    int
	weakrefs   bool // some are weakrefs or can be weakly referenced
	finalizers bool // some have tp_finalize
}

// moveLegacyFinalizers is move_legacy_finalizers. (CPython's pass also
// drops NEXT_MASK_UNREACHABLE; flagUnreachable needs no clearing.)
func moveLegacyFinalizers(unreachable, finalizers uintptr) garbageCounts {
	tab := *typeTab.Load()
	var n garbageCounts
	for g := gcNext(unreachable); g != unreachable; {
		next := gcNext(g)
		t := tab[hdr(fromGC(g)).typ]
		if t.del != nil {
			gcClearCollecting(g)
			gcListMove(g, finalizers)
		} else {
			n.objects++
			n.weakrefs = n.weakrefs || t.kind == kindWeakref || t.weaklist != 0
			n.finalizers = n.finalizers || t.finalize != nil
		}
		g = next
	}
	return n
}

// visitMove is visit_move; c.moveTo is its list, c.moved counts.
func (c *Collector) visitMove(o Object) {
	if o == Nil || !isGC(o) {
		return
	}
	g := asGC(o)
	if gcIsCollecting(g) {
		gcListMove(g, c.moveTo)
		gcClearCollecting(g)
		c.moved++
	}
}

// moveLegacyFinalizerReachable is move_legacy_finalizer_reachable: the
// list grows while it is walked. It returns how many objects it moved.
func (c *Collector) moveLegacyFinalizerReachable(finalizers uintptr) int {
	tab := *typeTab.Load()
	c.moveTo = finalizers
	c.moved = 0
	for g := gcNext(finalizers); g != finalizers; g = gcNext(g) {
		o := fromGC(g)
		tab[hdr(o).typ].traverse(o, c.visitMoveFn)
	}
	return c.moved
}

// handleWeakrefs is handle_weakrefs. First every weakref in the garbage is
// cleared, and so is every weakref to the garbage; those that have a
// callback and are not garbage themselves are set aside. No callback may
// run before all of them are cleared, or it could reach an unreachable
// object through a weakref still alive. Then the callbacks run. It returns
// how many of the set-aside weakrefs died as a result, and how many
// callbacks it called.
func (c *Collector) handleWeakrefs(unreachable, old uintptr) (freed, called int) {
	tab := *typeTab.Load()
	wrcb := c.wrcbToCall
	gcListInit(wrcb)
	for g := gcNext(unreachable); g != unreachable; {
		o := fromGC(g)
		next := gcNext(g)
		t := tab[hdr(o).typ]
		if t.kind == kindWeakref {
			// Its callback must not run: it could see objects that
			// tp_clear already emptied (bpo-38006).
			unlinkWeakref(o)
		}
		if t.weaklist != 0 {
			list := weaklist(o, t)
			for wr := *list; wr != Nil; wr = *list {
				unlinkWeakref(wr) // keeps the callback
				if wrOf(wr).callback == Nil {
					continue
				}
				if gcIsCollecting(asGC(wr)) {
					// The weakref is garbage too: no callback.
					continue
				}
				c.incref(wr)
				gcListMove(asGC(wr), wrcb)
			}
		}
		g = next
	}
	for !gcListIsEmpty(wrcb) {
		g := gcNext(wrcb)
		wr := fromGC(g)
		called++
		c.handleCallback(wr, wrOf(wr).callback)
		c.decref(wr)
		if gcNext(wrcb) == g {
			gcListMove(g, old) // still alive
		} else {
			freed++
		}
	}
	return freed, called
}

// finalizeGarbage is finalize_garbage: call each tp_finalize once. Since a
// finalizer may free anything, including other members of the list, the
// loop always takes the list's first object and moves it to seen. It
// returns how many finalizers it called.
func (c *Collector) finalizeGarbage(collectable uintptr) (called int) {
	seen := c.seen
	gcListInit(seen)
	for !gcListIsEmpty(collectable) {
		g := gcNext(collectable)
		o := fromGC(g)
		gcListMove(g, seen)
		if t := typeOf(o); !gcIsFinalized(g) && t.finalize != nil {
			gcSetFinalized(g)
			c.incref(o)
			c.callFinalizer(o, t)
			c.decref(o)
			called++
		}
	}
	gcListMerge(seen, collectable)
	return called
}

// handleResurrectedObjects is handle_resurrected_objects: a second
// reachability pass over what survived the finalizers; whatever is
// reachable now was resurrected and goes to old.
func (c *Collector) handleResurrectedObjects(unreachable, stillUnreachable, old uintptr) {
	gcListClearCollecting(unreachable)
	c.deduceUnreachable(unreachable, stillUnreachable, false)
	gcListMerge(unreachable, old)
}

// deleteGarbage is delete_garbage: tp_clear each object to break its
// cycles; one still alive afterwards goes to old.
func (c *Collector) deleteGarbage(collectable, old uintptr) {
	for !gcListIsEmpty(collectable) {
		g := gcNext(collectable)
		o := fromGC(g)
		if hdr(o).refcnt <= 0 {
			fatalObject(o, "delete_garbage", "refcount is too small")
		}
		if c.debug&DebugSaveAll != 0 {
			if c.ListAppend(c.garbage, o) != nil {
				c.unraisableMsg(ErrNoMemory, "in garbage collection", Nil)
			}
		} else if t := typeOf(o); t.clear != nil {
			c.incref(o)
			if t.userClear {
				c.callClear(o, t)
			} else {
				t.clear(c, o)
			}
			c.decref(o)
		}
		if gcNext(collectable) == g {
			gcClearCollecting(g)
			gcListMove(g, old)
		}
	}
}

func (c *Collector) callClear(o Object, t *typeDesc) {
	defer c.catchType("in tp_clear of", t)
	t.clear(c, o)
}

// handleLegacyFinalizers is handle_legacy_finalizers.
func (c *Collector) handleLegacyFinalizers(finalizers, old uintptr) {
	for g := gcNext(finalizers); g != finalizers; g = gcNext(g) {
		o := fromGC(g)
		if c.debug&DebugSaveAll != 0 || typeOf(o).del != nil {
			if c.ListAppend(c.garbage, o) != nil {
				break
			}
		}
	}
	gcListMerge(finalizers, old)
}

// collectMain is gc_collect_main: collect generation gen (and the younger
// ones) and return the number of objects collected (m) and found
// uncollectable (n).
func (c *Collector) collectMain(gen int) (collected, uncollectable int) {
	var t1 time.Time
	if c.debug&DebugStats != 0 {
		fmt.Fprintf(c.output(), "gc: collecting generation %d...\n", gen)
		c.showStatsEachGenerations()
		t1 = time.Now()
	}

	// Update the collection and allocation counters.
	if gen+1 < NumGenerations {
		c.gens[gen+1].count++
	}
	for i := 0; i <= gen; i++ {
		c.gens[i].count = 0
	}

	// Merge the younger generations into the one collected.
	for i := 0; i < gen; i++ {
		gcListMerge(c.gens[i].head, c.gens[gen].head)
	}
	young := c.gens[gen].head
	old := young
	if gen < NumGenerations-1 {
		old = c.gens[gen+1].head
	}

	unreachable := c.unreachable
	yc, total := c.deduceUnreachable(young, unreachable, gen == NumGenerations-1 && gcListIsEmpty(c.permanent))

	// The passes below are CPython's; a pass is skipped only when what
	// move_unreachable and move_legacy_finalizers counted shows it would
	// change nothing (no tuple to untrack, no finalizer to call...), and
	// list sizes come from those counts instead of another walk.
	survivors := yc.objects
	if yc.tuples > 0 { // some tuple may be untracked
		survivors -= untrackTuples(young)
	}
	// Survivors move to the next generation.
	if young != old {
		if gen == NumGenerations-2 {
			c.longLivedPending += survivors
		}
		gcListMerge(young, old)
	} else {
		// Dicts are untracked only by full collections, to avoid
		// quadratic rescans while a big dict is being built (bpo-14775).
		if yc.dicts > 0 { // some dict may be untracked
			survivors -= untrackDicts(young)
		}
		c.longLivedPending = 0
		c.longLivedTotal = survivors
	}

	// Objects with legacy finalizers, and what they reach, cannot be
	// collected safely.
	finalizers := c.finalizers
	gcListInit(finalizers)
	var gcn garbageCounts
	if yc.slots&hasDel != 0 {
		gcn = moveLegacyFinalizers(unreachable, finalizers)
		gcn.objects -= c.moveLegacyFinalizerReachable(finalizers)
	} else {
		// No legacy finalizer in sight: the pass would move nothing, and
		// what it would count is known.
		gcn = garbageCounts{
			objects:    total - yc.objects,
			weakrefs:   yc.slots&hasWeakrefs != 0,
			finalizers: yc.slots&hasFinalize != 0,
		}
	}

	if c.debug&DebugCollectable != 0 {
		for g := gcNext(unreachable); g != unreachable; g = gcNext(g) {
			c.debugCycle("collectable", fromGC(g))
		}
	}

	m, callbacks := 0, 0
	if gcn.weakrefs {
		m, callbacks = c.handleWeakrefs(unreachable, old)
	}

	finalized := 0
	if gcn.finalizers {
		finalized = c.finalizeGarbage(unreachable)
	}

	// Only code that ran (a finalizer, a weakref callback) can have
	// resurrected anything; otherwise the second reachability pass
	// would find the same set in the same order.
	finalUnreachable := c.finalUnreachable
	if finalized > 0 || callbacks > 0 {
		c.handleResurrectedObjects(unreachable, finalUnreachable, old)
		m += gcListSize(finalUnreachable)
	} else {
		gcListInit(finalUnreachable)
		gcListMerge(unreachable, finalUnreachable)
		m += gcn.objects
	}
	c.deleteGarbage(finalUnreachable, old)

	n := 0
	for g := gcNext(finalizers); g != finalizers; g = gcNext(g) {
		n++
		if c.debug&DebugUncollectable != 0 {
			c.debugCycle("uncollectable", fromGC(g))
		}
	}
	if c.debug&DebugStats != 0 {
		d := time.Since(t1).Seconds()
		fmt.Fprintf(c.output(), "gc: done, %d unreachable, %d uncollectable, %.4fs elapsed\n", n+m, n, d)
	}

	c.handleLegacyFinalizers(finalizers, old)

	st := &c.stats[gen]
	st.Collections++
	st.Collected += m
	st.Uncollectable += n
	return m, n
}

// collectWithCallback is gc_collect_with_callback.
func (c *Collector) collectWithCallback(gen int) int {
	c.invokeCallbacks("start", gen, 0, 0)
	m, n := c.collectMain(gen)
	c.invokeCallbacks("stop", gen, m, n)
	return m + n
}

// collectGenerations is gc_collect_generations, the automatic path: the
// oldest generation whose count exceeds its threshold, except that a full
// collection also waits until the objects promoted into generation 2
// since the last one (long_lived_pending) are a quarter of those that
// survived it (long_lived_total), so that building a large structure
// does not cost quadratic time (bpo-4074).
func (c *Collector) collectGenerations() int {
	for i := NumGenerations - 1; i >= 0; i-- {
		if c.gens[i].count > c.gens[i].threshold {
			if i == NumGenerations-1 && c.longLivedPending < c.longLivedTotal/4 {
				continue
			}
			return c.guarded(i)
		}
	}
	return 0
}

// guarded runs one collection and marks the collector unusable if it
// panics half-way (a broken reference count, a misbehaving traverse): its
// lists could be in any state (mid-collection, the prev links hold
// gc_refs), and a Decref that untracked an object would follow them.
// From then on every call refuses with a *UsageError: the empty address
// range sends every object to badHandle, as Close's does, so Incref and
// Decref pay nothing for the check.
func (c *Collector) guarded(gen int) (n int) {
	ok := false
	defer func() {
		if !ok {
			c.broken = fmt.Sprintf("a collection of generation %d panicked", gen)
			c.lo, c.hi = ^uintptr(0), 0
		}
	}()
	n = c.collectWithCallback(gen)
	ok = true
	return n
}

// fatalObject reports a corrupted heap as CPython's _PyObject_AssertFailed
// does, and panics.
//
//go:noinline
func fatalObject(o Object, where, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	panic(usage("Collect", o, "%s: %s\nobject address  : %#x\nobject refcount : %d\nobject type name: %s",
		where, msg, uintptr(o), hdr(o).refcnt, typeOf(o).name))
}
