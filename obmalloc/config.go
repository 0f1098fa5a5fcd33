package obmalloc

import (
	"fmt"
	"math/bits"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// CPython 3.11's 64-bit layout, the zero Config's meaning.
const (
	DefaultAlignment = 16        // bytes: ALIGNMENT
	DefaultThreshold = 512       // bytes: SMALL_REQUEST_THRESHOLD
	DefaultPoolSize  = 16 << 10  // bytes: POOL_SIZE with USE_LARGE_POOLS
	DefaultArenaSize = 1 << 20   // bytes: ARENA_SIZE with USE_LARGE_ARENAS
	maxSizeClasses   = 64        // NB_SMALL_SIZE_CLASSES may not exceed this
	poolHeaderSize   = 48        // bytes: sizeof(struct pool_header) on 64-bit
	dummySizeIdx     = 0xffff    // szidx of a freshly carved pool
	maxArenaBits     = 31        // the radix leaf keeps arena offsets in int32
	minAlignment     = 8         // bytes: a free block must hold its link
	maxRequestBytes  = maxSsizeT // PY_SSIZE_T_MAX: larger requests fail at once
)

// maxSsizeT is PY_SSIZE_T_MAX: 1<<63 - 1, or 1<<31 - 1 on a 32-bit system.
const maxSsizeT = 1<<(bits.UintSize-1) - 1

// ArenaPolicy says what happens to an arena whose pools have all become
// free.
type ArenaPolicy int

const (
	// KeepArenas never unmaps an arena: a wholly free arena stays in
	// usable_arenas and its pools serve later requests, so the process's
	// resident memory does not fall when objects die. This is what
	// Python users often see of a long-running process (where long-lived
	// objects pin CPython's arenas), and gopymalloc's default.
	KeepArenas ArenaPolicy = iota
	// ReleaseArenas is what CPython 3.11 really does: the free that empties
	// an arena's last used pool unmaps the arena, unless that arena is the
	// last one in usable_arenas (bpo-37257 keeps one to avoid thrashing).
	ReleaseArenas
)

func (p ArenaPolicy) String() string {
	switch p {
	case KeepArenas:
		return "keep"
	case ReleaseArenas:
		return "release"
	}
	return fmt.Sprintf("ArenaPolicy(%d)", int(p))
}

// ParseArenaPolicy accepts the names String returns ("keep", "release").
func ParseArenaPolicy(s string) (ArenaPolicy, error) {
	switch s {
	case "keep":
		return KeepArenas, nil
	case "release":
		return ReleaseArenas, nil
	}
	return 0, fmt.Errorf("obmalloc: unknown arena policy %q (want keep or release)", s)
}

// Config chooses a heap's layout and policies. The zero value is CPython
// 3.11 on a 64-bit build: 16-byte alignment, a 512-byte small-request
// threshold (32 size classes), 16 KiB pools in 1 MiB arenas, arenas kept
// forever, arenas from mmap and large requests to the module's large-block
// allocator. Set a field to experiment, for example Python 3.9's layout:
//
//	obmalloc.Config{PoolSize: 4 << 10, ArenaSize: 256 << 10}
type Config struct {
	// Alignment of every pool block and spacing of the size classes, in
	// bytes: a power of two from 8 to 512. 0 means 16. CPython uses 8 or
	// 16; above 16 only the pools honour it: blocks of the large-block
	// allocator (size 0, above Threshold, and small requests when no
	// arena can be mapped) are 16-byte aligned, as the C library's malloc
	// gives CPython. The layouts model 64-bit builds (a 48-byte pool
	// header); a 32-bit CPython's 32-byte header is not modelled.
	Alignment uintptr
	// Threshold is the largest request, in bytes, served from pools; a
	// multiple of Alignment giving at most 64 classes. 0 means 512.
	Threshold uintptr
	// PoolSize in bytes: a power of two that holds at least two blocks of
	// the largest class after the pool header. 0 means 16 KiB.
	PoolSize uintptr
	// ArenaSize in bytes: a power of two of at least four pools and below
	// 2 GiB. 0 means 1 MiB.
	ArenaSize uintptr
	// Policy for wholly free arenas. The zero value keeps them.
	Policy ArenaPolicy
	// Arenas maps and unmaps arenas (PyObject_SetArenaAllocator). nil
	// means MmapArenas, one mmap per arena as CPython's, or with Prefault
	// a PrefaultArenas of the heap's own. Tests inject out-of-memory here.
	Arenas ArenaAllocator
	// Prefault has a growing heap's page faults taken ahead of need by
	// background goroutines instead of by the goroutine that first
	// touches each page: a nil Arenas then means a PrefaultArenas of the
	// heap's own (two arenas kept mapped and resident), and the heap's own
	// large allocator (Large nil) populates its fresh memory 1 MiB ahead.
	// Replays take 7..20 % less time with a core to spare, for up to 3 MiB
	// resident ahead of need, which also lets RSS rise for a moment after
	// the heap stops growing (docs/benchmarks.md). Close stops the
	// goroutines. Off by default, as CPython faults in the allocating
	// thread.
	Prefault bool
	// Large serves size 0, requests above Threshold, and small requests
	// when no arena can be had (PyMem_RawMalloc's role). nil means a
	// large-block allocator of the heap's own, which, like the heap, takes
	// no lock and is released by Close.
	Large Allocator
}

// layout holds the numbers derived from a validated Config.
type layout struct {
	alignment     uintptr
	alignShift    uint
	threshold     uintptr
	nclasses      int
	poolSize      uintptr
	poolMask      uintptr // poolSize - 1: POOL_ADDR(p) is p &^ poolMask
	poolBits      uint
	poolOverhead  uintptr // POOL_OVERHEAD: the header rounded up to the alignment
	arenaSize     uintptr
	arenaBits     uint
	maxPools      int // MAX_POOLS_IN_ARENA
	policy        ArenaPolicy
	classCapacity [maxSizeClasses]uint32 // NUMBLOCKS(i): blocks per pool
}

func isPow2(x uintptr) bool { return x != 0 && x&(x-1) == 0 }

func log2(x uintptr) uint { return uint(bits.TrailingZeros64(uint64(x))) }

// withDefaults fills the zero fields of c with CPython 3.11's values.
func (c Config) withDefaults() Config {
	if c.Alignment == 0 {
		c.Alignment = DefaultAlignment
	}
	if c.Threshold == 0 {
		c.Threshold = DefaultThreshold
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.ArenaSize == 0 {
		c.ArenaSize = DefaultArenaSize
	}
	return c
}

// Validate reports the first rule that c (after defaults) breaks, naming
// the field, its value and the rule.
func (c Config) Validate() error {
	_, err := c.layout()
	return err
}

func (c Config) layout() (layout, error) {
	c = c.withDefaults()
	bad := func(field string, v uintptr, rule string, args ...any) (layout, error) {
		return layout{}, fmt.Errorf("obmalloc: Config.%s = %d: %s", field, v, fmt.Sprintf(rule, args...))
	}
	switch {
	case !isPow2(c.Alignment) || c.Alignment < minAlignment || c.Alignment > 512:
		return bad("Alignment", c.Alignment, "must be a power of two from %d to 512 bytes", minAlignment)
	case c.Threshold < c.Alignment || c.Threshold%c.Alignment != 0:
		return bad("Threshold", c.Threshold, "must be a non-zero multiple of Alignment (%d)", c.Alignment)
	case c.Threshold/c.Alignment > maxSizeClasses:
		return bad("Threshold", c.Threshold, "gives %d size classes with Alignment %d; at most %d are allowed",
			c.Threshold/c.Alignment, c.Alignment, maxSizeClasses)
	case !isPow2(c.PoolSize):
		return bad("PoolSize", c.PoolSize, "must be a power of two")
	}
	overhead := (poolHeaderSize + c.Alignment - 1) &^ (c.Alignment - 1)
	switch {
	case c.PoolSize < overhead+2*c.Threshold:
		return bad("PoolSize", c.PoolSize, "must hold the %d-byte pool header and two blocks of the largest class (%d bytes)",
			overhead, c.Threshold)
	case !isPow2(c.ArenaSize) || c.ArenaSize >= 1<<maxArenaBits:
		return bad("ArenaSize", c.ArenaSize, "must be a power of two below 2 GiB")
	case c.PoolSize > c.ArenaSize/4:
		return bad("ArenaSize", c.ArenaSize, "must hold at least four pools of PoolSize %d", c.PoolSize)
	case c.ArenaSize < mmap.PageSize():
		return bad("ArenaSize", c.ArenaSize, "must be at least the page size (%d)", mmap.PageSize())
	case c.Policy != KeepArenas && c.Policy != ReleaseArenas:
		return layout{}, fmt.Errorf("obmalloc: Config.Policy = %d: must be KeepArenas or ReleaseArenas", int(c.Policy))
	}
	l := layout{
		alignment:    c.Alignment,
		alignShift:   log2(c.Alignment),
		threshold:    c.Threshold,
		nclasses:     int(c.Threshold / c.Alignment),
		poolSize:     c.PoolSize,
		poolMask:     c.PoolSize - 1,
		poolBits:     log2(c.PoolSize),
		poolOverhead: overhead,
		arenaSize:    c.ArenaSize,
		arenaBits:    log2(c.ArenaSize),
		maxPools:     int(c.ArenaSize / c.PoolSize),
		policy:       c.Policy,
	}
	for i := 0; i < l.nclasses; i++ {
		l.classCapacity[i] = uint32((l.poolSize - l.poolOverhead) / l.blockSize(i))
	}
	return l, nil
}

// Size of a uintptr in bytes; the port assumes a 64-bit address space.
const ptrSize = unsafe.Sizeof(uintptr(0))
