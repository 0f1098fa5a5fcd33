package obmalloc

import (
	"fmt"
	"math/bits"
	"strings"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// CPython 3.11's 64-bit layout, the zero Config's meaning.
const (
	DefaultAlignment = 16       // bytes: ALIGNMENT
	DefaultThreshold = 512      // bytes: SMALL_REQUEST_THRESHOLD
	DefaultPoolSize  = 16 << 10 // bytes: POOL_SIZE with USE_LARGE_POOLS
	DefaultArenaSize = 1 << 20  // bytes: ARENA_SIZE with USE_LARGE_ARENAS
	maxSizeClasses   = 64       // NB_SMALL_SIZE_CLASSES may not exceed this
	poolHeaderSize   = 48       // bytes: sizeof(struct pool_header) on 64-bit
	maxArenaBits     = 31       // the radix leaf keeps arena offsets in int32
	minAlignment     = 8        // bytes: a free block must hold its link
	// maxRequestBytes is PY_SSIZE_T_MAX (1<<63 - 1, or 1<<31 - 1 on a
	// 32-bit system): larger requests fail at once.
	maxRequestBytes = 1<<(bits.UintSize-1) - 1
)

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
// allocator. That holds on a 32-bit system too, where CPython's own layout
// differs (docs/fidelity.md, "On a 32-bit system"). Set a field to
// experiment, for example Python 3.9's layout:
//
//	obmalloc.Config{PoolSize: 4 << 10, ArenaSize: 256 << 10}
//
// That is 3.9's pool and arena sizes on 3.11's engine, not 3.9: its stats
// dump still prints 3.11's arena-map lines (a radix tree, with a root no
// 3.9 build has); docs/experiments.md, "Caveats", lists the differences.
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
	poolBase      uintptr // ^poolMask: POOL_ADDR(p) is also p & poolBase, with no NOT
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

// Validate reports the first rule that c (after defaults) breaks. The
// message names every field the rule involves, with its value, and marks
// a field left 0 as the default, so that it never blames a value the
// caller did not choose as if it had been chosen.
func (c Config) Validate() error {
	_, err := c.layout()
	return err
}

// setting is a Config field as Validate's messages show it.
type setting struct {
	name      string
	value     uintptr // after defaults
	defaulted bool    // the caller left the field 0
}

func (s setting) String() string {
	if s.defaulted {
		return fmt.Sprintf("Config.%s = %d (left 0: the default)", s.name, s.value)
	}
	return fmt.Sprintf("Config.%s = %d", s.name, s.value)
}

// refuse is Validate's error for rule, broken by one field or by two
// together. Of two, a field the caller set comes first: that is the one
// to change.
func refuse(rule string, fields ...setting) (layout, error) {
	if len(fields) == 2 && fields[0].defaulted && !fields[1].defaulted {
		fields[0], fields[1] = fields[1], fields[0]
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.String()
	}
	return layout{}, fmt.Errorf("obmalloc: %s: %s", strings.Join(names, " with "), rule)
}

func (c Config) layout() (layout, error) {
	d := c.withDefaults()
	align := setting{"Alignment", d.Alignment, c.Alignment == 0}
	threshold := setting{"Threshold", d.Threshold, c.Threshold == 0}
	pool := setting{"PoolSize", d.PoolSize, c.PoolSize == 0}
	arena := setting{"ArenaSize", d.ArenaSize, c.ArenaSize == 0}
	c = d
	switch {
	case !isPow2(c.Alignment) || c.Alignment < minAlignment || c.Alignment > 512:
		return refuse(fmt.Sprintf("must be a power of two from %d to 512 bytes", minAlignment), align)
	case c.Threshold < c.Alignment || c.Threshold%c.Alignment != 0:
		return refuse("Threshold must be a non-zero multiple of Alignment", threshold, align)
	case c.Threshold/c.Alignment > maxSizeClasses:
		return refuse(fmt.Sprintf("Threshold/Alignment gives %d size classes; at most %d are allowed",
			c.Threshold/c.Alignment, maxSizeClasses), threshold, align)
	case !isPow2(c.PoolSize):
		return refuse("must be a power of two", pool)
	}
	overhead := (poolHeaderSize + c.Alignment - 1) &^ (c.Alignment - 1)
	switch {
	case c.PoolSize < overhead+2*c.Threshold:
		// Alignment counts only through the header's rounding, which the
		// rule states; naming it as a third field would blame it wrongly
		// in all but that case.
		return refuse(fmt.Sprintf("PoolSize must hold the pool header (%d bytes at this Alignment) and two blocks of Threshold bytes: %d bytes in all",
			overhead, overhead+2*c.Threshold), pool, threshold)
	case !isPow2(c.ArenaSize) || c.ArenaSize >= 1<<maxArenaBits:
		return refuse("must be a power of two below 2 GiB", arena)
	case c.PoolSize > c.ArenaSize/4:
		return refuse("ArenaSize must hold at least four pools of PoolSize", pool, arena)
	case c.ArenaSize < mmap.PageSize():
		return refuse(fmt.Sprintf("must be at least the page size (%d)", mmap.PageSize()), arena)
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
		poolBase:     ^(c.PoolSize - 1),
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

// Size of a uintptr in bytes: 8, or 4 on a 32-bit system, where the
// layouts stay those of 64-bit CPython and only the arena map's words
// shrink.
const ptrSize = unsafe.Sizeof(uintptr(0))
