package obmalloc

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/rawalloc"
	"github.com/gopymalloc/gopymalloc/mmap"
)

// Heap is one pymalloc heap: its arenas, pools, usedpools table and arena
// map, as the globals of CPython 3.11's obmalloc.c hold them.
//
// A Heap belongs to one goroutine at a time, as CPython's allocator is
// protected by the GIL: calls must not run concurrently (wrap it in a
// mutex to share it; the pymalloc package's functions do). The large
// allocator it delegates to must be safe for concurrent use if it is shared
// between heaps, as the default one is.
type Heap struct {
	l          layout
	usedpools  uintptr // address of usedpools[0], off-heap
	arenaMap   arenaMap
	large      Allocator
	arenaAlloc ArenaAllocator
	// ownArenas is the prefaulting arena allocator the heap made for
	// itself (Config.Prefault with Config.Arenas nil); Close stops its
	// worker.
	ownArenas *PrefaultArenas
	// ownLarge is the large allocator the heap made for itself (when
	// Config.Large is nil); Close closes it.
	ownLarge *rawalloc.Heap

	// rawAllocatedBlocks counts blocks this heap obtained from the large
	// allocator and has not freed (raw_allocated_blocks).
	rawAllocatedBlocks int

	arenas                    []arenaObject
	unusedArenaObjects        *arenaObject
	usableArenas              *arenaObject
	nfp2lasta                 []*arenaObject // nfp2lasta[k]: last arena in usableArenas with k free pools
	narenasCurrentlyAllocated int
	ntimesArenaAllocated      int
	narenasHighwater          int

	meta   unsafe.Pointer // the mapping that holds usedpools and the radix root
	cfg    Config
	closed bool
}

// New returns an empty heap with the given layout, or an error naming the
// Config field, its value and the rule it breaks. No arena is mapped until
// the first small request.
func New(cfg Config) (*Heap, error) {
	l, err := cfg.layout()
	if err != nil {
		return nil, err
	}
	h := &Heap{l: l, cfg: cfg.withDefaults()}
	h.arenaMap.init(l.arenaBits)
	meta, err := mmap.Map(usedpoolsBytes(l.nclasses) + h.arenaMap.rootBytes)
	if err != nil {
		return nil, fmt.Errorf("obmalloc: New: %w", err)
	}
	h.meta = meta
	h.usedpools = uintptr(meta) + 2*ptrSize
	h.arenaMap.root = uintptr(meta) + usedpoolsBytes(l.nclasses)
	h.initUsedpools()
	h.nfp2lasta = make([]*arenaObject, l.maxPools+1)
	h.arenaAlloc = cfg.Arenas
	switch {
	case h.arenaAlloc != nil:
	case cfg.Prefault:
		h.ownArenas = &PrefaultArenas{Align: l.poolSize}
		h.arenaAlloc = h.ownArenas
	default:
		h.arenaAlloc = MmapArenas{}
	}
	h.large = cfg.Large
	if h.large == nil {
		h.ownLarge = rawalloc.NewPrivate(nil)
		if cfg.Prefault {
			h.ownLarge.EnablePopulateAhead()
		}
		h.large = h.ownLarge
	}
	return h, nil
}

// Config returns the heap's configuration with defaults filled in.
func (h *Heap) Config() Config { return h.cfg }

// Owns reports whether p lies in one of the heap's arenas: CPython's
// address_in_range, answered by the arena map without reading the memory
// at p, so it is exact (and false) for Go-heap, stack and foreign
// pointers and for the large allocator's blocks.
func (h *Heap) Owns(p unsafe.Pointer) bool { return h.arenaMap.isUsed(uintptr(p)) }

// Close unmaps every arena and the heap's own tables. Blocks still
// allocated from the arenas become invalid, and so do large blocks when
// the heap made its own large allocator (Config.Large nil); blocks from a
// Config.Large allocator are not freed. Any later allocation, Free or
// Realloc of a block panics, naming the call, and Check and a second
// Close return an error; the inspection methods (Stats, Owns, Arenas...)
// then describe an empty heap.
// Heaps are otherwise never unmapped, so programs that make many of them
// (tests, experiments) should close them.
func (h *Heap) Close() error {
	if h.closed {
		return errors.New("obmalloc: Close: heap already closed")
	}
	var errs []error
	for i := range h.arenas {
		if a := h.arenas[i].address; a != 0 {
			h.arenaAlloc.Free(ptr(a), h.l.arenaSize)
		}
	}
	for _, n := range h.arenaMap.nodes {
		errs = append(errs, mmap.Unmap(ptr(n.addr), n.size))
	}
	errs = append(errs, mmap.Unmap(h.meta, usedpoolsBytes(h.l.nclasses)+h.arenaMap.rootBytes))
	if h.ownLarge != nil {
		errs = append(errs, h.ownLarge.Close())
	}
	if h.ownArenas != nil {
		h.ownArenas.Close()
	}
	// Leave a heap on which every call takes the slow path and panics
	// there: no request is small, and the arena map owns nothing.
	// The zero node serves as an empty root.
	*h = Heap{closed: true, cfg: h.cfg, l: layout{alignShift: h.l.alignShift, arenaBits: h.l.arenaBits}}
	h.arenaMap.init(h.l.arenaBits)
	h.arenaMap.root = h.arenaMap.zero
	return errors.Join(errs...)
}

func (h *Heap) checkOpen(call string, p uintptr) {
	if h.closed {
		panic(Fault{Call: call, Addr: p, Problem: "the Heap is closed"})
	}
}
