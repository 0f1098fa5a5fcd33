package obmalloc

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/internal/rawalloc"
	"github.com/gopymalloc/gopymalloc/internal/workload"
	"github.com/gopymalloc/gopymalloc/mmap"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rssKB reads the process's resident set size from /proc (linux only).
func rssKB(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status: RSS cannot be read on this system")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			require.NoError(t, err)
			return n
		}
	}
	t.Skip("VmRSS not found")
	return 0
}

const policyBlocks = 500000 // 64-byte blocks: about 32 MiB of arenas

func fillHeap(h *Heap, ps []unsafe.Pointer) {
	for i := range ps {
		ps[i] = h.Malloc(64)
		workload.Touch(ps[i], 64)
	}
}

func freeAll(h *Heap, ps []unsafe.Pointer) {
	for _, p := range ps {
		h.Free(p)
	}
}

// Never unmap: memory freed stays with the heap and serves the next round
// without a new arena, and the process's RSS does not grow past the first
// peak.
func TestKeepArenasNeverUnmaps(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("RSS is read from /proc")
	}
	h := newHeap(t, Config{})
	ps := make([]unsafe.Pointer, policyBlocks)
	fillHeap(h, ps)
	first := h.Stats()
	peak := rssKB(t)
	freeAll(h, ps)
	afterFree := h.Stats()
	assert.Equal(t, 0, afterFree.ArenasReclaimed)
	assert.Equal(t, first.ArenasCurrent, afterFree.ArenasCurrent, "no arena returned to the OS")
	assert.GreaterOrEqual(t, rssKB(t), peak-1024, "RSS stays high after freeing (within 1 MiB of runtime noise)")
	require.NoError(t, h.Check())

	fillHeap(h, ps)
	again := h.Stats()
	assert.Equal(t, first.ArenasAllocatedTotal, again.ArenasAllocatedTotal, "the second round maps no arena")
	// 1 MiB of slack for the Go runtime's own pages; the heap itself adds none.
	assert.LessOrEqual(t, rssKB(t), peak+1024, "RSS not above the first peak")
	freeAll(h, ps)
	require.NoError(t, h.Check())
}

// ReleaseArenas: CPython 3.11 unmaps each wholly free arena except the
// last usable one.
func TestReleaseArenas(t *testing.T) {
	h := newHeap(t, Config{Policy: ReleaseArenas})
	ps := make([]unsafe.Pointer, policyBlocks)
	fillHeap(h, ps)
	total := h.Stats().ArenasAllocatedTotal
	require.Greater(t, total, 10)
	freeAll(h, ps)
	s := h.Stats()
	assert.Equal(t, 1, s.ArenasCurrent, "one wholly free arena is kept (bpo-37257)")
	assert.Equal(t, total-1, s.ArenasReclaimed)
	assert.Equal(t, total, s.ArenasHighwater)
	require.NoError(t, h.Check())
	fillHeap(h, ps) // the vector's slots and the arena map are reused
	assert.Equal(t, 2*total-1, h.Stats().ArenasAllocatedTotal)
	require.NoError(t, h.Check())
	freeAll(h, ps)
}

// failingMaps counts map calls and fails those after the first k.
type failingMaps struct {
	calls, k int
}

func (f *failingMaps) ok() bool { f.calls++; return f.calls <= f.k }

func (f *failingMaps) Alloc(size uintptr) unsafe.Pointer {
	if !f.ok() {
		return nil
	}
	return MmapArenas{}.Alloc(size)
}

func (f *failingMaps) Free(p unsafe.Pointer, size uintptr) { MmapArenas{}.Free(p, size) }

func (f *failingMaps) mapFunc(size uintptr) unsafe.Pointer {
	if !f.ok() {
		return nil
	}
	p, err := mmap.Map(size)
	if err != nil {
		return nil
	}
	return p
}

// Out of memory: once maps fail, Malloc returns nil, the heap stays
// consistent, frees work, and allocation succeeds again when maps do.
func TestOutOfMemory(t *testing.T) {
	for k := 0; k <= 3; k++ {
		maps := &failingMaps{k: k}
		h := newHeap(t, Config{Arenas: maps, Large: rawalloc.New(maps.mapFunc)})
		var got []unsafe.Pointer
		nils := 0
		for i := 0; i < 200000 && nils < 10; i++ {
			p := h.Malloc(uintptr(1 + i%700))
			if p == nil {
				nils++
				continue
			}
			got = append(got, p)
		}
		require.Equal(t, 10, nils, "k=%d: Malloc returns nil once maps fail", k)
		require.NoError(t, h.Check())
		assert.Equal(t, len(got), h.AllocatedBlocks())
		freeAll(h, got)
		require.NoError(t, h.Check())
		maps.k = 1 << 30
		p := h.Malloc(100)
		require.NotNil(t, p, "k=%d: allocation works again", k)
		h.Free(p)
		require.NoError(t, h.Check())
		assert.Equal(t, 0, h.AllocatedBlocks())
	}
}

// A small request that cannot get an arena falls back to the large
// allocator, as _PyObject_Malloc falls back to PyMem_RawMalloc.
func TestSmallFallsBackToLarge(t *testing.T) {
	h := newHeap(t, Config{Arenas: &failingMaps{k: 0}})
	p := h.Malloc(16)
	require.NotNil(t, p)
	assert.False(t, h.Owns(p))
	q := h.Calloc(2, 8)
	require.NotNil(t, q)
	assert.False(t, h.Owns(q))
	s := h.Stats()
	assert.Equal(t, 2, s.RawAllocatedBlocks)
	assert.Equal(t, 0, s.ArenasAllocatedTotal)
	h.Free(p)
	h.Free(q)
	require.NoError(t, h.Check())
}
