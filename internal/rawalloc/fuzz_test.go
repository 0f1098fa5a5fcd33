package rawalloc

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"unsafe"
)

// FuzzHeap drives a heap with an operation sequence decoded from the fuzz
// input and checks it against a model of the live blocks: blocks never
// overlap and hold what was asked for, contents survive realloc, Calloc's
// blocks are zero, the heap owns exactly the live blocks, Check passes and
// the stats add up, every fuzzCheckEvery operations and at the end. Every
// block is filled over its whole capacity, so memory that a block, a
// free-list entry or a cached big mapping hands out again is not zero
// unless Calloc cleared it, and contents are checked byte for byte.
//
// Each operation is 3 bytes: an opcode and a 16-bit operand that picks a
// size (or, for free and realloc, also a live block). By op%8: 0 and 1
// Malloc, 4 Calloc, 2 Free, 3 and 7 Realloc, 5 misuse that must panic, and
// 6 one of four by (op>>3)&3: turn mapping off or on (a heap that maps
// through a test mapper; with mapping off only free memory serves, and a
// request may fail only when none fits), check the heap now, Realloc(nil,
// n), or overwrite the header of a cached big mapping, which Check and the
// mapping's next reuse must refuse, and put it back. An opcode of 128 or
// more also makes the operation's decommits fail (as windows' can), and no
// block may ever be handed out in a range whose decommit failed.
//
// The input's last len%3 bytes choose the heap. None: it maps with mmap
// itself, so Realloc can move big blocks with mmap.Remap. One: it maps
// through a testMapper. Two: through a testMapper whose mappings start
// 16*(1+b%255) bytes past a page boundary (b the last byte), as a MapFunc
// may; the heap must then never decommit.
//
// The big cache's committed budget is lowered to fuzzBigBudget for the run:
// the blocks of an input stay far below the real 64 MiB, and the decommit
// of a freed big mapping (and its failure, which loses the mapping) lies
// past the budget.
//
// An input runs at most fuzzMaxOps operations, and an allocation that
// would take the live blocks past fuzzMaxLiveBytes frees a block instead,
// so that every input stays fast and small whatever its length.
func FuzzHeap(f *testing.F) {
	const (
		fuzzMaxOps       = 400
		fuzzMaxLiveBytes = 24 << 20
		fuzzCheckEvery   = 32
		fuzzBigBudget    = 1 << 20 // about one freed big block of the fuzz's
	)
	f.Add([]byte{0, 1, 2, 0, 200, 9, 2, 0, 0})
	f.Add([]byte{0, 0, 0, 3, 0, 0, 1, 255, 255, 3, 7, 7, 2, 0, 0})
	f.Add([]byte{4, 1, 0, 0, 2, 2, 3, 0, 1, 2, 0, 0, 2, 0, 0})
	f.Add([]byte{5, 10, 10, 5, 10, 11, 5, 51, 0, 3, 0, 0, 2, 0, 0})
	// A big block shrunk in place below half its capacity, grown back
	// within its mapping, then freed.
	f.Add([]byte{40, 255, 255, 43, 0, 16, 43, 255, 255, 2, 0, 0})
	// The same with the shrink's decommit failing: the block's mapping is
	// lost, so growing it again moves it.
	f.Add([]byte{40, 255, 255, 139, 0, 16, 43, 255, 255, 2, 0, 0})
	// Three big blocks freed past the budget, the second's decommit
	// failing (its mapping is lost), then big blocks asked for again.
	f.Add([]byte{40, 255, 255, 40, 255, 255, 40, 255, 255, 2, 0, 0, 130, 0, 0, 2, 0, 0, 40, 255, 255, 40, 255, 255})
	// Through a mapper, switched off: a big request takes a cached mapping
	// more than twice its need, then none is left; a big block shrunk to a
	// class size keeps its place, and growing it fails; Realloc(nil, n);
	// a cached mapping's header overwritten both ways.
	f.Add([]byte{
		40, 255, 255, 40, 1, 0, 40, 255, 255, 2, 0, 0, // two big blocks live, one cached
		6, 0, 0, 40, 1, 0, 40, 1, 0, // mapping off: the cached one, then nothing
		3, 1, 0, 43, 0xf0, 0xff, // a shrink to 0 bytes kept in place, a growth fails
		6, 0, 0, 22, 5, 0, 2, 0, 0, 2, 0, 0, // mapping on, Realloc(nil, 5)
		30, 0, 0, 30, 1, 0, 14, 0, 0, // overwrite a cached header, check
		1,
	})
	// Through a mapper whose mappings are not page-aligned: big blocks
	// freed past the budget and shrunk below half keep all their pages.
	f.Add([]byte{40, 255, 255, 40, 255, 255, 43, 0, 16, 2, 0, 0, 2, 0, 0, 2, 0, 0, 1, 3})
	// A 768 KiB block shrunk to 262,085 bytes moves to a class block:
	// its last bytes lie past the first 64 of their page.
	f.Add([]byte{40, 255, 255, 35, 40, 0})
	// A 768 KiB block freed, its mapping reused by a Calloc of 786,408
	// bytes, whose last bytes the first block's data covered.
	f.Add([]byte{40, 255, 255, 2, 0, 0, 44, 0xfd, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m *testMapper
		var h *Heap
		switch len(data) % 3 {
		case 0:
			h = newTestHeap(t, nil)
		case 1:
			m = &testMapper{}
			h = newMapperHeap(t, m)
		case 2:
			m = &testMapper{offset: alignBytes * (1 + uintptr(data[len(data)-1])%255)}
			h = newMapperHeap(t, m)
		}
		mappingOff := false

		type block struct {
			p    uintptr
			n    uintptr // bytes requested (and filled)
			seed byte
		}
		var live []block
		var liveBytes uintptr
		var lastFreed uintptr // the block most recently freed by op 2
		var failing bool      // this operation's decommits fail
		var failed [][2]uintptr
		savedDecommit := decommitPages
		withBigBudget(t, fuzzBigBudget)
		decommitPages = func(p unsafe.Pointer, size uintptr) error {
			// Only whole pages of a big mapping, past its header's page:
			// never a chunk, and never a mapping not on a page.
			from, to := uintptr(p), uintptr(p)+size
			i := h.regionOf(from)
			if from%pageBytes != 0 || size%pageBytes != 0 || size == 0 || i < 0 || !h.regions[i].big ||
				h.regions[i].start%pageBytes != 0 || from < h.regions[i].start+pageBytes || to > h.regions[i].end {
				t.Fatalf("decommit of [%#x, %#x): not whole pages of a big mapping past its header", from, to)
			}
			if !failing {
				return savedDecommit(p, size)
			}
			failed = append(failed, [2]uintptr{from, to})
			return errors.New("injected decommit failure")
		}
		t.Cleanup(func() { decommitPages = savedDecommit })

		// size maps an operand to a request: mostly the allocator's real
		// range, with class boundaries and an occasional big block.
		size := func(op byte, v uint16) uintptr {
			switch op % 6 {
			case 0:
				return uintptr(v) % 600
			case 1, 3:
				return 513 + uintptr(v)%(40*kib)
			case 2:
				c := int(v) % numClasses
				return classBytes[c] + uintptr(v>>8)%3 - 1
			case 4:
				return maxClassBytes - 64 + uintptr(v)%128
			default:
				return maxClassBytes + uintptr(v)*8
			}
		}
		overlaps := func(p, n uintptr) bool {
			for _, b := range live {
				bn := h.UsableSize(ptr(b.p))
				if p < b.p+bn && b.p < p+n {
					return true
				}
			}
			return false
		}
		// outOfMemory fails the test unless a request of n bytes that
		// failed had no way to succeed: mapping is off, and no free block
		// of its class, room in the current chunk or cached mapping that
		// fits was left.
		outOfMemory := func(what string, n uintptr) {
			if !mappingOff {
				t.Fatalf("%s of %d bytes failed with mapping on", what, n)
			}
			if n <= maxClassBytes {
				c := classOf(n)
				if h.freeCount[c] != 0 || h.limit-h.bump >= headerBytes+classBytes[c] {
					t.Fatalf("%s of %d bytes failed with a free block or chunk room for it", what, n)
				}
			} else if h.bigFit(bigNeed(n)) < len(h.bigFree) {
				t.Fatalf("%s of %d bytes failed with a cached mapping that fits", what, n)
			}
		}
		add := func(what string, p unsafe.Pointer, n uintptr, seed byte) {
			if p == nil {
				outOfMemory(what, n)
				return
			}
			if uintptr(p)%alignBytes != 0 {
				t.Fatalf("block %p is not aligned", p)
			}
			if overlapsAny(p, h.UsableSize(p), failed) {
				t.Fatalf("block %p (%d bytes) lies in a range whose decommit failed", p, h.UsableSize(p))
			}
			if overlaps(uintptr(p), h.UsableSize(p)) {
				t.Fatalf("block %p (%d bytes) overlaps a live block", p, h.UsableSize(p))
			}
			if c := h.UsableSize(p); c < n {
				t.Fatalf("%s of %d bytes: a block of %d", what, n, c)
			}
			// The whole capacity, not only the n bytes the model checks:
			// whatever reuses the memory later must not find it zero
			// unless it was cleared.
			fill(p, h.UsableSize(p), seed)
			live = append(live, block{uintptr(p), n, seed})
			liveBytes += n
			if uintptr(p) == lastFreed {
				// Reused: a later fault at this address may be of any
				// kind (a Realloc can even move the mapping away).
				lastFreed = 0
			}
		}
		// checkHeap checks the heap against itself (Check) and the model,
		// and that it never unmaps on its own; a mapper's heap has counted
		// exactly what the mapper handed out.
		var last Stats
		checkHeap := func() {
			if err := h.Check(); err != nil {
				t.Fatal(err)
			}
			s := h.Stats()
			var bytes uintptr
			for _, b := range live {
				if !h.Owns(ptr(b.p)) {
					t.Fatalf("live block %#x not owned", b.p)
				}
				bytes += h.UsableSize(ptr(b.p))
			}
			if s.LiveBlocks != len(live) || s.LiveBytes != bytes {
				t.Fatalf("stats %+v, model has %d blocks of %d bytes", s, len(live), bytes)
			}
			if s.Maps < last.Maps || s.MappedBytes < last.MappedBytes {
				t.Fatalf("stats %+v after %+v: the heap unmapped", s, last)
			}
			if m != nil && (s.Maps != m.maps || s.MappedBytes != m.mapped) {
				t.Fatalf("stats %+v, the mapper handed out %d mappings of %d bytes", s, m.maps, m.mapped)
			}
			last = s
		}

		for ops := 0; len(data) >= 3 && ops < fuzzMaxOps; ops++ {
			op, v := data[0], binary.LittleEndian.Uint16(data[1:3])
			data = data[3:]
			kind := op % 8
			failing = op >= 128
			if liveBytes > fuzzMaxLiveBytes {
				kind = 2
			}
			if ops%fuzzCheckEvery == fuzzCheckEvery-1 {
				checkHeap()
			}
			switch kind {
			case 5:
				// Misuse must be recognised: an interior pointer of a live
				// block, and the last freed address unless it was reused.
				if len(live) > 0 {
					b := live[int(v)%len(live)]
					in := (b.p + uintptr(v>>4)%h.UsableSize(ptr(b.p))) | 1 // odd, so never a block start
					if h.Owns(ptr(in)) {
						t.Fatalf("interior pointer %#x owned", in)
					}
					if f, ok := faultOf(func() { h.Free(ptr(in)) }); !ok || f.Problem != problemInterior {
						t.Fatalf("Free(interior %#x): fault %v, %v", in, f, ok)
					}
				}
				if lastFreed != 0 && !slices.ContainsFunc(live, func(b block) bool { return b.p == lastFreed }) {
					if f, ok := faultOf(func() { h.Free(ptr(lastFreed)) }); !ok || f.Problem != problemFreed {
						t.Fatalf("double Free(%#x): fault %v, %v", lastFreed, f, ok)
					}
				}
			case 0, 1, 4:
				n := size(op/8, v)
				if kind == 4 {
					p := h.Calloc(n, 1)
					if p != nil && !allZero(p, n) {
						t.Fatalf("Calloc(%d, 1) returned dirty memory", n)
					}
					add("Calloc", p, n, byte(v))
				} else {
					add("Malloc", h.Malloc(n), n, byte(v))
				}
			case 6:
				switch (op >> 3) & 3 {
				case 0:
					// Mapping off or on: with it off, the fallbacks for
					// want of memory run (a larger cached mapping, a
					// shrink that keeps its block).
					if m != nil {
						mappingOff = !mappingOff
						m.setOff(mappingOff)
					}
				case 1:
					checkHeap()
				case 2:
					n := size(op>>5, v)
					add("Realloc(nil)", h.Realloc(nil, n), n, byte(v))
				case 3:
					corruptCachedBig(t, h, v)
					checkHeap()
				}
			case 2:
				if len(live) == 0 {
					continue
				}
				k := int(v) % len(live)
				b := live[k]
				if i := verify(ptr(b.p), b.n, b.seed); i >= 0 {
					t.Fatalf("block %#x byte %d changed", b.p, i)
				}
				h.Free(ptr(b.p))
				lastFreed = b.p
				liveBytes -= b.n
				if h.Owns(ptr(b.p)) {
					t.Fatalf("freed block %#x still owned", b.p)
				}
				live = append(live[:k], live[k+1:]...)
			case 3, 7:
				if len(live) == 0 {
					continue
				}
				k := int(v) % len(live)
				b := live[k]
				n := size(op/8, v>>3)
				capacity := h.UsableSize(ptr(b.p))
				q := h.Realloc(ptr(b.p), n)
				if q == nil {
					// Only a growth can fail, for want of memory, and
					// the block stays as it was.
					if n <= capacity {
						t.Fatalf("Realloc of a %d-byte block to %d bytes failed", capacity, n)
					}
					outOfMemory("Realloc", n)
					if c := h.UsableSize(ptr(b.p)); c != capacity {
						t.Fatalf("failed Realloc changed the block's capacity from %d to %d", capacity, c)
					}
					if i := verify(ptr(b.p), b.n, b.seed); i >= 0 {
						t.Fatalf("failed Realloc %d -> %d bytes: byte %d changed", b.n, n, i)
					}
					continue
				}
				live = append(live[:k], live[k+1:]...)
				liveBytes -= b.n
				if i := verify(q, min(n, b.n), b.seed); i >= 0 {
					t.Fatalf("realloc %d -> %d bytes: byte %d lost", b.n, n, i)
				}
				if overlapsAny(q, h.UsableSize(q), failed) {
					t.Fatalf("reallocated block %p (%d bytes) lies in a range whose decommit failed", q, h.UsableSize(q))
				}
				if overlaps(uintptr(q), h.UsableSize(q)) {
					t.Fatalf("reallocated block %p overlaps a live block", q)
				}
				if c := h.UsableSize(q); c < n {
					t.Fatalf("Realloc to %d bytes: a block of %d", n, c)
				}
				liveBytes += n
				if uintptr(q) == lastFreed {
					lastFreed = 0 // reused, as in add
				}
				fill(q, h.UsableSize(q), b.seed+1)
				live = append(live, block{uintptr(q), n, b.seed + 1})
			}
		}

		checkHeap()
		for _, b := range live {
			if i := verify(ptr(b.p), b.n, b.seed); i >= 0 {
				t.Fatalf("block %#x byte %d changed", b.p, i)
			}
			h.Free(ptr(b.p))
		}
		if err := h.Check(); err != nil {
			t.Fatal(err)
		}
		if s := h.Stats(); s.LiveBlocks != 0 || s.LiveBytes != 0 {
			t.Fatalf("stats after freeing everything: %+v", s)
		}
	})
}

// corruptCachedBig overwrites the header of a cached big mapping picked by
// v, as a write through a dangling pointer to its freed block would: as if
// live when v is even, with a wrong capacity when odd. Check must report
// it, and a request that would reuse the mapping must panic with a
// free-list Fault rather than hand it out. The header is then put back.
func corruptCachedBig(t *testing.T, h *Heap, v uint16) {
	if len(h.bigFree) == 0 {
		return
	}
	// Of cached mappings of one size, the lowest is reused first: take
	// that one, so that a request of exactly its size reaches it.
	k := int(v) % len(h.bigFree)
	for k > 0 && h.bigFree[k-1].size == h.bigFree[k].size {
		k--
	}
	e := h.bigFree[k]
	data := e.base + headerBytes
	hd := headerOf(data)
	saved := *hd
	if v%2 == 0 {
		hd.state |= flagLive
	} else {
		hd.capacity += alignBytes
	}
	if err := h.Check(); err == nil {
		t.Fatalf("Check passed with the header of cached mapping %#x overwritten", e.base)
	}
	f, ok := faultOf(func() { h.Malloc(e.size - headerBytes) })
	if !ok || f.Problem != problemFreeList || f.Addr != data || f.Call != "Malloc" {
		t.Fatalf("Malloc reusing the overwritten mapping %#x: fault %v, %v", e.base, f, ok)
	}
	*hd = saved
}
