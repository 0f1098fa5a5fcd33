package gcmodule

import "unsafe"

// The hash table behind dict and instance attributes: CPython's compact
// dict layout (PyDictKeysObject) in one MEM block. A sparse index array
// maps hash slots to a dense array of entries kept in insertion order, so
// traversal and iteration follow insertion order as in CPython.
//
//	tableHead | entries [usable]{hash, key, value} | indices [size]int32
//
// CPython puts the indices first; here the entries come right after the
// head, so a traversal, which reads the head and the entries only, touches
// fewer cache lines (a dict's first entries share the head's line).

type tableHead struct {
	log2size int // the index array has 1<<log2size slots
	usable   int // entries that can still be appended
	nentries int // entries appended so far, deleted ones included
	used     int // live entries
	unicode  int // 1 while every key is a str (DK_IS_UNICODE)
}

// tableEntry is PyDictKeyEntry: three words, as in CPython (24 bytes on
// a 64-bit system, 12 on a 32-bit one).
type tableEntry struct {
	hash  uintptr // Py_hash_t
	key   Object
	value Object
}

const (
	tableHeadSize = unsafe.Sizeof(tableHead{}) // 5 words
	entrySize     = unsafe.Sizeof(tableEntry{})
	ixEmpty       = -1 // DKIX_EMPTY
	ixDummy       = -2 // DKIX_DUMMY
	minLog2Size   = 3  // PyDict_MINSIZE = 8
)

func tabHead(t uintptr) *tableHead { return at[tableHead](t) }

func (h *tableHead) size() int { return 1 << h.log2size }

func indexAt(t uintptr, i int) *int32 {
	return at[int32](indicesStart(t, tabHead(t).log2size) + uintptr(i)*4)
}

func indicesStart(t uintptr, log2size int) uintptr {
	return t + tableHeadSize + uintptr(usableFraction(1<<log2size))*entrySize
}

func entriesStart(t uintptr, log2size int) uintptr { return t + tableHeadSize }

func entryAt(t uintptr, i int) *tableEntry {
	return at[tableEntry](entriesStart(t, tabHead(t).log2size) + uintptr(i)*entrySize)
}

// usableFraction is USABLE_FRACTION: two thirds of the slots.
func usableFraction(size int) int { return (size << 1) / 3 }

func newTable(log2size int) uintptr {
	size := 1 << log2size
	usable := usableFraction(size)
	n := indicesStart(0, log2size) + uintptr(size)*4
	t := memMalloc(n)
	if t == 0 {
		return 0
	}
	*tabHead(t) = tableHead{log2size: log2size, usable: usable, unicode: 1}
	for i := 0; i < size; i++ {
		*indexAt(t, i) = ixEmpty
	}
	for a := entriesStart(t, log2size); a < indicesStart(t, log2size); a += ptrSize {
		setWord(a, 0)
	}
	return t
}

// tableLookup returns the entry index of key (or ixEmpty) and the slot
// that holds it, or the first empty slot on its probe sequence.
func tableLookup(t uintptr, key Object, hash uintptr) (ix int, slot int) {
	if t == 0 {
		return ixEmpty, -1
	}
	mask := uintptr(tabHead(t).size() - 1)
	perturb := hash
	i := hash & mask
	for {
		ix := int(*indexAt(t, int(i)))
		if ix == ixEmpty {
			return ixEmpty, int(i)
		}
		if ix >= 0 {
			e := entryAt(t, ix)
			if e.hash == hash && objectEqual(e.key, key) {
				return ix, int(i)
			}
		}
		perturb >>= 5
		i = (i*5 + perturb + 1) & mask
	}
}

// findEmptySlot returns the first empty index slot on hash's probe
// sequence (find_empty_slot).
func findEmptySlot(t uintptr, hash uintptr) int {
	mask := uintptr(tabHead(t).size() - 1)
	perturb := hash
	i := hash & mask
	for *indexAt(t, int(i)) >= 0 {
		perturb >>= 5
		i = (i*5 + perturb + 1) & mask
	}
	return int(i)
}

// tableResize rebuilds the table with at least minSize index slots (and
// PyDict_MINSIZE), compacting away deleted entries: dictresize with
// calculate_log2_keysize.
func tableResize(tp *uintptr, minSize int) bool {
	log2 := minLog2Size
	for 1<<log2 < minSize {
		log2++
	}
	nt := newTable(log2)
	if nt == 0 {
		return false
	}
	old := *tp
	if old != 0 {
		oh := tabHead(old)
		nh := tabHead(nt)
		nh.unicode = oh.unicode
		j := 0
		for i := 0; i < oh.nentries; i++ {
			e := entryAt(old, i)
			if e.key == Nil {
				continue
			}
			*entryAt(nt, j) = *e
			*indexAt(nt, findEmptySlot(nt, e.hash)) = int32(j)
			j++
		}
		nh.nentries, nh.used, nh.usable = j, j, nh.usable-j
		memFree(old)
	}
	*tp = nt
	return true
}

// tableGet returns the value for key, borrowed.
func tableGet(t uintptr, key Object) (Object, bool) {
	if t == 0 {
		return Nil, false
	}
	ix, _ := tableLookup(t, key, objectHash(key))
	if ix < 0 {
		return Nil, false
	}
	return entryAt(t, ix).value, true
}

// tableSet stores value under key, taking new references to both; the
// value it replaces is dropped after the store, since dropping it can run
// arbitrary code.
func (c *Collector) tableSet(tp *uintptr, key, value Object) error {
	hash := objectHash(key)
	ix, _ := tableLookup(*tp, key, hash)
	if ix >= 0 {
		e := entryAt(*tp, ix)
		old := e.value
		c.incref(value)
		e.value = value
		c.decref(old)
		return nil
	}
	if *tp == 0 || tabHead(*tp).usable <= 0 {
		used := 0
		if *tp != 0 {
			used = tabHead(*tp).used
		}
		if !tableResize(tp, used*3) { // GROWTH_RATE
			return ErrNoMemory
		}
	}
	t := *tp
	h := tabHead(t)
	if hdr(key).typ != StrType {
		h.unicode = 0
	}
	slot := findEmptySlot(t, hash)
	*indexAt(t, slot) = int32(h.nentries)
	c.incref(key)
	c.incref(value)
	*entryAt(t, h.nentries) = tableEntry{hash: hash, key: key, value: value}
	h.nentries++
	h.used++
	h.usable--
	return nil
}

// tableDel removes key; the references are dropped after the entry is
// gone (delitem_common).
func (c *Collector) tableDel(t uintptr, key Object) bool {
	if t == 0 {
		return false
	}
	ix, slot := tableLookup(t, key, objectHash(key))
	if ix < 0 {
		return false
	}
	e := entryAt(t, ix)
	k, v := e.key, e.value
	*indexAt(t, slot) = ixDummy
	e.key, e.value = Nil, Nil
	tabHead(t).used--
	c.decref(k)
	c.decref(v)
	return true
}

// tableFree drops every key and value and frees the table. The caller
// has already detached it from its owner (PyDict_Clear, dict_dealloc).
func (c *Collector) tableFree(t uintptr) {
	if t == 0 {
		return
	}
	n := tabHead(t).nentries
	for i := 0; i < n; i++ {
		e := entryAt(t, i)
		if e.key != Nil {
			c.decref(e.key)
			c.decref(e.value)
		}
	}
	memFree(t)
}

// tableTraverse visits values, and keys too unless every key is a str
// (dict_traverse).
func tableTraverse(t uintptr, visit func(Object)) {
	if t == 0 {
		return
	}
	h := tabHead(t)
	n := h.nentries
	valuesOnly := h.unicode != 0
	for i := 0; i < n; i++ {
		e := entryAt(t, i)
		if e.value == Nil {
			continue
		}
		visit(e.value)
		if !valuesOnly {
			visit(e.key)
		}
	}
}

// tableNext is PyDict_Next over a table.
func tableNext(t uintptr, pos int) (next int, key, value Object, ok bool) {
	// A negative pos ends the loop, as in PyDict_Next, rather than read
	// the table's head as an entry.
	if t == 0 || pos < 0 {
		return pos, Nil, Nil, false
	}
	n := tabHead(t).nentries
	for ; pos < n; pos++ {
		e := entryAt(t, pos)
		if e.key != Nil {
			return pos + 1, e.key, e.value, true
		}
	}
	return pos, Nil, Nil, false
}

func tableLen(t uintptr) int {
	if t == 0 {
		return 0
	}
	return tabHead(t).used
}
