package rawalloc

import (
	"errors"
	"fmt"
	"math/bits"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/procmem"
	"github.com/gopymalloc/gopymalloc/mmap"
)

const (
	kib = 1 << 10
	mib = 1 << 20
	// maxRequest is the largest request the heap attempts on this platform.
	maxRequest = uintptr(min(uint64(maxRequestBytes), uint64(^uintptr(0)>>1)))
	// halfWord squared overflows a uintptr.
	halfWord = uintptr(1) << (bits.UintSize / 2)
)

func TestMallocSizes(t *testing.T) {
	tests := []struct {
		name string
		n    uintptr
		cap  uintptr // expected capacity; 0: only at least n
	}{
		{"zero", 0, 16},
		{"one", 1, 16},
		{"16", 16, 16},
		{"17", 17, 32},
		{"linear max", 128, 128},
		{"512", 512, 512},
		{"513 (first large request)", 513, 640},
		{"4 KiB", 4 * kib, 4 * kib},
		{"largest class", maxClassBytes, maxClassBytes},
		{"just above the classes", maxClassBytes + 1, 0},
		{"1 MiB", mib, 0},
		{"huge 8 MiB", 8 * mib, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHeap(t, nil)
			p := h.Malloc(tt.n)
			require.NotNil(t, p)
			assert.Zero(t, uintptr(p)%16, "alignment")
			got := h.UsableSize(p)
			if tt.cap != 0 {
				assert.Equal(t, tt.cap, got)
			}
			assert.GreaterOrEqual(t, got, max(tt.n, 1))
			fill(p, got, 3)
			assert.Equal(t, -1, verify(p, got, 3))
			assert.True(t, h.Owns(p))
			assert.Equal(t, 1, h.Stats().LiveBlocks)
			assert.Equal(t, got, h.Stats().LiveBytes)
			require.NoError(t, h.Check())
			h.Free(p)
			assert.False(t, h.Owns(p))
			assert.Zero(t, h.Stats().LiveBlocks)
			require.NoError(t, h.Check())
		})
	}
}

func TestClassBoundaries(t *testing.T) {
	h := newTestHeap(t, nil)
	var live []unsafe.Pointer
	for c := range numClasses {
		at := h.Malloc(classBytes[c])
		above := h.Malloc(classBytes[c] + 1)
		require.NotNil(t, at)
		require.NotNil(t, above)
		assert.Equal(t, classBytes[c], h.UsableSize(at), "class %d", c)
		if c+1 < numClasses {
			assert.Equal(t, classBytes[c+1], h.UsableSize(above), "class %d + 1 byte", c)
		} else {
			assert.Equal(t, bigNeed(maxClassBytes+1)-headerBytes, h.UsableSize(above), "above the largest class")
		}
		live = append(live, at, above)
	}
	require.NoError(t, h.Check())
	for _, p := range live {
		h.Free(p)
	}
	require.NoError(t, h.Check())
	assert.Zero(t, h.Stats().LiveBlocks)
}

func TestZeroSizeBlocksAreDistinct(t *testing.T) {
	h := newTestHeap(t, nil)
	a, b := h.Malloc(0), h.Malloc(0)
	c, d := h.Calloc(0, 8), h.Calloc(8, 0)
	ptrs := []unsafe.Pointer{a, b, c, d}
	seen := map[unsafe.Pointer]bool{}
	for _, p := range ptrs {
		require.NotNil(t, p)
		assert.False(t, seen[p], "block %p handed out twice", p)
		seen[p] = true
		assert.True(t, h.Owns(p))
	}
	for _, p := range ptrs {
		h.Free(p)
	}
	require.NoError(t, h.Check())
}

func TestAbsurdRequests(t *testing.T) {
	m := &testMapper{maxSize: 1 << 30} // never actually map a silly size
	h := newTestHeap(t, m.mapFn)
	for _, n := range []uintptr{maxRequest + 1, ^uintptr(0), ^uintptr(0)>>1 + 1} {
		assert.Nil(t, h.Malloc(n), "Malloc(%#x)", n)
	}
	assert.Zero(t, m.calls, "absurd sizes must fail before mapping")
	assert.Nil(t, h.Malloc(maxRequest), "Malloc(maxRequest) with no such memory")
	require.NoError(t, h.Check())
	assert.Zero(t, h.Stats().Maps)
	assert.NotNil(t, h.Malloc(100), "the heap keeps working")
}

func TestCallocOverflow(t *testing.T) {
	tests := []struct{ nelem, elsize uintptr }{
		{halfWord, halfWord},
		{^uintptr(0), 2},
		{2, ^uintptr(0)},
		{halfWord, halfWord / 2},
		{maxRequest + 1, 1},
		{1, maxRequest + 1},
	}
	h := newTestHeap(t, nil)
	for _, tt := range tests {
		assert.Nil(t, h.Calloc(tt.nelem, tt.elsize), "Calloc(%#x, %#x)", tt.nelem, tt.elsize)
	}
	assert.Zero(t, h.Stats().Maps)
}

func TestCallocZeroesReusedMemory(t *testing.T) {
	for _, n := range []uintptr{1, 100, 4 * kib, 100 * kib, mib, 8 * mib} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			h := newTestHeap(t, nil)
			p := h.Malloc(n)
			require.NotNil(t, p)
			fill(p, h.UsableSize(p), 0xa5)
			h.Free(p)
			q := h.Calloc(1, n)
			require.Equal(t, p, q, "the freed block is reused")
			assert.True(t, allZero(q, n))
			r := h.Calloc(n, 1)
			require.NotNil(t, r)
			assert.True(t, allZero(r, n), "fresh memory")
			h.Free(q)
			h.Free(r)
			require.NoError(t, h.Check())
		})
	}
}

func TestCallocZeroesChunkTails(t *testing.T) {
	// Blocks carved from a retired chunk's tail went on the free lists
	// with a link in their first word; Calloc must clear it.
	h := newTestHeap(t, nil)
	var live []unsafe.Pointer
	for h.Stats().Maps < 2 {
		live = append(live, h.Malloc(200*kib))
	}
	require.NoError(t, h.Check())
	for c := range numClasses {
		for h.freeCount[c] > 0 {
			p := h.Calloc(1, classBytes[c])
			require.NotNil(t, p)
			require.True(t, allZero(p, classBytes[c]), "class %d", c)
			live = append(live, p)
		}
	}
	for _, p := range live {
		h.Free(p)
	}
	require.NoError(t, h.Check())
}

func TestNilPointer(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *Heap) // nil must mean the same on an empty heap and a used one
	}{
		{"empty heap", func(h *Heap) {}},
		{"used heap", func(h *Heap) { h.Malloc(100); h.Malloc(mib) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHeap(t, nil)
			tt.setup(h)
			before := h.Stats()
			assert.NotPanics(t, func() { h.Free(nil) })
			assert.False(t, h.Owns(nil))
			// malloc_usable_size(NULL) is 0 in glibc.
			assert.NotPanics(t, func() { assert.Zero(t, h.UsableSize(nil)) })
			assert.Equal(t, before, h.Stats())
			require.NoError(t, h.Check())
		})
	}
}

func TestReallocKeepsContents(t *testing.T) {
	tests := []struct{ from, to uintptr }{
		{1, 100},
		{100, 200},
		{200, 100},
		{513, 8 * mib},
		{1000, 100 * kib},
		{100 * kib, 1000},
		{300 * kib, 600 * kib},
		{600 * kib, 400 * kib},
		{8 * mib, 513},
		{8 * mib, 0},
		{4 * kib, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d->%d", tt.from, tt.to), func(t *testing.T) {
			h := newTestHeap(t, nil)
			p := h.Malloc(tt.from)
			require.NotNil(t, p)
			fill(p, tt.from, 9)
			q := h.Realloc(p, tt.to)
			require.NotNil(t, q)
			assert.True(t, h.Owns(q))
			assert.GreaterOrEqual(t, h.UsableSize(q), max(tt.to, 1))
			assert.Equal(t, -1, verify(q, min(tt.from, tt.to), 9))
			if q != p {
				assert.False(t, h.Owns(p), "the old block is freed when the block moves")
			}
			assert.Equal(t, 1, h.Stats().LiveBlocks)
			require.NoError(t, h.Check())
			h.Free(q)
		})
	}
}

func TestReallocInPlacePolicy(t *testing.T) {
	tests := []struct {
		name    string
		from    uintptr
		to      uintptr
		inPlace bool
	}{
		{"grow within capacity", 1000, 1024, true},
		{"same class", 1024, 900, true},
		{"shrink to just above 3/4", 1024, 769, true},
		{"shrink to 3/4 (4n > 3c, as pymalloc's)", 1024, 768, false},
		{"shrink below 3/4", 1024, 700, false},
		{"grow past capacity", 1024, 1025, false},
		{"zero from the smallest class", 10, 0, true},
		{"zero from a larger class", 1024, 0, false},
		{"smallest class, tiny", 16, 1, true},
		{"big shrink to half", mib, mib/2 + 4*kib, true},
		{"big shrink below half, above the classes", mib, 300 * kib, true},
		{"big shrink to a class size", mib, maxClassBytes, false},
		{"big grow", mib, 2 * mib, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHeap(t, nil)
			p := h.Malloc(tt.from)
			q := h.Realloc(p, tt.to)
			require.NotNil(t, q)
			assert.Equal(t, tt.inPlace, p == q)
			require.NoError(t, h.Check())
		})
	}
}

func TestReallocNil(t *testing.T) {
	h := newTestHeap(t, nil)
	p := h.Realloc(nil, 700)
	require.NotNil(t, p)
	assert.Equal(t, uintptr(768), h.UsableSize(p))
	q := h.Realloc(nil, 0)
	require.NotNil(t, q)
	assert.NotEqual(t, p, q)
	assert.Equal(t, 2, h.Stats().LiveBlocks)
}

func TestReallocFailureLeavesBlock(t *testing.T) {
	m := &testMapper{}
	h := newTestHeap(t, m.mapFn)
	p := h.Malloc(5000)
	require.NotNil(t, p)
	fill(p, 5000, 1)
	m.setOff(true)
	assert.Nil(t, h.Realloc(p, 8*mib), "no memory")
	assert.Nil(t, h.Realloc(p, maxRequest+1), "absurd")
	assert.True(t, h.Owns(p))
	assert.Equal(t, -1, verify(p, 5000, 1))
	require.NoError(t, h.Check())
	m.setOff(false)
	q := h.Realloc(p, 8*mib)
	require.NotNil(t, q)
	assert.Equal(t, -1, verify(q, 5000, 1))
	require.NoError(t, h.Check())
}

func TestOwns(t *testing.T) {
	h := newTestHeap(t, nil)
	p := h.Malloc(1000)
	big := h.Malloc(2 * mib)
	freed := h.Malloc(2000)
	freedBig := h.Malloc(3 * mib)
	h.Free(freed)
	h.Free(freedBig)
	goHeap := new([64]byte)
	var stack [16]byte

	// Inside p's data, write what looks like a live header of the smallest
	// class: the start bitmap must still say no block starts behind it.
	forged := (*header)(add(p, 64))
	*forged = header{capacity: 16, state: classState(0, true)}

	tests := []struct {
		name string
		p    unsafe.Pointer
		want bool
	}{
		{"live class block", p, true},
		{"live big block", big, true},
		{"nil", nil, false},
		{"Go heap", unsafe.Pointer(goHeap), false},
		{"stack", unsafe.Pointer(&stack), false},
		{"freed class block", freed, false},
		{"freed big block", freedBig, false},
		{"interior +1", add(p, 1), false},
		{"interior +16", add(p, 16), false},
		{"behind a forged header", add(p, 64+headerBytes), false},
		{"header", add(p, ^uintptr(headerBytes-1)), false},
		{"big interior", add(big, 4096), false},
		{"big mapping start", add(big, ^uintptr(headerBytes-1)), false},
		{"chunk bitmap", ptr(h.cur), false},
		{"uncarved chunk space", ptr(h.limit - 4096), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, h.Owns(tt.p))
		})
	}
	require.NoError(t, h.Check())
}

func TestFaults(t *testing.T) {
	goHeap := new([64]byte)
	tests := []struct {
		name    string
		call    string
		problem string
		setup   func(h *Heap) unsafe.Pointer
		after   func(h *Heap, p unsafe.Pointer) // repairs a deliberate corruption
	}{
		{"double free", "Free", problemFreed, func(h *Heap) unsafe.Pointer {
			p := h.Malloc(1000)
			h.Free(p)
			return p
		}, nil},
		{"double free big", "Free", problemFreed, func(h *Heap) unsafe.Pointer {
			p := h.Malloc(mib)
			h.Free(p)
			return p
		}, nil},
		{"foreign Go pointer", "Free", problemNoMapping, func(h *Heap) unsafe.Pointer {
			h.Malloc(10)
			return unsafe.Pointer(goHeap)
		}, nil},
		{"foreign on an empty heap", "Free", problemNoMapping, func(h *Heap) unsafe.Pointer {
			return unsafe.Pointer(goHeap)
		}, nil},
		{"interior", "Free", problemInterior, func(h *Heap) unsafe.Pointer {
			return add(h.Malloc(1000), 32)
		}, nil},
		{"interior unaligned", "Free", problemInterior, func(h *Heap) unsafe.Pointer {
			return add(h.Malloc(1000), 3)
		}, nil},
		{"interior big", "Free", problemInterior, func(h *Heap) unsafe.Pointer {
			return add(h.Malloc(mib), 8192)
		}, nil},
		{"corrupt header", "Free", problemCorrupt, func(h *Heap) unsafe.Pointer {
			p := h.Malloc(1000)
			headerOf(uintptr(p)).state ^= 1 << 40
			return p
		}, func(h *Heap, p unsafe.Pointer) { headerOf(uintptr(p)).state ^= 1 << 40 }},
		{"corrupt class capacity", "Free", problemCorrupt, func(h *Heap) unsafe.Pointer {
			p := h.Malloc(1000)
			headerOf(uintptr(p)).capacity += alignBytes
			return p
		}, func(h *Heap, p unsafe.Pointer) { headerOf(uintptr(p)).capacity -= alignBytes }},
		{"just past the heap's last mapping", "Free", problemNoMapping, func(h *Heap) unsafe.Pointer {
			h.Malloc(1000)
			return ptr(h.regions[len(h.regions)-1].end)
		}, nil},
		{"corrupt big header", "Free", problemCorrupt, func(h *Heap) unsafe.Pointer {
			p := h.Malloc(mib)
			headerOf(uintptr(p)).capacity++
			return p
		}, func(h *Heap, p unsafe.Pointer) { headerOf(uintptr(p)).capacity-- }},
		{"realloc freed", "Realloc", problemFreed, func(h *Heap) unsafe.Pointer {
			p := h.Malloc(600)
			h.Free(p)
			return p
		}, nil},
		{"realloc interior", "Realloc", problemInterior, func(h *Heap) unsafe.Pointer {
			return add(h.Malloc(600), 16)
		}, nil},
		{"usable size of foreign", "UsableSize", problemNoMapping, func(h *Heap) unsafe.Pointer {
			return unsafe.Pointer(goHeap)
		}, nil},
		{"usable size of freed", "UsableSize", problemFreed, func(h *Heap) unsafe.Pointer {
			p := h.Malloc(600)
			h.Free(p)
			return p
		}, nil},
	}
	calls := map[string]func(h *Heap, p unsafe.Pointer){
		"Free":       func(h *Heap, p unsafe.Pointer) { h.Free(p) },
		"Realloc":    func(h *Heap, p unsafe.Pointer) { h.Realloc(p, 5000) },
		"UsableSize": func(h *Heap, p unsafe.Pointer) { h.UsableSize(p) },
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHeap(t, nil)
			p := tt.setup(h)
			before := h.Stats()
			want := Fault{Call: tt.call, Addr: uintptr(p), Problem: tt.problem}
			assert.PanicsWithError(t, fmt.Sprintf("%s(%#x): %s", tt.call, uintptr(p), tt.problem), func() { calls[tt.call](h, p) })

			fault, ok := faultOf(func() { calls[tt.call](h, p) })
			require.True(t, ok)
			assert.Equal(t, want, fault)
			var err error = fault
			var target Fault
			assert.True(t, errors.As(err, &target))

			// The panic released the lock and changed nothing.
			assert.Equal(t, before, h.Stats())
			if tt.after != nil {
				tt.after(h, p)
			}
			require.NoError(t, h.Check())
			q := h.Malloc(100)
			require.NotNil(t, q)
			h.Free(q)
		})
	}
}

func TestCorruptFreeListIsRefused(t *testing.T) {
	h := newTestHeap(t, nil)
	p := h.Malloc(1000)
	h.Free(p)
	// A write through a dangling pointer that reaches the header.
	headerOf(uintptr(p)).state = classState(3, false)
	require.Error(t, h.Check())
	fault, ok := faultOf(func() { h.Malloc(1000) })
	require.True(t, ok)
	assert.Equal(t, Fault{Call: "Malloc", Addr: uintptr(p), Problem: problemFreeList}, fault)
	headerOf(uintptr(p)).state = classState(classOf(1000), false)
	require.NoError(t, h.Check())
	assert.Equal(t, p, h.Malloc(1000))
}

// A free block's link overwritten (user data written through a dangling
// pointer) no longer matches its check word: the block is refused when it
// would be handed out, and the link is never followed. Before, the block
// was handed out and the next Malloc of the class read a header wherever
// the link pointed: SIGSEGV, the process gone (found by the session 6
// audit).
func TestCorruptFreeListLinkIsRefused(t *testing.T) {
	// 0x4141...40: user bytes 'A' over the link, in a word of any width.
	for _, link := range []uintptr{^uintptr(0) &^ 0xfff, ^uintptr(0) / 0xff * 0x41 &^ 0xf, 8, 0} {
		h := newTestHeap(t, nil)
		q := h.Malloc(1000)
		p := h.Malloc(1000)
		h.Free(q)
		h.Free(p) // p's link is q
		saved := *(*uintptr)(p)
		*(*uintptr)(p) = link
		fault, ok := faultOf(func() { h.Malloc(1000) })
		require.True(t, ok, "link %#x", link)
		assert.Equal(t, Fault{Call: "Malloc", Addr: uintptr(p), Problem: problemFreeList}, fault)
		require.ErrorContains(t, h.Check(), "its link does not match its check word")
		*(*uintptr)(p) = saved
		assert.Equal(t, p, h.Malloc(1000))
		assert.Equal(t, q, h.Malloc(1000))
		require.NoError(t, h.Check())
	}
}

// A cached big mapping whose header was overwritten since it was freed is
// refused when it would be reused, rather than blamed on the block's next
// owner at its first Free.
func TestCorruptBigCacheEntryIsRefused(t *testing.T) {
	h := newTestHeap(t, nil)
	p := h.Malloc(1 << 20)
	h.Free(p)
	headerOf(uintptr(p)).capacity++
	fault, ok := faultOf(func() { h.Malloc(1 << 20) })
	require.True(t, ok)
	assert.Equal(t, Fault{Call: "Malloc", Addr: uintptr(p), Problem: problemFreeList}, fault)
	assert.True(t, fault.FreeList())
	headerOf(uintptr(p)).capacity--
	assert.Equal(t, p, h.Malloc(1<<20))
}

func TestCheckFindsCorruption(t *testing.T) {
	tests := []struct {
		name    string
		want    string // in Check's error
		corrupt func(t *testing.T, h *Heap, p, big unsafe.Pointer)
	}{
		{"live header", "header corrupt", func(t *testing.T, h *Heap, p, big unsafe.Pointer) { headerOf(uintptr(p)).capacity = 48 }},
		{"free-list link", "does not match its check word", func(t *testing.T, h *Heap, p, big unsafe.Pointer) {
			q := h.Malloc(3000)
			h.Free(q)
			*wordAt(uintptr(q)) = uintptr(p) // a dangling write: links a live block
		}},
		{"free-list cycle", "free list longer than its count", func(t *testing.T, h *Heap, p, big unsafe.Pointer) {
			q := h.Malloc(3000)
			h.Free(q)
			*wordAt(uintptr(q)) = uintptr(q)
			*wordAt(uintptr(q) + wordBytes) = uintptr(q) ^ h.linkKey() // a consistent link, so the count finds the cycle
		}},
		{"start bitmap", "start bits", func(t *testing.T, h *Heap, p, big unsafe.Pointer) {
			w, m := startBit(h.cur, uintptr(p)+32)
			*w |= m
		}},
		{"big header", "cache holds 0 mappings, 1 big blocks are free", func(t *testing.T, h *Heap, p, big unsafe.Pointer) { headerOf(uintptr(big)).state = bigState(false) }},
		{"stats", "stats", func(t *testing.T, h *Heap, p, big unsafe.Pointer) { h.stats.LiveBytes++ }},
		{"big capacity past its mapping", "outside its mapping", func(t *testing.T, h *Heap, p, big unsafe.Pointer) {
			h.regions[h.regionOf(uintptr(big))].used += pageBytes
		}},
		{"cached mapping without its whole capacity", "cached without its whole mapping", func(t *testing.T, h *Heap, p, big unsafe.Pointer) {
			h.Free(big)
			i := h.regionOf(uintptr(big))
			h.regions[i].used -= pageBytes
			headerOf(uintptr(big)).capacity -= uint64(pageBytes)
			h.stats.FreeBytes -= pageBytes
		}},
		{"lost mapping cached", "cache holds 1 mappings, 0 big blocks are free", func(t *testing.T, h *Heap, p, big unsafe.Pointer) {
			h.Free(big)
			h.regions[h.regionOf(uintptr(big))].lost = true
		}},
		{"committed total of the big cache", "committed mappings total", func(t *testing.T, h *Heap, p, big unsafe.Pointer) {
			h.Free(big)
			h.bigCommitted += pageBytes
		}},
		{"big cache order", "not sorted", func(t *testing.T, h *Heap, p, big unsafe.Pointer) {
			q := h.Malloc(mib)
			h.Free(big)
			h.Free(q)
			require.Len(t, h.bigFree, 2)
			require.Equal(t, h.bigFree[0].size, h.bigFree[1].size)
			h.bigFree[0], h.bigFree[1] = h.bigFree[1], h.bigFree[0]
		}},
		{"uncarved tail of a retired chunk", "not within a block of its end", func(t *testing.T, h *Heap, p, big unsafe.Pointer) {
			chunk := h.regions[h.regionOf(uintptr(p))].start
			for h.cur == chunk {
				h.Malloc(64 * kib)
			}
			r := &h.regions[h.regionOf(chunk)]
			// Take the chunk's last block, the smallest piece of its tail
			// that retireChunk carved, back out as if never carved: every
			// figure agrees, but the chunk now ends in uncarved room.
			var last uintptr
			for at := r.start + bitmapBytes(r.end-r.start); at < r.used; at = last + uintptr(headerOf(last).capacity) {
				last = at + headerBytes
			}
			hd := headerOf(last)
			c := int(hd.state & classMask)
			require.Equal(t, classState(c, false), hd.state, "the tail's last block is free")
			require.Equal(t, last, h.freeHead[c], "and first on its list")
			h.freeHead[c] = *wordAt(last)
			h.freeCount[c]--
			h.stats.FreeBytes -= classBytes[c]
			w, m := startBit(r.start, last)
			*w &^= m
			r.used = last - headerBytes
			require.GreaterOrEqual(t, r.end-r.used, headerBytes+classBytes[0])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHeap(t, nil)
			p := h.Malloc(1000)
			big := h.Malloc(mib)
			require.NoError(t, h.Check())
			tt.corrupt(t, h, p, big)
			err := h.Check()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestReuseDoesNotMapMore(t *testing.T) {
	h := newTestHeap(t, nil)
	blocks := make([]unsafe.Pointer, 1000)
	var mapped uintptr
	for round := range 5 {
		for i := range blocks {
			blocks[i] = h.Malloc(4 * kib)
			require.NotNil(t, blocks[i])
			fill(blocks[i], 4*kib, byte(i))
		}
		for i, p := range blocks {
			require.Equal(t, -1, verify(p, 4*kib, byte(i)), "block %d", i)
			h.Free(p)
		}
		s := h.Stats()
		if round == 0 {
			mapped = s.MappedBytes
		}
		assert.Equal(t, mapped, s.MappedBytes, "round %d", round)
		assert.Zero(t, s.LiveBlocks)
		assert.GreaterOrEqual(t, s.FreeBytes, uintptr(1000*4*kib))
	}
	require.NoError(t, h.Check())
}

func TestBigBlocksReused(t *testing.T) {
	h := newTestHeap(t, nil)
	p := h.Malloc(mib)
	h.Free(p)
	maps := h.Stats().Maps

	assert.Equal(t, p, h.Malloc(mib), "same size")
	h.Free(p)
	assert.Equal(t, p, h.Malloc(600*kib), "at most twice the need")
	h.Free(p)
	q := h.Malloc(300 * kib)
	assert.NotEqual(t, p, q, "more than twice the need: not reused")
	assert.Equal(t, maps+1, h.Stats().Maps)
	h.Free(q)

	// Smallest fit: with 2 MiB and 1 MiB mappings cached, 900 KiB gets the 1 MiB one.
	r := h.Malloc(2 * mib)
	h.Free(r)
	assert.Equal(t, p, h.Malloc(900*kib))
	assert.Equal(t, r, h.Malloc(2*mib))
	assert.Equal(t, maps+2, h.Stats().Maps)

	// Exactly twice the need is still at most twice: a 2 MiB mapping
	// serves a block whose mapping would be 1 MiB.
	s := h.Malloc(2*mib - headerBytes)
	h.Free(s)
	assert.Equal(t, s, h.Malloc(mib-headerBytes), "a mapping of exactly twice the need")
	assert.Equal(t, maps+3, h.Stats().Maps)
	require.NoError(t, h.Check())
}

// The committed budget of the big-block cache is inclusive: a freed
// mapping that brings the committed total to exactly the budget keeps its
// pages; one byte less of budget and it gives them back.
func TestBigCacheBudgetIsInclusive(t *testing.T) {
	size := bigNeed(mib)
	for _, tc := range []struct {
		name      string
		budget    uintptr
		committed int
	}{
		{"budget of exactly two mappings", 2 * size, 2},
		{"one byte less", 2*size - 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withBigBudget(t, tc.budget)
			h := newTestHeap(t, nil)
			p, q := h.Malloc(mib), h.Malloc(mib)
			h.Free(p)
			h.Free(q)
			committed := 0
			for _, e := range h.bigFree {
				if e.committed != 0 {
					committed++
				}
			}
			assert.Equal(t, tc.committed, committed)
			assert.Equal(t, uintptr(tc.committed)*size, h.bigCommitted)
			require.NoError(t, h.Check())
		})
	}
}

// Blocks that fill the current chunk to its last byte all come from it: a
// new chunk is mapped only for a block that does not fit.
func TestChunkFilledToItsLastByte(t *testing.T) {
	h := newTestHeap(t, nil)
	room := minChunkBytes - bitmapBytes(minChunkBytes)
	per := headerBytes + classBytes[0]
	require.Zero(t, room%per, "blocks of the smallest class tile the chunk")
	for range room / per {
		require.NotNil(t, h.Malloc(1))
	}
	assert.Equal(t, 1, h.Stats().Maps)
	assert.Equal(t, h.limit, h.bump, "the chunk is carved to its end")
	require.NotNil(t, h.Malloc(1))
	assert.Equal(t, 2, h.Stats().Maps)
	require.NoError(t, h.Check())
}

// A big block keeps its whole capacity when Realloc shrinks it to half of
// it or more (blockRef.fits); below half it shrinks in place, its tail
// pages given back, to the capacity the smaller size needs.
func TestReallocBigAtHalfItsCapacity(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delta int // bytes from half the capacity
		keeps bool
	}{
		{"just above half", 1, true},
		{"exactly half", 0, true},
		{"just below half", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHeap(t, nil)
			p := h.Malloc(mib)
			c := h.UsableSize(p)
			n := uintptr(int(c/2) + tc.delta)
			q := h.Realloc(p, n)
			require.Equal(t, p, q, "in place either way")
			want := bigNeed(n) - headerBytes
			if tc.keeps {
				want = c
			}
			assert.Equal(t, want, h.UsableSize(q))
			require.NoError(t, h.Check())
		})
	}
}

func TestBigCacheDecommitsBeyondBudget(t *testing.T) {
	h := newTestHeap(t, nil)
	const n = 80
	blocks := make([]unsafe.Pointer, n)
	for i := range blocks {
		blocks[i] = h.Malloc(mib)
		fill(blocks[i], mib, byte(i))
	}
	for _, p := range blocks {
		h.Free(p)
	}
	assert.LessOrEqual(t, h.bigCommitted, uintptr(bigCacheCommittedBytes))
	decommitted := 0
	for _, e := range h.bigFree {
		if e.committed == 0 {
			decommitted++
		}
	}
	assert.Positive(t, decommitted)
	require.NoError(t, h.Check())
	maps := h.Stats().Maps
	for i := range blocks {
		blocks[i] = h.Calloc(mib, 1)
		require.NotNil(t, blocks[i])
		require.True(t, allZero(blocks[i], mib))
	}
	assert.Equal(t, maps, h.Stats().Maps, "all reused")
	require.NoError(t, h.Check())
}

func TestOutOfMemory(t *testing.T) {
	for _, k := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("fail from map %d", k), func(t *testing.T) {
			m := &testMapper{failFrom: k}
			h := newTestHeap(t, m.mapFn)
			var live []unsafe.Pointer
			sizes := []uintptr{513, 20 * kib, 200 * kib, mib}
			failed := 0
			for i := 0; failed < 10 && i < 10000; i++ {
				p := h.Malloc(sizes[i%len(sizes)])
				if p == nil {
					failed++
					continue
				}
				live = append(live, p)
			}
			require.Equal(t, 10, failed, "mapping failed")
			assert.Equal(t, k-1, h.Stats().Maps)
			require.NoError(t, h.Check())
			assert.Nil(t, h.Malloc(mib), "still no memory")
			assert.Nil(t, h.Calloc(1, 10*mib))

			// Free memory is still served, and maps succeed again later.
			for _, p := range live {
				h.Free(p)
			}
			for _, p := range live {
				assert.NotNil(t, h.Malloc(h.usableUnlocked(p)))
			}
			m.mu.Lock()
			m.failFrom = 0
			m.mu.Unlock()
			p := h.Malloc(3 * mib)
			require.NotNil(t, p)
			q := h.Malloc(100)
			require.NotNil(t, q)
			require.NoError(t, h.Check())
		})
	}
}

// usableUnlocked reads the capacity of a block, live or free, from its
// header (test helper for blocks known to be the heap's).
func (h *Heap) usableUnlocked(p unsafe.Pointer) uintptr {
	return uintptr(headerOf(uintptr(p)).capacity)
}

func TestOutOfMemoryFallbacks(t *testing.T) {
	t.Run("big request takes a larger cached mapping", func(t *testing.T) {
		m := &testMapper{}
		h := newTestHeap(t, m.mapFn)
		p := h.Malloc(4 * mib)
		h.Free(p)
		m.setOff(true)
		q := h.Malloc(300 * kib)
		assert.Equal(t, p, q)
		require.NoError(t, h.Check())
	})
	t.Run("chunk falls back to the least size", func(t *testing.T) {
		m := &testMapper{maxSize: minChunkBytes}
		h := newTestHeap(t, m.mapFn)
		for range 40 * 1024 {
			require.NotNil(t, h.Malloc(1000))
		}
		for _, r := range h.regions {
			assert.Equal(t, uintptr(minChunkBytes), r.end-r.start)
		}
		assert.Greater(t, m.calls, h.Stats().Maps, "bigger chunks were asked for")
		require.NoError(t, h.Check())
	})
}

func TestChunksGrow(t *testing.T) {
	h := newTestHeap(t, nil)
	for range 100 * 1024 {
		require.NotNil(t, h.Malloc(1000))
	}
	s := h.Stats()
	assert.Less(t, s.Maps, 30, "chunks grow, so a 100 MB heap needs few mappings")
	largest := uintptr(0)
	for _, r := range h.regions {
		largest = max(largest, r.end-r.start)
	}
	assert.Equal(t, uintptr(maxChunkBytes), largest)
	require.NoError(t, h.Check())
}

func TestZeroHeapIsUsable(t *testing.T) {
	var h Heap
	t.Cleanup(func() { h.unmapAll(t) })
	p := h.Malloc(1000)
	require.NotNil(t, p)
	h.Free(p)
	require.NoError(t, h.Check())
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	h := newTestHeap(t, nil)
	h.Free(h.Malloc(1024))
	h.Free(h.Calloc(1, 8192))
	allocs := testing.AllocsPerRun(1000, func() {
		p := h.Malloc(1024)
		q := h.Calloc(1, 8192)
		q = h.Realloc(q, 8000)
		_ = h.Owns(p)
		h.Free(p)
		h.Free(q)
	})
	assert.Zero(t, allocs)
}

func TestCloseReleasesEverything(t *testing.T) {
	h := New(nil)
	var ps []unsafe.Pointer
	for _, n := range []uintptr{0, 600, 40000, 1 << 20} {
		ps = append(ps, h.Malloc(n))
	}
	h.Free(ps[3])
	require.NotZero(t, h.bigCommitted, "a freed big mapping waits in the cache, its pages committed")
	require.NotZero(t, h.Stats().MappedBytes)
	require.NoError(t, h.Close())
	assert.Equal(t, Stats{}, h.Stats())
	assert.False(t, h.Owns(ps[1]), "blocks are gone with the heap")
	p := h.Malloc(100) // an empty heap again
	require.NotNil(t, p)
	h.Free(p)
	require.NoError(t, h.Check())
	require.NoError(t, h.Close())
	assert.ErrorContains(t, New(func(size uintptr) unsafe.Pointer { return nil }).Close(), "came from its MapFunc")
}

func TestReallocGrowsBigBlocksInPlaceOfCopying(t *testing.T) {
	h := newTestHeap(t, nil)
	n := uintptr(300 << 10)
	filled := n
	p := h.Malloc(n)
	fill(p, n, 9)
	for i := 0; i < 20; i++ {
		n += n / 8 // CPython's builders grow by an eighth
		p = h.Realloc(p, n)
		require.NotNil(t, p)
		require.Equal(t, -1, verify(p, filled, 9), "contents survive growth %d", i)
	}
	require.NoError(t, h.Check())
	h.Free(p)
	require.NoError(t, h.Check())
}

// failDecommit makes decommitPages fail for the rest of the test, as
// windows' Decommit does when committing the pages again fails, and
// returns the ranges it was asked for: pages the heap must never hand out
// again, since on windows any access to them would crash.
func failDecommit(t *testing.T) *[][2]uintptr {
	t.Helper()
	var failed [][2]uintptr
	saved := decommitPages
	decommitPages = func(p unsafe.Pointer, size uintptr) error {
		failed = append(failed, [2]uintptr{uintptr(p), uintptr(p) + size})
		return errors.New("injected: committing again after the decommit failed")
	}
	t.Cleanup(func() { decommitPages = saved })
	return &failed
}

// overlapsAny reports whether [p, p+n) overlaps one of the ranges.
func overlapsAny(p unsafe.Pointer, n uintptr, ranges [][2]uintptr) bool {
	for _, r := range ranges {
		if uintptr(p) < r[1] && r[0] < uintptr(p)+n {
			return true
		}
	}
	return false
}

// A big mapping whose decommit failed is lost: never cached, never handed
// out again, in no figure but MappedBytes; the heap stays consistent and
// a double free of its block is still recognised.
func TestFailedDecommitLosesTheMapping(t *testing.T) {
	failed := failDecommit(t)
	h := newTestHeap(t, nil)
	const n = 80 // 80 MiB freed: past the cache's 64 MiB committed budget
	blocks := make([]unsafe.Pointer, n)
	for i := range blocks {
		blocks[i] = h.Malloc(mib)
		require.NotNil(t, blocks[i])
	}
	for _, p := range blocks {
		h.Free(p)
	}
	require.NotEmpty(t, *failed, "the budget was passed, so decommits were tried")
	require.NoError(t, h.Check())
	s := h.Stats()
	assert.Equal(t, uintptr(n)*h.bigFree[0].size, s.MappedBytes-h.chunkBytes, "lost mappings stay mapped")
	assert.Equal(t, uintptr(len(h.bigFree))*(h.bigFree[0].size-headerBytes), s.FreeBytes, "only cached mappings are free bytes")
	assert.Equal(t, n-len(*failed), len(h.bigFree), "cached: the mappings freed within the budget")
	lost := blocks[len(blocks)-1] // freed last, so past the budget
	f, ok := faultOf(func() { h.Free(lost) })
	assert.True(t, ok)
	assert.Equal(t, problemFreed, f.Problem)

	for range n {
		p := h.Malloc(mib)
		require.NotNil(t, p)
		require.False(t, overlapsAny(p, mib, *failed), "block %p lies in pages whose decommit failed", p)
		fill(p, mib, 1)
	}
	assert.Equal(t, s.Maps+len(*failed), h.Stats().Maps, "every lost mapping replaced by a new one")
	require.NoError(t, h.Check())
}

// A big block shrunk below half its capacity to a size above the classes
// stays where it is: the pages past its new capacity are decommitted but
// stay in its mapping, so nothing is copied or unmapped, and the block gets
// them back when it grows again or is freed.
func TestReallocShrinksBigBlocksInPlace(t *testing.T) {
	tests := []struct {
		name     string
		from, to uintptr
		mapFn    bool // the heap maps through a MapFunc (no Remap)
		inPlace  bool
	}{
		{"8 MiB to 300 KiB", 8 * mib, 300 * kib, false, true},
		{"8 MiB to 3 MiB", 8 * mib, 3 * mib, false, true},
		{"1 MiB to just above the classes", mib, maxClassBytes + 1, false, true},
		{"through a MapFunc", 8 * mib, mib, true, true},
		{"to the largest class: moves to a class block", 8 * mib, maxClassBytes, false, false},
		{"to zero: moves to a class block", 8 * mib, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mapFn MapFunc
			if tt.mapFn {
				mapFn = (&testMapper{}).mapFn
			}
			h := newTestHeap(t, mapFn)
			p := h.Malloc(tt.from)
			require.NotNil(t, p)
			fill(p, tt.from, 5)
			before := h.Stats()

			q := h.Realloc(p, tt.to)
			require.NotNil(t, q)
			assert.Equal(t, -1, verify(q, min(tt.from, tt.to), 5), "contents kept")
			require.NoError(t, h.Check())
			s := h.Stats()
			assert.GreaterOrEqual(t, s.MappedBytes, before.MappedBytes, "MappedBytes never decreases")
			if !tt.inPlace {
				assert.NotEqual(t, p, q)
				return
			}
			assert.Equal(t, p, q, "address kept")
			capacity := bigNeed(tt.to) - headerBytes
			assert.Equal(t, capacity, h.UsableSize(q))
			assert.Equal(t, before.MappedBytes, s.MappedBytes, "nothing mapped or unmapped")
			assert.Equal(t, before.Maps, s.Maps)
			assert.Equal(t, capacity, s.LiveBytes)
			pages, err := procmem.ResidentPages(add(q, capacity), tt.from-capacity)
			if !errors.Is(err, errors.ErrUnsupported) { // residency is read on linux
				require.NoError(t, err)
				assert.NotContains(t, pages, true, "the tail's pages were given back")
			}

			// Growing back within the mapping takes its pages again.
			r := h.Realloc(q, tt.from)
			assert.Equal(t, p, r, "grown back in place")
			assert.Equal(t, -1, verify(r, tt.to, 5), "contents kept")
			fill(r, tt.from, 6)
			assert.Equal(t, before, h.Stats())
			require.NoError(t, h.Check())

			// Shrunk and freed, the block's whole mapping is cached.
			assert.Equal(t, p, h.Realloc(r, tt.to))
			h.Free(p)
			require.NoError(t, h.Check())
			assert.Equal(t, before.LiveBytes, h.Stats().FreeBytes)
			assert.Equal(t, p, h.Calloc(tt.from, 1), "the whole mapping reused")
			assert.True(t, allZero(p, tt.from))
			assert.Equal(t, before, h.Stats())
			require.NoError(t, h.Check())
		})
	}
}

// A shrink whose decommit fails still shrinks the block, but loses its
// mapping: the tail is never grown into, and the mapping is not cached.
func TestReallocShrinkWithFailedDecommit(t *testing.T) {
	failed := failDecommit(t)
	h := newTestHeap(t, nil)
	p := h.Malloc(8 * mib)
	fill(p, 8*mib, 7)
	q := h.Realloc(p, mib)
	require.Equal(t, p, q, "shrunk in place all the same")
	require.Len(t, *failed, 1)
	assert.Equal(t, bigNeed(mib)-headerBytes, h.UsableSize(q))
	require.NoError(t, h.Check())

	r := h.Realloc(q, 8*mib)
	require.NotNil(t, r)
	assert.False(t, overlapsAny(r, 8*mib, *failed), "not grown into the tail")
	assert.Equal(t, -1, verify(r, mib, 7))
	require.NoError(t, h.Check())
	assert.Empty(t, h.bigFree, "the lost mapping is not cached")
	assert.Zero(t, h.Stats().FreeBytes)
	h.Free(r)
	require.NoError(t, h.Check())
}

// Without memory for the block Realloc's policy would move it to, a shrink
// keeps the block where it is instead of failing, as glibc's realloc; a
// growth still fails.
func TestReallocShrinkWithoutMemoryKeepsTheBlock(t *testing.T) {
	tests := []struct {
		name     string
		from, to uintptr
		fails    bool
	}{
		{"class block to another class", 1024, 100, false},
		{"class block to zero", 4 * kib, 0, false},
		{"big block to a class size", mib, 200 * kib, false},
		{"big block to zero", mib, 0, false},
		{"class block grows", 1024, 2000, true},
		{"big block grows", mib, 3 * mib, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &testMapper{}
			h := newTestHeap(t, m.mapFn)
			p := h.Malloc(tt.from)
			require.NotNil(t, p)
			fill(p, tt.from, 4)
			capacity := h.UsableSize(p)
			// Use up the current chunk, then refuse every new mapping.
			m.setOff(true)
			for h.Malloc(maxClassBytes) != nil {
			}
			for h.Malloc(0) != nil {
			}

			q := h.Realloc(p, tt.to)
			if tt.fails {
				assert.Nil(t, q)
			} else {
				assert.Equal(t, p, q, "kept in place")
			}
			assert.Equal(t, capacity, h.UsableSize(p), "unchanged")
			assert.Equal(t, -1, verify(p, tt.from, 4), "contents kept")
			require.NoError(t, h.Check())
		})
	}
}

// A MapFunc that hands out memory overlapping a mapping of the heap is
// broken; the heap panics, naming the range, before it writes there. The
// overlap may be with the mapping below the new one or with the one above.
func TestMapFuncOverlapIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset uintptr // of the second mapping from the first's start
	}{
		{"overlaps the end of the mapping below", pageBytes},
		{"overlaps the start of the mapping above", ^(pageBytes - 1)}, // minus a page
	} {
		t.Run(tc.name, func(t *testing.T) {
			// All within one reservation of 4 MiB, the first mapping (a
			// chunk) in its middle.
			res, err := mmap.Map(4 * mib)
			require.NoError(t, err)
			t.Cleanup(func() { _ = mmap.Unmap(res, 4*mib) })
			first := uintptr(res) + mib
			second := first + tc.offset
			calls := 0
			h := New(func(size uintptr) unsafe.Pointer {
				if calls++; calls == 1 {
					return ptr(first)
				}
				return ptr(second)
			})
			require.NotNil(t, h.Malloc(1))
			size := bigNeed(mib)
			assert.PanicsWithValue(t, fmt.Sprintf("rawalloc: MapFunc returned [%#x, %#x), which overlaps a mapping of the heap", second, second+size),
				func() { h.Malloc(mib) })
		})
	}
}

// A big block shrunk in place and then freed counts against the cache's
// committed budget only the pages it kept, not the tail the shrink gave
// back: under a budget of 1 MiB, a 4 MiB mapping whose block was shrunk
// to 300 KiB is cached committed, 300 KiB and a header counted. It used
// to count all 4 MiB, and so was decommitted (left alone in session 7).
func TestShrunkBigBlockCountsItsKeptPagesOnly(t *testing.T) {
	withBigBudget(t, 1<<20)
	h := newTestHeap(t, nil)
	p := h.Malloc(4 << 20)
	require.NotNil(t, p)
	require.Equal(t, p, h.Realloc(p, 300<<10), "shrunk in place")
	h.Free(p)
	require.Len(t, h.bigFree, 1)
	kept := bigNeed(300 << 10)
	assert.Equal(t, kept, h.bigFree[0].committed, "the pages the shrunk block kept")
	assert.Equal(t, kept, h.bigCommitted)
	require.NoError(t, h.Check())

	q := h.Malloc(4 << 20) // the whole mapping again, its tail faulting in afresh
	assert.Equal(t, p, q)
	assert.Zero(t, h.bigCommitted)
	fill(q, 4<<20, 3)
	assert.Equal(t, -1, verify(q, 4<<20, 3))
	h.Free(q)
	require.NoError(t, h.Check())
}
