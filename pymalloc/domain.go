package pymalloc

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/rawalloc"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// Allocator is PyMemAllocatorEx: Malloc, Calloc, Realloc and Free. A
// replacement must return a distinct non-nil pointer for a 0-byte request,
// nil on failure, treat Realloc(nil, n) as Malloc(n) and Free(nil) as a
// no-op; a RAW allocator must be safe for concurrent use and must not call
// the MEM or OBJ functions.
type Allocator = obmalloc.Allocator

// ArenaAllocator is PyObjectArenaAllocator: it maps and unmaps the
// default heap's arenas.
type ArenaAllocator = obmalloc.ArenaAllocator

// Domain is PyMemAllocatorDomain.
type Domain int

const (
	DomainRaw Domain = iota // PYMEM_DOMAIN_RAW: RawMalloc, RawCalloc, RawRealloc, RawFree
	DomainMem               // PYMEM_DOMAIN_MEM: MemMalloc, MemCalloc, MemRealloc, MemFree
	DomainObj               // PYMEM_DOMAIN_OBJ: Malloc, Calloc, Realloc, Free
)

func (d Domain) String() string {
	switch d {
	case DomainRaw:
		return "RAW"
	case DomainMem:
		return "MEM"
	case DomainObj:
		return "OBJ"
	}
	return fmt.Sprintf("Domain(%d)", int(d))
}

// holder lets an interface value live in an atomic.Pointer.
type holder struct{ a Allocator }

// domains holds each domain's current allocator. Reads are one atomic
// load, so the functions of this package never wait for SetAllocator.
var domains [3]atomic.Pointer[holder]

func init() {
	domains[DomainRaw].Store(&holder{rawHeap})
	domains[DomainMem].Store(&holder{defaultHeap})
	domains[DomainObj].Store(&holder{defaultHeap})
	// GOPYMALLOC (env.go), read once, like PYTHONMALLOC at
	// pre-initialisation; an unknown value stops the program as it stops
	// CPython (exit status 1).
	if err := configure(os.Getenv(EnvVar)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func (d Domain) check(call string) {
	if d < DomainRaw || d > DomainObj {
		panic(fmt.Sprintf("pymalloc: %s(%d): unknown domain (want DomainRaw, DomainMem or DomainObj)", call, int(d)))
	}
}

// GetAllocator returns the allocator that serves domain d
// (PyMem_GetAllocator).
func GetAllocator(d Domain) Allocator {
	d.check("GetAllocator")
	return domains[d].Load().a
}

// SetAllocator makes a serve domain d from now on (PyMem_SetAllocator).
// Blocks handed out before are freed through a too, so a replacement
// installed while blocks are live must wrap the previous allocator (a
// hook), as in CPython.
func SetAllocator(d Domain, a Allocator) {
	d.check("SetAllocator")
	if a == nil {
		panic(fmt.Sprintf("pymalloc: SetAllocator(%v, nil): the allocator must not be nil", d))
	}
	domains[d].Store(&holder{a})
}

func raw() Allocator { return domains[DomainRaw].Load().a }
func mem() Allocator { return domains[DomainMem].Load().a }
func obj() Allocator { return domains[DomainObj].Load().a }

// RawFault is the panic value of RawFree and RawRealloc given a pointer
// the large-block allocator did not hand out or already took back; the
// allocator stays usable. Its fields are Call, Addr and Problem, as
// obmalloc.Fault's.
type RawFault = rawalloc.Fault

// rawHeap is the RAW domain's default allocator, the process-wide
// large-block allocator: gopymalloc's stand-in for the C library's malloc,
// safe for concurrent use.
var rawHeap = rawalloc.New(nil)

// rawDomain is what the default heap calls for what its pools do not
// serve: whatever the RAW domain holds at the time, under its tracer if
// tracing is on (the block is traced once, by the MEM or OBJ call that
// asked for it).
type rawDomain struct{}

func heapRaw() Allocator { return belowTracer(raw()) }

func (rawDomain) Malloc(n uintptr) unsafe.Pointer {
	a := heapRaw()
	return madeForHeap(a, a.Malloc(n))
}

func (rawDomain) Calloc(nelem, elsize uintptr) unsafe.Pointer {
	a := heapRaw()
	return madeForHeap(a, a.Calloc(nelem, elsize))
}

func (rawDomain) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	a := heapRaw()
	return madeForHeap(a, a.Realloc(p, n))
}

func (rawDomain) Free(p unsafe.Pointer) { heapRaw().Free(p) }

// madeForHeap tells the RAW debug hook, if a is one, that it made p for
// the default heap rather than for a RawMalloc (debugState.markForHeap).
func madeForHeap(a Allocator, p unsafe.Pointer) unsafe.Pointer {
	if d, ok := a.(*debugAllocator); ok && p != nil {
		d.st.markForHeap(uintptr(p))
	}
	return p
}
