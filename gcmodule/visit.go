package gcmodule

// The visitors of the reachability passes (visit_decref,
// visit_reachable) and the loops that drive them. The loops walk the
// built-in containers' references themselves, in the order of their
// traverse functions, instead of calling traverse through the type table
// with a visitor function: the two passes run once per object and per
// reference of every collection, and this spares two indirect calls per
// object and one per reference. Other types go through their Traverse
// with the visitor bound once in the Collector (no allocation either way).

// decrefVisit is visit_decref: one reference from inside the collected
// set, so one less external reference. With first, update_refs is being
// done in the same walk (see refsWalk): a tracked object without
// COLLECTING is in young but not reached yet, and gets its gc_refs now.
func decrefVisit(o Object, first bool) {
	if o == Nil {
		return
	}
	h := hdr(o)
	if h.flags&flagGC == 0 {
		return
	}
	g := asGC(o)
	p := word(g + ptrSize)
	if p&prevCollecting == 0 {
		if !first || word(g) == 0 {
			return
		}
		p = resetRefs(o, g, h)
	}
	if p>>prevShift == 0 {
		refcountTooSmall(o)
	}
	setWord(g+ptrSize, p-1<<prevShift)
}

// maxGCRefs is the largest gc_refs _gc_prev holds above its flags: 2^62-1
// on a 64-bit system, 2^30-1 on a 32-bit one.
const maxGCRefs = int64(^uintptr(0) >> prevShift)

// resetRefs is update_refs for one object: gc_refs := refcount, with
// COLLECTING set. It returns the new _gc_prev word.
func resetRefs(o Object, g uintptr, h *objHeader) uintptr {
	if h.flags&flagUnreachable != 0 {
		h.flags &^= flagUnreachable
	}
	rc := h.refcnt
	if rc <= 0 {
		fatalObject(o, "update_refs", "tracked object with reference count %d: it was deallocated, or its count is broken", rc)
	}
	if rc > maxGCRefs {
		// A count gc_refs cannot hold (2^30 Increfs suffice on a 32-bit
		// system) is taken as the largest it can: the references from
		// inside the collected set are words in memory, fewer than that
		// fit in the address space, so gc_refs stays above zero and the
		// object reachable, as its count says it is.
		rc = maxGCRefs
	}
	p := word(g+ptrSize)&prevFinalized | prevCollecting | uintptr(rc)<<prevShift
	setWord(g+ptrSize, p)
	return p
}

func refcountTooSmall(o Object) {
	fatalObject(o, "gc_decref", `Assertion "gc_get_refs(g) > 0" failed: refcount is too small`)
}

func (c *Collector) visitDecref(o Object)      { decrefVisit(o, false) }
func (c *Collector) visitDecrefFirst(o Object) { decrefVisit(o, true) }

// refsWalk is subtract_refs, and with first update_refs too, in a single
// walk; it returns the length of the list. first is only for a full
// collection with nothing frozen: then every tracked object is in
// containers, so one without COLLECTING has not been reached yet, and
// its gc_refs can be set when the walk or a reference first meets it.
// That spares a whole walk of the list, which at a million objects costs
// a cache miss per object.
func (c *Collector) refsWalk(containers uintptr, first bool) int {
	tab := *typeTab.Load()
	visit := c.visitDecrefFn
	if first {
		visit = c.visitDecrefFirstFn
	}
	n := 0
	for g := gcNext(containers); g != containers; g = gcNext(g) {
		o := fromGC(g)
		h := hdr(o)
		if first && word(g+ptrSize)&prevCollecting == 0 {
			resetRefs(o, g, h)
		}
		n++
		switch t := h.typ; t {
		case ListType:
			if b := listOf(o); b.size > 0 {
				p := b.base()
				for i := b.size - 1; i >= 0; i-- {
					decrefVisit(*at[Object](p + uintptr(i)*ptrSize), first)
				}
			}
		case TupleType:
			for i := tupleLen(o) - 1; i >= 0; i-- {
				decrefVisit(*tupleItem(o, i), first)
			}
		case DictType:
			tableDecref(*dictTable(o), first)
		default:
			if d := tab[t]; d.kind == kindInstance {
				instanceDecref(o, first)
			} else {
				d.traverse(o, visit)
			}
		}
	}
	return n
}

// tableDecref is tableTraverse with decrefVisit.
func tableDecref(t uintptr, first bool) {
	if t == 0 {
		return
	}
	h := tabHead(t)
	valuesOnly := h.unicode != 0
	e := entriesStart(t, h.log2size)
	for end := e + uintptr(h.nentries)*entrySize; e < end; e += entrySize {
		en := at[tableEntry](e)
		if en.value == Nil {
			continue
		}
		decrefVisit(en.value, first)
		if !valuesOnly {
			decrefVisit(en.key, first)
		}
	}
}

// instanceDecref is instanceTraverse with decrefVisit.
func instanceDecref(o Object, first bool) {
	b := instOf(o)
	if v := b.values; v != 0 {
		for i, n := 0, int(valuesOf(v).hi); i < n; i++ {
			decrefVisit(*valuesSlot(v, i), first)
		}
		return
	}
	decrefVisit(b.dict, first)
}

// reachableVisit is visit_reachable; young is move_unreachable's list.
func reachableVisit(young uintptr, o Object) {
	if o == Nil {
		return
	}
	h := hdr(o)
	f := h.flags
	if f&flagGC == 0 {
		return
	}
	g := asGC(o)
	p := word(g + ptrSize)
	// Objects of other generations, and those already scanned, have no
	// COLLECTING flag.
	if p&prevCollecting == 0 {
		return
	}
	if f&flagUnreachable != 0 {
		h.flags = f &^ flagUnreachable
		revive(young, g, p)
	} else if p>>prevShift == 0 {
		// In young, not scanned yet: it is reachable.
		setWord(g+ptrSize, p|1<<prevShift)
	}
}

// revive moves an object that move_unreachable had tentatively put in
// unreachable back to the end of young, to be scanned again.
func revive(young, g, p uintptr) {
	next := word(g)
	prev := p & prevMask
	setWord(prev, next)
	setPrev(next, prev)
	gcListAppend(g, young)
	gcSetRefs(g, 1)
}

func (c *Collector) visitReachable(o Object) { reachableVisit(c.young, o) }

// youngCounts is what move_unreachable saw of the objects it left in
// young, so that the passes after it can skip what they would not change.
// A tuple or dict that holds a container other than a tuple can never be
// untracked by this collection; the others are candidates.
type youngCounts struct {
	objects int // gc_list_size(young)
	tuples  int // candidates for untrack_tuples
	dicts   int // candidates for untrack_dicts
	// What the types of the objects moved to unreachable can have (some
	// may have been revived since): the passes after it that depend on
	// these are skipped when no such object was seen.
	slots typeBits
}

// pinsTracking reports whether holding x keeps a tuple or dict tracked
// whatever untrack_tuples does: x is a container and not a tuple.
func pinsTracking(x Object) bool {
	return x != Nil && hdr(x).flags&flagGC != 0 && hdr(x).typ != TupleType
}

// moveUnreachable is move_unreachable: a breadth-first walk of young in
// place. An object with gc_refs > 0 is reachable and is traversed; one
// with gc_refs == 0 moves, for now, to unreachable, flagged with
// flagUnreachable, and comes back if something scanned later reaches it. While it runs, young is singly linked; prev pointers are
// restored as the walk passes. Every object left in young passes the
// reachable branch exactly once, which is where it is counted.
func (c *Collector) moveUnreachable(young, unreachable uintptr) youngCounts {
	tab := *typeTab.Load()
	var n youngCounts
	c.young = young
	prev := young
	g := gcNext(young)
	for g != young {
		if pw := word(g + ptrSize); pw>>prevShift != 0 {
			o := fromGC(g)
			n.objects++
			// visit_reachable may change g's next when g is young's last
			// element: read it only afterwards.
			switch t := hdr(o).typ; t {
			case ListType:
				if b := listOf(o); b.size > 0 {
					p := b.base()
					for i := b.size - 1; i >= 0; i-- {
						reachableVisit(young, *at[Object](p + uintptr(i)*ptrSize))
					}
				}
			case TupleType:
				pinned := false
				for i := tupleLen(o) - 1; i >= 0; i-- {
					x := *tupleItem(o, i)
					reachableVisit(young, x)
					pinned = pinned || pinsTracking(x)
				}
				if !pinned {
					n.tuples++
				}
			case DictType:
				if !tableReachable(young, *dictTable(o)) {
					n.dicts++
				}
			default:
				if d := tab[t]; d.kind == kindInstance {
					instanceReachable(young, o)
				} else {
					d.traverse(o, c.visitReachableFn)
				}
			}
			setWord(g+ptrSize, prev|word(g+ptrSize)&prevFinalized) // COLLECTING off
			prev = g
		} else {
			h := hdr(fromGC(g))
			h.flags |= flagUnreachable
			if h.typ > DictType {
				n.slots |= tab[h.typ].bits
			}
			setWord(prev, gcNext(g))
			last := word(unreachable + ptrSize)
			setWord(last, g)
			setWord(g+ptrSize, last|pw&^prevMask)
			setWord(g, unreachable)
			setWord(unreachable+ptrSize, g)
		}
		g = word(prev)
	}
	setWord(young+ptrSize, prev)
	return n
}

// instanceReachable is instanceTraverse with reachableVisit.
func instanceReachable(young uintptr, o Object) {
	b := instOf(o)
	if v := b.values; v != 0 {
		for i, n := 0, int(valuesOf(v).hi); i < n; i++ {
			reachableVisit(young, *valuesSlot(v, i))
		}
		return
	}
	reachableVisit(young, b.dict)
}

// tableReachable is tableTraverse with reachableVisit. It also reports
// whether the table holds a container other than a tuple (pinsTracking).
func tableReachable(young, t uintptr) (pinned bool) {
	if t == 0 {
		return false
	}
	h := tabHead(t)
	valuesOnly := h.unicode != 0
	e := entriesStart(t, h.log2size)
	for end := e + uintptr(h.nentries)*entrySize; e < end; e += entrySize {
		en := at[tableEntry](e)
		if en.value == Nil {
			continue
		}
		reachableVisit(young, en.value)
		pinned = pinned || pinsTracking(en.value)
		if !valuesOnly {
			reachableVisit(young, en.key)
			pinned = pinned || pinsTracking(en.key)
		}
	}
	return pinned
}
