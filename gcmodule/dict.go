package gcmodule

// dict: a container holding a hash table (dicttable.go). Keys are
// compared by identity, or by value for ints and strs. A dict is created
// untracked and becomes tracked only when something that may be tracked
// is stored in it (MAINTAIN_TRACKING); full collections untrack dicts that
// have gone back to holding atoms only (bpo-14775).

// dictBodySize is the data of a dict: one word, the table's address.
const dictBodySize = ptrSize

func dictTable(o Object) *uintptr { return at[uintptr](body(o)) }

// NewDict returns a new, empty, untracked dict, or Nil when memory is
// exhausted.
func (c *Collector) NewDict() Object {
	c.checkOpen("NewDict")
	return c.alloc(typeTabAt(DictType), dictBodySize)
}

// DictSetItem stores d[key] = value, taking references to both; neither
// may be Nil. It returns ErrNoMemory when the table cannot grow.
func (c *Collector) DictSetItem(d, key, value Object) error {
	c.checkKind("DictSetItem", d, kindDict)
	c.check("DictSetItem", key)
	c.check("DictSetItem", value)
	if !isTracked(d) && (mayBeTracked(key) || mayBeTracked(value)) {
		c.track(d)
	}
	return c.tableSet(dictTable(d), key, value)
}

// DictGetItem returns d[key], borrowed, and whether it was there.
func (c *Collector) DictGetItem(d, key Object) (Object, bool) {
	c.checkKind("DictGetItem", d, kindDict)
	c.check("DictGetItem", key)
	return tableGet(*dictTable(d), key)
}

// DictDelItem removes key (del d[key]) and reports whether it was there.
func (c *Collector) DictDelItem(d, key Object) bool {
	c.checkKind("DictDelItem", d, kindDict)
	c.check("DictDelItem", key)
	return c.tableDel(*dictTable(d), key)
}

// DictLen is len(d).
func (c *Collector) DictLen(d Object) int {
	c.checkKind("DictLen", d, kindDict)
	return tableLen(*dictTable(d))
}

// DictNext is PyDict_Next: start with pos 0 and call until ok is false;
// key and value are borrowed, and d must not change during the loop. A
// negative pos, like one past the end, gives ok false.
func (c *Collector) DictNext(d Object, pos int) (next int, key, value Object, ok bool) {
	c.checkKind("DictNext", d, kindDict)
	return tableNext(*dictTable(d), pos)
}

// DictClear empties d (dict.clear).
func (c *Collector) DictClear(d Object) {
	c.checkKind("DictClear", d, kindDict)
	dictClear(c, d)
}

func dictTraverse(o Object, visit func(Object)) { tableTraverse(*dictTable(o), visit) }

// dictClear is PyDict_Clear: detach the table, then drop its contents.
func dictClear(c *Collector, o Object) {
	tp := dictTable(o)
	t := *tp
	*tp = 0
	c.tableFree(t)
}

func dictDealloc(c *Collector, o Object) {
	untrack(o)
	if c.trashBegin(o) {
		return
	}
	t := *dictTable(o)
	c.freeEarly(o)
	c.tableFree(t)
	c.uncount()
	c.trashEnd()
}

// dictMaybeUntrack is _PyDict_MaybeUntrack.
func dictMaybeUntrack(o Object) {
	if !isTracked(o) {
		return
	}
	t := *dictTable(o)
	if t != 0 {
		n := tabHead(t).nentries
		for i := 0; i < n; i++ {
			e := entryAt(t, i)
			if e.key == Nil {
				continue
			}
			if mayBeTracked(e.value) || mayBeTracked(e.key) {
				return
			}
		}
	}
	untrack(o)
}
