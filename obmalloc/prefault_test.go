package obmalloc

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/procmem"
	"github.com/gopymalloc/gopymalloc/mmap"
)

// withProcs runs the test with GOMAXPROCS n.
func withProcs(t *testing.T, n int) {
	old := runtime.GOMAXPROCS(n)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

// waitStock waits until a holds n ready arenas.
func waitStock(t *testing.T, a *PrefaultArenas, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return a.Ready() == n }, 5*time.Second, time.Millisecond,
		"the worker stocks %d arenas (has %d)", n, a.Ready())
}

// useArena checks that the arena is zero and writes all of it, so an arena
// handed out twice, or unmapped, shows.
func useArena(t *testing.T, p unsafe.Pointer, size uintptr, mark byte) {
	t.Helper()
	require.NotNil(t, p)
	b := unsafe.Slice((*byte)(p), size)
	for i := range b {
		if b[i] != 0 {
			t.Fatalf("arena %p: byte %d is %d when handed out: want 0", p, i, b[i])
		}
		b[i] = mark
	}
}

func TestPrefaultArenasStockAheadOfAlloc(t *testing.T) {
	withProcs(t, 2)
	const size = DefaultArenaSize
	a := &PrefaultArenas{Stock: 3}
	defer a.Close()
	assert.Zero(t, a.Ready(), "nothing is stocked before the first Alloc")

	first := a.Alloc(size) // mapped on the spot: the stock was empty
	useArena(t, first, size, 1)
	waitStock(t, a, 3)

	var got []unsafe.Pointer
	for i := range 5 {
		p := a.Alloc(size)
		useArena(t, p, size, byte(2+i))
		got = append(got, p)
	}
	waitStock(t, a, 3)
	for _, p := range got {
		a.Free(p, size)
	}
	a.Free(first, size)
	assert.Equal(t, 3, a.Ready(), "Free unmaps; it does not stock")
}

func TestPrefaultArenasDefaultStock(t *testing.T) {
	withProcs(t, 2)
	var a PrefaultArenas
	defer a.Close()
	p := a.Alloc(DefaultArenaSize)
	waitStock(t, &a, DefaultPrefaultStock)
	a.Free(p, DefaultArenaSize)
}

// With one processor there is nothing to gain from a worker: every arena
// is mapped by Alloc.
func TestPrefaultArenasOneProcessor(t *testing.T) {
	withProcs(t, 1)
	a := &PrefaultArenas{}
	defer a.Close()
	for range 3 {
		p := a.Alloc(DefaultArenaSize)
		useArena(t, p, DefaultArenaSize, 9)
		a.Free(p, DefaultArenaSize)
	}
	time.Sleep(20 * time.Millisecond)
	assert.Zero(t, a.Ready())
}

// mappedFor checks, with mincore, that [p, p+size) is all mapped: an arena
// handed out smaller than asked for fails here instead of corrupting a
// neighbour.
func mappedFor(t *testing.T, p unsafe.Pointer, size uintptr) {
	t.Helper()
	_, err := procmem.ResidentPages(p, size)
	if errors.Is(err, errors.ErrUnsupported) {
		return // only linux can tell
	}
	require.NoError(t, err, "arena %p is not mapped for all of its %d bytes", p, size)
}

// The stock follows the size of the latest Alloc, in both directions, and
// every arena handed out is mapped for the size asked for, even while the
// worker is preparing one of the other size.
func TestPrefaultArenasSizeChange(t *testing.T) {
	withProcs(t, 2)
	a := &PrefaultArenas{Stock: 2}
	defer a.Close()
	big, small := uintptr(1<<20), uintptr(256<<10)
	type arena struct {
		p unsafe.Pointer
		n uintptr
	}
	var got []arena
	take := func(n uintptr) {
		p := a.Alloc(n)
		require.NotNil(t, p)
		mappedFor(t, p, n)
		useArena(t, p, n, byte(len(got)+1))
		got = append(got, arena{p, n})
	}
	take(big)
	waitStock(t, a, 2)
	take(small) // the big stock is dropped
	waitStock(t, a, 2)
	a.mu.Lock()
	assert.Equal(t, small, a.size)
	a.mu.Unlock()
	take(small) // from the stock of small arenas
	take(big)   // not from it
	waitStock(t, a, 2)
	take(big)
	for i := range 40 { // sizes changing while the worker works
		take([]uintptr{small, big}[i%2])
	}
	for _, x := range got {
		a.Free(x.p, x.n)
	}
}

// An arena the worker mapped for the old size is not stocked once Alloc
// has asked for another size meanwhile.
func TestPrefaultArenasSizeChangeWhileMapping(t *testing.T) {
	withProcs(t, 2)
	big, small := uintptr(1<<20), uintptr(256<<10)
	mapped, proceed := make(chan struct{}), make(chan struct{})
	a := &PrefaultArenas{Stock: 1}
	first := true
	a.afterMap = func() {
		if first {
			first = false
			mapped <- struct{}{}
			<-proceed
		}
	}
	defer a.Close()
	p := a.Alloc(small)
	<-mapped // the worker holds a small arena, not yet stocked
	q := a.Alloc(big)
	close(proceed)
	waitStock(t, a, 1)
	r := a.Alloc(big)
	mappedFor(t, r, big)
	useArena(t, r, big, 1)
	a.Free(p, small)
	a.Free(q, big)
	a.Free(r, big)
}

func TestPrefaultArenasClose(t *testing.T) {
	withProcs(t, 2)
	a := &PrefaultArenas{}
	p := a.Alloc(DefaultArenaSize)
	waitStock(t, a, DefaultPrefaultStock)
	a.Close()
	assert.Zero(t, a.Ready(), "Close unmaps the stock")
	a.Close() // a second Close does nothing
	useArena(t, p, DefaultArenaSize, 5)
	a.Free(p, DefaultArenaSize) // arenas handed out stay valid
	assert.PanicsWithValue(t, "obmalloc: PrefaultArenas.Alloc(1048576): the allocator is closed", func() {
		a.Alloc(DefaultArenaSize)
	})
	var never PrefaultArenas
	never.Close() // closing an allocator that never started
	assert.Panics(t, func() { never.Alloc(DefaultArenaSize) })
}

// Many goroutines share one allocator: every arena is zero when handed out
// and belongs to one goroutine only (go test -race covers the locking).
func TestPrefaultArenasConcurrent(t *testing.T) {
	withProcs(t, 4)
	const size = 256 << 10
	a := &PrefaultArenas{Stock: 4}
	defer a.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 20 {
				p := a.Alloc(size)
				useArena(t, p, size, byte(g+1))
				b := unsafe.Slice((*byte)(p), size)
				runtime.Gosched()
				for i := 0; i < len(b); i += 4096 {
					if b[i] != byte(g+1) {
						t.Errorf("arena %p changed under goroutine %d", p, g)
						break
					}
				}
				a.Free(p, size)
			}
		})
	}
	wg.Wait()
}

// A stocked arena is resident between its first and last pool boundary,
// and only there: the partial pools at either end, which a heap never
// touches, are left alone.
func TestPrefaultArenasPopulateThePoolsOnly(t *testing.T) {
	withProcs(t, 2)
	const size = DefaultArenaSize
	page := mmap.PageSize()
	a := &PrefaultArenas{Stock: 1, Align: DefaultPoolSize}
	defer a.Close()
	p := a.Alloc(size)
	defer a.Free(p, size)
	waitStock(t, a, 1)
	a.mu.Lock()
	q := a.ready[0]
	a.mu.Unlock()
	pages, err := procmem.ResidentPages(q, size)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("residency is read with mincore (linux)")
	}
	require.NoError(t, err)
	first := (uintptr(q) + DefaultPoolSize - 1) &^ (DefaultPoolSize - 1)
	last := (uintptr(q) + size) &^ (DefaultPoolSize - 1)
	for i, r := range pages {
		at := uintptr(q) + uintptr(i)*page
		assert.Equal(t, at >= first && at < last, r, "page %d of the stocked arena at %p (pools from %#x to %#x)", i, q, first, last)
	}
}

// A heap made with Config.Prefault and no Config.Arenas has its own
// PrefaultArenas, with the heap's pool size as alignment; Close stops its
// worker.
func TestHeapPrefaultsItsArenas(t *testing.T) {
	withProcs(t, 2)
	before := runtime.NumGoroutine()
	h, err := New(Config{PoolSize: 4 << 10, ArenaSize: 256 << 10, Prefault: true})
	require.NoError(t, err)
	require.NotNil(t, h.ownArenas)
	assert.Equal(t, uintptr(4<<10), h.ownArenas.Align)
	var ps []unsafe.Pointer
	for range 10000 { // 64-byte blocks: 3 arenas
		p := h.Malloc(64)
		require.NotNil(t, p)
		ps = append(ps, p)
	}
	waitStock(t, h.ownArenas, DefaultPrefaultStock)
	require.NoError(t, h.Check())
	for _, p := range ps {
		h.Free(p)
	}
	own := h.ownArenas
	require.NoError(t, h.Close())
	assert.Zero(t, own.Ready(), "Close unmaps the stock")
	// Polled here: Eventually would count a goroutine of its own.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "the worker goroutine ends with the heap")

	h2 := newHeap(t, Config{Arenas: MmapArenas{}, Prefault: true})
	assert.Nil(t, h2.ownArenas, "an allocator given in Config is used as it is")
}

// By default CPython's way: every fault where the page is first touched.
func TestHeapPrefaultIsOptIn(t *testing.T) {
	withProcs(t, 2)
	h := newHeap(t, Config{})
	assert.Nil(t, h.ownArenas)
	assert.Equal(t, MmapArenas{}, h.arenaAlloc)
	var ps []unsafe.Pointer
	for range 20000 { // 2 arenas of small blocks, and 80 MB of large blocks
		ps = append(ps, h.Malloc(64), h.Malloc(4000))
	}
	assert.False(t, h.ownLarge.PopulatesAhead(), "no worker for the large blocks")
	h2 := newHeap(t, Config{Prefault: true})
	for range 1000 {
		h2.Malloc(4000)
	}
	assert.Equal(t, mmap.PopulateSupported(), h2.ownLarge.PopulatesAhead(), "one with Prefault, where the system can populate")
	for _, p := range ps {
		h.Free(p)
	}
	require.NoError(t, h.Check())
}

// Heaps made and closed from several goroutines while GOMAXPROCS changes
// under them: every block stays the heap's, every heap checks out, and
// no worker outlives its heap.
func TestPrefaultArenasGOMAXPROCSChanges(t *testing.T) {
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	before := runtime.NumGoroutine()
	stop := make(chan struct{})
	toggled := make(chan struct{})
	go func() {
		defer close(toggled)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			runtime.GOMAXPROCS(1 + i%4)
			time.Sleep(200 * time.Microsecond)
		}
	}()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 5 {
				h, err := New(Config{Prefault: true})
				if err != nil {
					t.Error(err)
					return
				}
				var ps []unsafe.Pointer
				for i := range 20000 { // about 6 arenas, and large blocks
					n := uintptr(16 + (i+g)%500)
					if i%50 == 0 {
						n = 3000
					}
					p := h.Malloc(n)
					*(*byte)(p), *(*byte)(unsafe.Add(p, n-1)) = byte(g), byte(i)
					ps = append(ps, p)
				}
				for i, p := range ps {
					n := uintptr(16 + (i+g)%500)
					if i%50 == 0 {
						n = 3000
					}
					if *(*byte)(p) != byte(g) || *(*byte)(unsafe.Add(p, n-1)) != byte(i) {
						t.Errorf("block %p (%d bytes) lost its contents", p, n)
					}
					h.Free(p)
				}
				if err := h.Check(); err != nil {
					t.Error(err)
				}
				if err := h.Close(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-toggled
	runtime.GOMAXPROCS(old)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "no worker outlives its heap")
}
