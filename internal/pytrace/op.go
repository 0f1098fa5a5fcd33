package pytrace

import "strconv"

// Kind says which allocator call an Op is.
type Kind uint8

// The kinds, in the order of the C replayer's K_M..K_F so that the packed
// encoding is the same.
const (
	Malloc  Kind = iota // m
	Calloc              // c
	Realloc             // r
	Free                // f
)

// String returns the op letter used in trace files.
func (k Kind) String() string {
	switch k {
	case Malloc:
		return "m"
	case Calloc:
		return "c"
	case Realloc:
		return "r"
	case Free:
		return "f"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// kindShift puts the Kind in the top 2 bits of Op.sizeKind; sizes keep the
// 62 bits below, far more than any real request (the traces stay below 2^31).
const (
	kindShift = 62
	sizeMask  = 1<<kindShift - 1
)

// Op is one allocator call of a trace, packed into 16 bytes (see the
// package documentation for why).
type Op struct {
	id       uint32
	old      uint32
	sizeKind uint64
}

func makeOp(k Kind, id, old uint32, size uint64) Op {
	return Op{id: id, old: old, sizeKind: size | uint64(k)<<kindShift}
}

// Kind returns which call the op is.
func (o Op) Kind() Kind { return Kind(o.sizeKind >> kindShift) }

// ID returns the block the op creates (Malloc, Calloc, Realloc) or frees
// (Free).
func (o Op) ID() uint32 { return o.id }

// Old returns, for Realloc, the block being reallocated (0 for
// realloc(NULL, n)); for Calloc, the index of its arguments in
// Trace.Callocs; otherwise 0.
func (o Op) Old() uint32 { return o.old }

// Size returns the requested bytes: the size for Malloc and Realloc,
// nelem*elsize for Calloc, 0 for Free.
// It subtracts the kind bits rather than ANDing with sizeMask: that
// 64-bit constant does not fit in an amd64 AND, so a loop keeps it in a
// register and reloads it after every path that needs the register (the
// compiler rewrites two shifts into the same AND).
func (o Op) Size() uint64 { return o.sizeKind - uint64(o.Kind())<<kindShift }

// CallocArgs keeps calloc's two arguments, which allocators may treat
// differently from their product (CPython checks the product for overflow).
type CallocArgs struct{ Nelem, Elsize uint64 }
