package gcmodule

// The atoms: int and str. They hold no references, so they have no GC
// head and are never tracked (gc.is_tracked(1) and gc.is_tracked("a") are
// False); they die by reference counting alone. Unlike CPython there is
// no small-int cache and no interning of str values, so every NewInt and
// NewStr allocates a block.

// NewInt returns a new int object, or Nil when memory is exhausted.
func (c *Collector) NewInt(v int64) Object {
	c.checkOpen("NewInt")
	o := c.alloc(typeTabAt(IntType), 8)
	if o != Nil {
		*at[int64](body(o)) = v
	}
	return o
}

// IntValue returns the value of an int object.
func (c *Collector) IntValue(o Object) int64 {
	c.checkKind("IntValue", o, kindInt)
	return *at[int64](body(o))
}

// NewStr returns a new str object holding a copy of s (compact, the bytes
// inline as CPython's compact strings are), or Nil when memory is
// exhausted.
func (c *Collector) NewStr(s string) Object {
	c.checkOpen("NewStr")
	n := uintptr(len(s))
	o := c.alloc(typeTabAt(StrType), ptrSize+(n+ptrSize-1)&^(ptrSize-1))
	if o != Nil {
		*at[int](body(o)) = len(s)
		copy(bytesAt(body(o)+ptrSize, len(s)), s)
	}
	return o
}

// StrValue returns the contents of a str object.
func (c *Collector) StrValue(o Object) string {
	c.checkKind("StrValue", o, kindStr)
	return string(strBytes(o))
}

// A str's data is its length, one word, then its bytes.
func strBytes(o Object) []byte { return bytesAt(body(o)+ptrSize, *at[int](body(o))) }

// objectHash is what dict uses: value hashes for the atoms (so equal ints
// and equal strs find each other), the address for everything else
// (object.__hash__ is identity based). It is a word, as Py_hash_t is: on
// a 32-bit system the int and str hashes are the low half of the 64-bit
// ones.
func objectHash(o Object) uintptr {
	switch hdr(o).typ {
	case IntType:
		return uintptr(*at[int64](body(o)))
	case StrType:
		h := uint64(14695981039346656037) // FNV-1a
		for _, b := range strBytes(o) {
			h ^= uint64(b)
			h *= 1099511628211
		}
		return uintptr(h)
	}
	a := uintptr(o)
	return a>>4 | a<<(8*ptrSize-4) // _Py_HashPointer: rotate the alignment bits away
}

// objectEqual is the key comparison of dict: identity, or equal value for
// two ints or two strs.
func objectEqual(a, b Object) bool {
	if a == b {
		return true
	}
	ta, tb := hdr(a).typ, hdr(b).typ
	if ta != tb {
		return false
	}
	switch ta {
	case IntType:
		return *at[int64](body(a)) == *at[int64](body(b))
	case StrType:
		return string(strBytes(a)) == string(strBytes(b))
	}
	return false
}
