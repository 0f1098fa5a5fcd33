package pymalloc

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// lockedHeap is the default heap behind MEM and OBJ: one obmalloc.Heap and
// the mutex that makes it safe for concurrent use (CPython's GIL).
type lockedHeap struct {
	mu sync.Mutex
	h  *obmalloc.Heap
}

var defaultHeap = newDefaultHeap()

func newDefaultHeap() *lockedHeap {
	h, err := obmalloc.New(obmalloc.Config{Arenas: arenaHook{}, Large: rawDomain{}})
	if err != nil {
		panic(fmt.Sprintf("pymalloc: creating the default heap: %v", err))
	}
	return &lockedHeap{h: h}
}

func (l *lockedHeap) Malloc(n uintptr) unsafe.Pointer {
	l.mu.Lock()
	p := l.h.Malloc(n)
	l.mu.Unlock()
	return p
}

func (l *lockedHeap) Calloc(nelem, elsize uintptr) unsafe.Pointer {
	l.mu.Lock()
	p := l.h.Calloc(nelem, elsize)
	l.mu.Unlock()
	return p
}

func (l *lockedHeap) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	l.mu.Lock()
	defer l.mu.Unlock() // Realloc may panic on a foreign pointer
	return l.h.Realloc(p, n)
}

func (l *lockedHeap) Free(p unsafe.Pointer) {
	l.mu.Lock()
	defer l.mu.Unlock() // Free panics on a foreign pointer
	l.h.Free(p)
}

// with runs f on the default heap under its lock.
func (l *lockedHeap) with(f func(h *obmalloc.Heap)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l.h)
}

// arenaHook maps the default heap's arenas through whatever
// SetArenaAllocator installed.
type arenaHook struct{}

var arenaAllocator atomic.Pointer[arenaHolder]

type arenaHolder struct{ a ArenaAllocator }

func init() { arenaAllocator.Store(&arenaHolder{obmalloc.MmapArenas{}}) }

func (arenaHook) Alloc(size uintptr) unsafe.Pointer { return arenaAllocator.Load().a.Alloc(size) }

func (arenaHook) Free(p unsafe.Pointer, size uintptr) { arenaAllocator.Load().a.Free(p, size) }

// GetArenaAllocator returns the allocator that maps the default heap's
// arenas (PyObject_GetArenaAllocator); by default, mmap.
func GetArenaAllocator() ArenaAllocator { return arenaAllocator.Load().a }

// SetArenaAllocator makes a map the default heap's future arenas and
// unmap all of them (PyObject_SetArenaAllocator); a replacement installed
// after arenas were mapped must be able to free them, usually by wrapping
// the previous one.
func SetArenaAllocator(a ArenaAllocator) {
	if a == nil {
		panic("pymalloc: SetArenaAllocator(nil): the allocator must not be nil")
	}
	arenaAllocator.Store(&arenaHolder{a})
}

// Stats returns the default heap's statistics.
func Stats() obmalloc.Stats {
	var s obmalloc.Stats
	defaultHeap.with(func(h *obmalloc.Heap) { s = h.Stats() })
	return s
}

// AllocatedBlocks is sys.getallocatedblocks(): the blocks the default heap
// has handed out and not taken back, pool and large ones. Blocks the
// program freed that wait in the debug hooks' quarantine are not counted,
// so a leak check reads the same with and without the hooks.
func AllocatedBlocks() int {
	q := debug.quarantinedIn(defaultHeap)
	var n int
	defaultHeap.with(func(h *obmalloc.Heap) { n = h.AllocatedBlocks() })
	return n - q
}

// WriteDebugMallocStats writes the default heap's statistics in the
// layout of the pymalloc section of CPython 3.11's sys._debugmallocstats().
func WriteDebugMallocStats(w io.Writer) error {
	s := Stats()
	return s.WriteDebugMallocStats(w)
}

// Check runs the default heap's invariant checker (obmalloc.Heap.Check).
func Check() error {
	var err error
	defaultHeap.with(func(h *obmalloc.Heap) { err = h.Check() })
	return err
}
