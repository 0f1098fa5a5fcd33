package obmalloc_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"strings"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// Runnable usage of every exported entry point, for go doc. The outputs
// avoid addresses and the arena-alignment figures, which depend on where
// the system maps each arena.

// A heap with CPython 3.11's layout: the zero Config.
func ExampleNew() {
	h, err := obmalloc.New(obmalloc.Config{})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	p := h.Malloc(100)
	fmt.Println(p != nil, h.AllocatedBlocks())
	h.Free(p)
	fmt.Println(h.AllocatedBlocks())
	// Output:
	// true 1
	// 0
}

// Python 3.9's layout, for an experiment: 4 KiB pools in 256 KiB arenas.
func ExampleConfig() {
	h, err := obmalloc.New(obmalloc.Config{PoolSize: 4 << 10, ArenaSize: 256 << 10})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	cfg := h.Config()
	fmt.Println(cfg.Alignment, cfg.Threshold, cfg.PoolSize, cfg.ArenaSize, cfg.Policy)
	// Output: 16 512 4096 262144 keep
}

// An invalid layout is refused with the field, its value and the rule; a
// rule of two fields names both, and says which one was left 0.
func ExampleConfig_Validate() {
	fmt.Println(obmalloc.Config{PoolSize: 3000}.Validate())
	fmt.Println(obmalloc.Config{PoolSize: 1 << 30}.Validate())
	fmt.Println(obmalloc.Config{Alignment: 8}.Validate()) // 64 classes: valid
	// Output:
	// obmalloc: Config.PoolSize = 3000: must be a power of two
	// obmalloc: Config.PoolSize = 1073741824 with Config.ArenaSize = 1048576 (left 0: the default): ArenaSize must hold at least four pools of PoolSize
	// <nil>
}

func ExampleParseArenaPolicy() {
	p, err := obmalloc.ParseArenaPolicy("release")
	fmt.Println(p, err, p == obmalloc.ReleaseArenas)
	_, err = obmalloc.ParseArenaPolicy("sometimes")
	fmt.Println(err)
	// Output:
	// release <nil> true
	// obmalloc: unknown arena policy "sometimes" (want keep or release)
}

func ExampleArenaPolicy_String() {
	fmt.Println(obmalloc.KeepArenas, obmalloc.ReleaseArenas)
	// Output: keep release
}

// Malloc is PyObject_Malloc: requests of 1..512 bytes come from pools,
// the rest from the large-block allocator.
func ExampleHeap_Malloc() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	small, large := h.Malloc(24), h.Malloc(4096)
	buf := unsafe.Slice((*byte)(small), 24)
	copy(buf, "off the Go heap")
	fmt.Println(string(buf[:15]))
	_, inPool := h.Block(small)
	_, largeInPool := h.Block(large)
	fmt.Println(inPool, largeInPool, h.AllocatedBlocks())
	h.Free(small)
	h.Free(large)
	// Output:
	// off the Go heap
	// true false 2
}

// Free puts the block back on its pool's free list: the next request of
// the same class gets it again.
func ExampleHeap_Free() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	a := h.Malloc(40)
	h.Free(a)
	b := h.Malloc(48) // 40 and 48 bytes are both class 2 (48-byte blocks)
	fmt.Println(a == b)
	h.Free(b)
	h.Free(nil) // does nothing, as free(NULL)
	// Output: true
}

// Calloc zeroes, even a reused block.
func ExampleHeap_Calloc() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	p := h.Malloc(64)
	copy(unsafe.Slice((*byte)(p), 64), "dirty")
	h.Free(p)
	q := h.Calloc(8, 8)
	fmt.Println(q == p, unsafe.Slice((*byte)(q), 5))
	h.Free(q)
	fmt.Println(h.Calloc(math.MaxUint/2, 4)) // the product overflows: nil, as NULL
	// Output:
	// true [0 0 0 0 0]
	// <nil>
}

// Realloc keeps a block in place while the new size fits its class and
// shrinks it by less than a quarter.
func ExampleHeap_Realloc() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	p := h.Malloc(60) // a 64-byte block
	copy(unsafe.Slice((*byte)(p), 5), "hello")
	q := h.Realloc(p, 50) // 4*50 > 3*64: stays
	r := h.Realloc(q, 40) // 4*40 <= 3*64: moves to a 48-byte block
	fmt.Println(q == p, r == q, string(unsafe.Slice((*byte)(r), 5)))
	h.Free(r)
	// Output: true false hello
}

func ExampleHeap_SizeClass() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	for _, n := range []uintptr{1, 16, 17, 512, 513, 0} {
		class, size, ok := h.SizeClass(n)
		fmt.Println(n, class, size, ok)
	}
	// Output:
	// 1 0 16 true
	// 16 0 16 true
	// 17 1 32 true
	// 512 31 512 true
	// 513 0 0 false
	// 0 0 0 false
}

// Block says where a block lives: its class, its pool, its arena.
func ExampleHeap_Block() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	a, b := h.Malloc(28), h.Malloc(24) // an int and a float, in CPython
	ia, _ := h.Block(a)
	ib, _ := h.Block(b)
	fmt.Println(ia.Class, ia.Size, ia.IndexInPool, ia.Arena)
	fmt.Println(ib.Class, ib.IndexInPool, ib.Pool == ia.Pool, uintptr(b)-uintptr(a))
	_, ok := h.Block(unsafe.Add(a, 8)) // not the start of a block
	fmt.Println(ok)
	// Output:
	// 1 32 0 0
	// 1 1 true 32
	// false
}

// The class of a block the caller holds, read from its pool header alone:
// no Heap, so no lock of one is needed. A pool with no block in use left
// says no.
func ExampleLiveClassOf() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	p := h.Malloc(100)
	class, ok := obmalloc.LiveClassOf(p) // reads the pool header only, not h
	fmt.Println(class, ok)
	h.Free(p) // the pool's only block; the arena stays mapped (KeepArenas)
	fmt.Println(obmalloc.LiveClassOf(p))
	// Output:
	// 6 true
	// 0 false
}

// An address inside a block is told from the block's start, so that it
// can be refused before Free would take it for a block.
func ExampleLiveBlockOf() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	p := h.Malloc(100) // class 6: 112-byte blocks
	fmt.Println(obmalloc.LiveBlockOf(p))
	fmt.Println(obmalloc.LiveBlockOf(unsafe.Add(p, 16)))
	h.Free(p)
	// Output:
	// 6 true true
	// 6 false true
}

// Arenas walks every arena and pool: the data of the demo's heap map.
func ExampleHeap_Arenas() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	for range 300 {
		h.Malloc(500) // 31 blocks of 512 bytes per pool
	}
	for _, a := range h.Arenas() {
		states := map[obmalloc.PoolState]int{}
		for _, p := range a.Pools {
			states[p.State]++
		}
		fmt.Println(a.Index, states[obmalloc.PoolFull], states[obmalloc.PoolUsed], states[obmalloc.PoolEmpty])
		fmt.Println(a.Pools[0].Class, a.Pools[0].Used, a.Pools[0].Capacity)
	}
	// Output:
	// 0 9 1 0
	// 31 31 31
}

func ExamplePoolState_String() {
	fmt.Println(obmalloc.PoolVirgin, obmalloc.PoolEmpty, obmalloc.PoolUsed, obmalloc.PoolFull)
	// Output: virgin empty used full
}

// Owns is address_in_range: exact for any pointer, without reading it.
func ExampleHeap_Owns() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	p, large := h.Malloc(10), h.Malloc(1000)
	x := 42
	fmt.Println(h.Owns(p), h.Owns(large), h.Owns(unsafe.Pointer(&x)))
	// Output: true false false
}

// AllocatedBlocks is sys.getallocatedblocks(): pool blocks and large
// blocks alike.
func ExampleHeap_AllocatedBlocks() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	h.Malloc(0)
	h.Malloc(8)
	h.Malloc(100000)
	fmt.Println(h.AllocatedBlocks())
	// Output: 3
}

// Stats are the dump's figures as numbers.
func ExampleHeap_Stats() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	for range 1000 {
		h.Malloc(64)
	}
	s := h.Stats()
	c := s.Classes[3]
	fmt.Println(c.Size, c.Pools, c.BlocksInUse, c.AvailBlocks, s.ArenasCurrent)
	// Output: 64 4 1000 20 1
}

// The same figures, in exactly the layout of CPython's
// sys._debugmallocstats() (the size-class table shown here).
func ExampleHeap_WriteDebugMallocStats() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	for range 1000 {
		h.Malloc(64)
	}
	h.Malloc(500)
	var buf bytes.Buffer
	_ = h.WriteDebugMallocStats(&buf)
	sc := bufio.NewScanner(&buf)
	for i := 0; i < 6 && sc.Scan(); i++ {
		fmt.Println(sc.Text())
	}
	// Output:
	// Small block threshold = 512, in 32 size classes.
	//
	// class   size   num pools   blocks in use  avail blocks
	// -----   ----   ---------   -------------  ------------
	//     3     64           4            1000            20
	//    31    512           1               1            30
}

// Check verifies every invariant of the heap; tests call it after each
// step.
func ExampleHeap_Check() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	var ps []unsafe.Pointer
	for i := range 5000 {
		ps = append(ps, h.Malloc(uintptr(1+i%512)))
	}
	for i := 0; i < len(ps); i += 2 {
		p := ps[i]
		h.Free(p)
	}
	fmt.Println(h.Check())
	// Output: <nil>
}

// Close unmaps everything; programs that make many heaps (experiments,
// tests) close each.
func ExampleHeap_Close() {
	h, _ := obmalloc.New(obmalloc.Config{})
	h.Malloc(10)
	fmt.Println(h.Close())
	// Output: <nil>
}

func ExampleHeap_Config() {
	h, _ := obmalloc.New(obmalloc.Config{Alignment: 8, Policy: obmalloc.ReleaseArenas})
	defer h.Close()
	cfg := h.Config() // defaults filled in
	fmt.Println(cfg.Alignment, cfg.Threshold, cfg.PoolSize, cfg.ArenaSize, cfg.Policy)
	// Output: 8 512 16384 1048576 release
}

// countingArenas is an ArenaAllocator that wraps the default one, as
// PyObject_SetArenaAllocator's users do.
type countingArenas struct {
	obmalloc.MmapArenas
	mapped, unmapped int
}

func (c *countingArenas) Alloc(size uintptr) unsafe.Pointer {
	c.mapped++
	return c.MmapArenas.Alloc(size)
}

func (c *countingArenas) Free(p unsafe.Pointer, size uintptr) {
	c.unmapped++
	c.MmapArenas.Free(p, size)
}

// Arenas come from an ArenaAllocator; MmapArenas maps them as CPython
// does. Under ReleaseArenas a wholly free arena is unmapped, except the
// last one.
func ExampleArenaAllocator() {
	arenas := &countingArenas{}
	h, _ := obmalloc.New(obmalloc.Config{Arenas: arenas, Policy: obmalloc.ReleaseArenas})
	var ps []unsafe.Pointer
	for range 3 * 64 * 31 { // about three arenas of 512-byte blocks
		ps = append(ps, h.Malloc(512))
	}
	for _, p := range ps {
		h.Free(p)
	}
	s := h.Stats()
	fmt.Println(arenas.mapped == s.ArenasAllocatedTotal, arenas.unmapped == s.ArenasReclaimed, s.ArenasCurrent)
	h.Close()
	fmt.Println(arenas.mapped == arenas.unmapped)
	// Output:
	// true true 1
	// true
}

// MmapArenas maps each arena with one mmap of exactly the arena size.
func ExampleMmapArenas() {
	var a obmalloc.MmapArenas
	p := a.Alloc(1 << 20)
	b := unsafe.Slice((*byte)(p), 1<<20)
	fmt.Println(b[0], b[1<<20-1]) // zeroed
	a.Free(p, 1<<20)
	// Output: 0 0
}

// Arenas whose pages a background goroutine makes resident before a heap
// needs them, here shared by two heaps (a Heap made without Config.Arenas
// has one of its own). Each heap owns only the arenas it took.
func ExamplePrefaultArenas() {
	arenas := &obmalloc.PrefaultArenas{Stock: 1, Align: obmalloc.DefaultPoolSize}
	defer arenas.Close()
	a, _ := obmalloc.New(obmalloc.Config{Arenas: arenas})
	b, _ := obmalloc.New(obmalloc.Config{Arenas: arenas})
	pa, pb := a.Malloc(64), b.Malloc(64)
	fmt.Println(a.Owns(pa), a.Owns(pb), b.Owns(pb))
	a.Free(pa)
	b.Free(pb)
	fmt.Println(a.Close(), b.Close())
	// Output:
	// true false true
	// <nil> <nil>
}

// Prefault: a growing heap's page faults taken ahead of need by
// goroutines beside the caller's, which Close stops.
func ExampleConfig_prefault() {
	h, err := obmalloc.New(obmalloc.Config{Prefault: true})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	p := h.Malloc(2000)
	fmt.Println(p != nil, h.Config().Prefault)
	h.Free(p)
	// Output: true true
}

// logLarge is an Allocator for Config.Large: it sees every request the
// pools do not serve (size 0 and above the threshold).
type logLarge struct {
	obmalloc.Allocator
	sizes []uintptr
}

func (l *logLarge) Malloc(n uintptr) unsafe.Pointer {
	l.sizes = append(l.sizes, n)
	return l.Allocator.Malloc(n)
}

// Config.Large takes any Allocator; a Heap is one too.
func ExampleAllocator() {
	backing, _ := obmalloc.New(obmalloc.Config{})
	defer backing.Close()
	large := &logLarge{Allocator: backing}
	h, _ := obmalloc.New(obmalloc.Config{Threshold: 256, Large: large})
	defer h.Close()
	for _, n := range []uintptr{100, 256, 257, 0, 300} {
		h.Free(h.Malloc(n))
	}
	fmt.Println(large.sizes)
	// Output: [257 0 300]
}

// ParseDebugMallocStats reads CPython's own dump, here the one
// python3.11 prints at startup (PYTHONMALLOCSTATS=1 python3 -c pass).
func ExampleParseDebugMallocStats() {
	f, err := os.Open("testdata/cpython-3.11.7-startup.txt")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	s, err := obmalloc.ParseDebugMallocStats(f)
	if err != nil {
		panic(err)
	}
	fmt.Println(s.ArenasCurrent, s.Classes[3].Pools, s.Classes[3].BlocksInUse, s.BytesInAllocatedBlocks)
	// Output: 4 50 12561 3492288
}

func cpythonStartup() obmalloc.Stats {
	f, err := os.Open("testdata/cpython-3.11.7-startup.txt")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	s, err := obmalloc.ParseDebugMallocStats(f)
	if err != nil {
		panic(err)
	}
	return s
}

// Figures derived from a dump: here CPython's at startup.
func ExampleStats_ArenaBytes() {
	s := cpythonStartup()
	fmt.Println(s.ArenaBytes(), s.ArenaMapBytes())
	// Output: 4194304 655360
}

// A Stats from ParseDebugMallocStats has no large-block count (CPython's
// dump has none), so its AllocatedBlocks is the pools' blocks.
func ExampleStats_AllocatedBlocks() {
	s := cpythonStartup()
	fmt.Println(s.AllocatedBlocks())
	// Output: 35473
}

func ExampleStats_ArenaMapBytes() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	h.Malloc(1)
	s := h.Stats()
	fmt.Println(s.ArenaMapBytes() == s.ArenaMapRootBytes+uintptr(s.ArenaMapMidNodes)*s.ArenaMapMidBytes+uintptr(s.ArenaMapBotNodes)*s.ArenaMapBotBytes)
	// Output: true
}

// A parsed dump written back is CPython's text, byte for byte.
func ExampleStats_WriteDebugMallocStats() {
	want, _ := os.ReadFile("testdata/cpython-3.11.7-startup.txt")
	s := cpythonStartup()
	var got strings.Builder
	_ = s.WriteDebugMallocStats(&got)
	fmt.Println(got.String() == string(want))
	// Output: true
}

// Misuse panics with a Fault, which a program can recover and inspect.
func ExampleFault() {
	h, _ := obmalloc.New(obmalloc.Config{})
	defer h.Close()
	p := h.Malloc(24)
	h.Free(p)
	func() {
		defer func() {
			f := recover().(obmalloc.Fault)
			fmt.Println(f.Call, f.Addr == uintptr(p))
			fmt.Println(strings.Contains(f.Problem, "double free"))
		}()
		h.Free(p) // a second free of the pool's only block
	}()
	fmt.Println(h.Check() == nil)
	// Output:
	// Free true
	// true
	// true
}

// The statistics of several heaps, as one: what pymalloc's default heap
// reports once it has a heap per processor.
func ExampleStats_Add() {
	a, _ := obmalloc.New(obmalloc.Config{})
	defer a.Close()
	b, _ := obmalloc.New(obmalloc.Config{})
	defer b.Close()
	a.Malloc(24)
	b.Malloc(24)
	b.Malloc(100)
	var all obmalloc.Stats
	all.Add(a.Stats())
	all.Add(b.Stats())
	fmt.Println(all.AllocatedBlocks(), all.Classes[1].Pools, all.ArenasCurrent)
	// Output:
	// 3 2 2
}

// A heap whose arenas sit on transparent huge pages, for an experiment
// on what page size does to an allocation-heavy workload. The size-class
// rows of its stats are those of a heap on ordinary arenas.
func ExampleHugePageArenas() {
	arenas := &obmalloc.HugePageArenas{} // one can serve many heaps
	h, err := obmalloc.New(obmalloc.Config{Arenas: arenas})
	if err != nil {
		panic(err)
	}

	p := h.Malloc(100)
	s := h.Stats()
	fmt.Println("arenas:", s.ArenasCurrent, "bytes lost to arena alignment:", s.BytesLostToArenaAlignment)
	h.Free(p)
	// The heap gives its arenas back; then the reservations can go.
	fmt.Println(h.Close(), arenas.Close())
	// Output:
	// arenas: 1 bytes lost to arena alignment: 0
	// <nil> <nil>
}
