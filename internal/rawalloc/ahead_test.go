package rawalloc

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/procmem"
	"github.com/gopymalloc/gopymalloc/mmap"
)

// residentRange counts the resident pages of [start, end), skipping the
// test where residency cannot be read.
func residentRange(t *testing.T, start, end uintptr) (resident, pages int) {
	t.Helper()
	r, err := procmem.ResidentPages(ptr(start), end-start)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("residency is read with mincore (linux)")
	}
	require.NoError(t, err)
	for _, in := range r {
		if in {
			resident++
		}
	}
	return resident, len(r)
}

// The worker makes the current chunk resident up to aheadBytes beyond the
// bump pointer, while the untouched space further on stays as it was.
func TestPopulateAhead(t *testing.T) {
	if !mmap.PopulateSupported() {
		t.Skip("this system cannot populate in one call")
	}
	old := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(old)
	h := NewPrivate(nil)
	h.EnablePopulateAhead()
	h.chunkBytes = 64 << 20 // as if the heap had grown: a 16 MiB chunk next
	p := h.Malloc(4096)     // the first chunk, and the first request
	require.NotNil(t, p)
	require.Equal(t, uintptr(16<<20), h.limit-h.cur)
	first := uintptr(p) - headerBytes // the bump before the first carve
	end, limit := h.aheadEnd, h.limit
	assert.Equal(t, roundUp(first+aheadBytes, pageBytes), end, "asked for aheadBytes from the first block on")
	require.Eventually(t, func() bool {
		n, pages := residentRange(t, first&^(pageBytes-1), end)
		return n == pages
	}, 5*time.Second, time.Millisecond, "the pages ahead of the bump become resident")
	// Where transparent huge pages are always on, a populated page may
	// bring its whole huge page in: look beyond the huge page that holds
	// the range's end.
	beyond := end + pageBytes
	if hp := mmap.HugePageSize(); hp > 0 {
		beyond = roundUp(end, hp)
	}
	if beyond < limit {
		n, _ := residentRange(t, beyond, limit)
		assert.Zero(t, n, "nothing beyond the requested range")
	}

	// Carving past the middle of the range asks for more.
	assert.Equal(t, end-aheadBytes/2, h.aheadNext)
	for h.bump+headerBytes+32<<10 <= end-aheadBytes/2 {
		require.NotNil(t, h.Malloc(32<<10))
	}
	assert.Equal(t, end, h.aheadEnd, "no request before the middle")
	at := h.bump
	require.NotNil(t, h.Malloc(32<<10))
	assert.Equal(t, roundUp(at+aheadBytes, pageBytes), h.aheadEnd, "a request from the carve that crossed it")

	// A new chunk starts its own ranges.
	oldChunk := h.cur
	for h.cur == oldChunk {
		require.NotNil(t, h.Malloc(200<<10))
	}
	assert.Greater(t, h.aheadEnd, h.cur)
	assert.LessOrEqual(t, h.aheadEnd, h.limit)
	assert.GreaterOrEqual(t, h.aheadEnd, h.bump)

	// Close stops the worker; the heap maps afresh afterwards, and a new
	// worker follows.
	require.NoError(t, h.Close())
	assert.Nil(t, h.ahead.wake)
	assert.Zero(t, h.aheadEnd)
	require.NotNil(t, h.Malloc(4096))
	assert.NotNil(t, h.ahead.wake)
	assert.Equal(t, h.limit, h.aheadEnd, "a 1 MiB chunk is asked for whole")
	assert.Equal(t, h.limit, h.aheadNext, "and never again")
	require.NoError(t, h.Close())
}

// A heap on a MapFunc does not populate: the MapFunc's owner may unmap
// that memory without telling the heap.
func TestPopulateAheadNotOnAMapFunc(t *testing.T) {
	old := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(old)
	h := newTestHeap(t, (&testMapper{}).mapFn)
	h.EnablePopulateAhead()
	for range 100 {
		require.NotNil(t, h.Malloc(16<<10))
	}
	assert.Nil(t, h.ahead.wake)
}

func TestPopulateAheadNeedsTwoProcessors(t *testing.T) {
	old := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(old)
	h := newTestHeap(t, nil)
	h.EnablePopulateAhead()
	for range 100 {
		require.NotNil(t, h.Malloc(16<<10))
	}
	assert.Nil(t, h.ahead.wake, "no worker with one processor")
}

// The worker ends with Close, even in the middle of a range.
func TestPopulateAheadStopsOnClose(t *testing.T) {
	old := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(old)
	before := runtime.NumGoroutine()
	for range 20 {
		h := NewPrivate(nil)
		h.EnablePopulateAhead()
		for range 50 {
			require.NotNil(t, h.Malloc(200<<10))
		}
		require.NoError(t, h.Close())
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "no worker outlives its heap")
}

// A request that continues the pending range extends it, skipping only
// what lies below the page being carved; any other replaces it.
func TestAheadRequestExtendsOrReplaces(t *testing.T) {
	var a ahead
	a.wake = make(chan struct{}, 1) // no worker: the range stays as requested
	const K = 4096
	for _, step := range []struct {
		name             string
		doneTo           uintptr // where the worker got to, if it moved (0: it did not)
		bump, start, end uintptr
		want             [2]uintptr
	}{
		{"first", 0, 10 * K, 10 * K, 266 * K, [2]uintptr{10 * K, 266 * K}},
		{"continues: extended, the undone part kept", 0, 140 * K, 266 * K, 396 * K, [2]uintptr{140 * K, 396 * K}},
		{"the worker ahead of the bump", 300 * K, 280 * K, 396 * K, 526 * K, [2]uintptr{300 * K, 526 * K}},
		{"another chunk: replaced", 0, 9000 * K, 9000 * K, 9256 * K, [2]uintptr{9000 * K, 9256 * K}},
	} {
		if step.doneTo != 0 {
			a.mu.Lock()
			a.start = step.doneTo
			a.mu.Unlock()
		}
		a.request(step.bump, step.start, step.end)
		assert.Equal(t, step.want, [2]uintptr{a.start, a.end}, step.name)
	}
}

// Off by default: the C library's malloc lets each page fault where it is
// first touched.
func TestPopulateAheadIsOptIn(t *testing.T) {
	old := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(old)
	h := newTestHeap(t, nil)
	for range 100 {
		require.NotNil(t, h.Malloc(16<<10))
	}
	assert.False(t, h.PopulatesAhead())
	h.aheadOn = true // as EnablePopulateAhead, after the fact
	for range 100 {
		require.NotNil(t, h.Malloc(16<<10))
	}
	assert.Equal(t, mmap.PopulateSupported(), h.PopulatesAhead())
}
