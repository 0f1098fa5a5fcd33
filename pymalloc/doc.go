// Package pymalloc is gopymalloc's front door: CPython's memory API in Go,
// served by the pymalloc engine (package obmalloc) with memory outside the
// Go heap.
//
// # Domains
//
// CPython routes every request through one of three allocator domains;
// this package keeps them, name for name:
//
//	domain     CPython               here                        default allocator
//	RAW        PyMem_RawMalloc ...   RawMalloc, RawCalloc, ...   the large-block allocator
//	MEM        PyMem_Malloc ...      MemMalloc, MemCalloc, ...   the default pymalloc heap
//	OBJ        PyObject_Malloc ...   Malloc, Calloc, ...         the default pymalloc heap
//
// MEM and OBJ share one heap, as in CPython. The heap serves requests of
// 1..512 bytes from its pools; requests of 0 bytes, larger ones, and small
// ones when no arena can be mapped go to RawMalloc, whatever allocator the
// RAW domain holds at the time, exactly as _PyObject_Malloc falls back to
// PyMem_RawMalloc.
//
//	Malloc ─> OBJ allocator ─┐                        ┌─> arenas (mmap, or SetArenaAllocator)
//	MemMalloc ─> MEM ────────┴─> default heap ────────┤
//	RawMalloc ─> RAW allocator <── 0 and > 512 bytes ─┘
//	                  └─> large-block allocator (mmap chunks, size classes)
//
// GetAllocator and SetAllocator replace a domain's allocator (CPython's
// PyMem_GetAllocator / PyMem_SetAllocator); an allocator installed after
// blocks were handed out must wrap the previous one, since it will be
// asked to free them. GetArenaAllocator and SetArenaAllocator do the same
// for the arenas (PyObject_SetArenaAllocator); tests use them to inject
// out-of-memory.
//
// # The large-block allocator
//
// CPython hands large requests to the C library's malloc. gopymalloc has
// no C: its large-block allocator carves size classes (16-byte steps up
// to 128 bytes, then four per power of two up to 256 KiB; the heap sends
// it 0 bytes and 513 and up, RawMalloc any size) out of chunks of 1 MiB
// and more from mmap, and keeps each freed block on a free list for the
// next request of its class, so a trace in which a few percent of
// requests are large makes no system call per request. Blocks too large
// for a class get a mapping of their own, which is also kept and reused.
// Like the arenas, it never unmaps; past 64 MiB of cached big blocks, the
// pages of a newly freed one are handed back (decommitted) while its
// address range stays.
//
// # Concurrency and its cost
//
// Every function here is safe for concurrent use. The default heap starts
// as one obmalloc heap under one mutex, taken once per call, so a program
// that allocates from one goroutine gets exactly CPython's single heap and
// its statistics. The first time an allocation finds that mutex held, the
// heap shards itself for good: each processor (GOMAXPROCS of them) gets a
// heap and mutex of its own, allocations take the current processor's
// (or, when it can map no arena, another shard's pools, before the
// large-block allocator), and a free goes to the shard that owns the
// block, found in a lock-free table of arenas. Each processor also gets a small cache of free blocks per
// size class (up to 32 each), as tcmalloc's and jemalloc's per-thread
// caches: Free puts a block there and Malloc takes the last one put, with
// the goroutine pinned to its processor for a few instructions and no
// lock; only an empty or full cache goes on to the shards, 16 blocks at a
// time. Stats, WriteDebugMallocStats, AllocatedBlocks and Check then cover
// all shards, and count cached blocks as free (a pool that holds only
// cached blocks still counts as in use). The large-block allocator is
// shared and has its own lock. An uncontended lock and unlock add a few
// nanoseconds to each call of the unsharded heap (docs/benchmarks.md has
// the figures); a program that keeps one obmalloc.Heap per goroutine
// avoids them.
//
// # Page faults off the allocating goroutine
//
// SetArenaAllocator(&obmalloc.PrefaultArenas{Align: obmalloc.DefaultPoolSize})
// before the first allocation has a background goroutine map the next two
// arenas and make their pages resident before the default heap needs
// them, so a growing heap's page faults are taken on another processor
// (docs/benchmarks.md has what it gains and costs). By default the arenas
// are mapped as CPython maps them, and fault in where they are first
// touched.
//
// # Arena policy
//
// The default heap keeps every arena it maps (obmalloc.KeepArenas), so
// its RSS stays at its peak. GOPYMALLOC_ARENAS=release in the environment
// (ArenasEnvVar) gives it CPython 3.11's rule instead
// (obmalloc.ReleaseArenas): an arena whose pools are all free is unmapped,
// but for one kept for reuse. ArenaPolicy reports which one the heap applies.
//
// # Huge pages
//
// GOPYMALLOC_HUGEPAGES=1 in the environment (HugePagesEnvVar), or
// SetArenaAllocator(&obmalloc.HugePageArenas{}) before the first
// allocation, puts the default heap's arenas on transparent huge pages
// (linux): fewer page faults and TLB misses, memory held in 2 MiB steps.
// It is off by default, as CPython's PYTHON_PYMALLOC_HUGEPAGES is;
// docs/experiments.md has the figures.
//
// # Debug hooks and misuse
//
// SetupDebugHooks, or GOPYMALLOC=debug in the environment, puts CPython's
// debug hooks on the three domains (PyMem_SetupDebugHooks, PYTHONMALLOC):
// each block carries CPython 3.11's debug layout (its size, an API id
// byte, pads of 0xFD around the data, 0xCD fill on malloc, 0xDD on free),
// and Free and Realloc check it. A fault is reported in CPython's layout
// to stderr (SetFaultOutput) and the call panics with a Fault
// (SetFaultMode(ContinueOnFault) reports and goes on). Beyond CPython, the
// hooks keep a registry of their blocks and a bounded quarantine of freed
// ones, so they also detect double frees, frees of interior and foreign
// pointers and writes to freed blocks, each with its own message.
// GOPYMALLOC takes PYTHONMALLOC's values (env.go); an unknown one stops
// the program at start-up.
//
// Without the hooks, the checks that cost nothing measurable stay on: a
// pointer that no arena holds goes to the large-block allocator, which
// panics on anything it did not hand out, and the heap panics on a
// pointer into a pool header or a pool with no block in use. Free and
// Realloc (OBJ and MEM) panic with an obmalloc.Fault, RawFree and
// RawRealloc with a RawFault; both name the address, what was wrong and
// the allocator's method that refused it, Free or Realloc, whichever
// domain's function was called (MemFree's and RawFree's faults say Free):
// the default heap serves MEM and OBJ, the large-block allocator RAW and
// the heap's large blocks, and neither is told which function called it.
// The debug hooks' Faults name the function (pymalloc.RawFree).
// docs/reliability.md compares every misuse with what CPython 3.11 does.
//
// # Tracing
//
// StartTracing is Python's tracemalloc.start: every block is recorded
// with the Go stack that allocated it, until StopTracing. TakeSnapshot,
// Snapshot.Statistics (by line, by file, by traceback) and CompareTo find
// where memory is held and what grew; TracedMemory gives the current and
// peak traced bytes. The live blocks are also entries of a runtime/pprof
// profile (LiveProfile), so go tool pprof shows the Go call stacks that
// hold memory outside the Go heap. Off, tracing costs nothing: the tracers
// are not on the domains at all.
//
// # Go pointers
//
// The memory comes from mmap and the Go garbage collector never looks at
// it: a Go pointer stored there does not keep its object alive. New and
// MakeSlice refuse types that contain Go pointers, naming the type and the
// offending field. Their frees are Delete and FreeSlice; ResizeSlice is
// PyMem_Resize, the way to grow such a slice (append beyond its capacity
// would copy it to the Go heap and leave the block behind).
package pymalloc
