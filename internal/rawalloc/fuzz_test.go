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
// overlap, contents survive realloc, the heap owns exactly the live blocks,
// Check passes and the stats add up.
//
// Each operation is 3 bytes: an opcode and a 16-bit operand that picks a
// size (or, for free and realloc, also a live block). An opcode of 128 or
// more also makes the operation's decommits fail (as windows' can), and no
// block may ever be handed out in a range whose decommit failed. An input runs at most
// fuzzMaxOps operations, and an allocation that would take the live blocks
// past fuzzMaxLiveBytes frees a block instead, so that every input stays
// fast and small whatever its length.
func FuzzHeap(f *testing.F) {
	const (
		fuzzMaxOps       = 400
		fuzzMaxLiveBytes = 24 << 20
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
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newTestHeap(t, nil)
		type block struct {
			p    uintptr
			n    uintptr // bytes requested (and filled)
			seed byte
		}
		var live []block
		var liveBytes uintptr
		var lastFreed uintptr // the block most recently freed by op 2 or 6
		var failing bool      // this operation's decommits fail
		var failed [][2]uintptr
		saved := decommitPages
		decommitPages = func(p unsafe.Pointer, size uintptr) error {
			if !failing {
				return saved(p, size)
			}
			failed = append(failed, [2]uintptr{uintptr(p), uintptr(p) + size})
			return errors.New("injected decommit failure")
		}
		t.Cleanup(func() { decommitPages = saved })

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
		add := func(p unsafe.Pointer, n uintptr, seed byte) {
			if p == nil {
				t.Fatalf("allocation of %d bytes failed", n)
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
			fill(p, n, seed)
			live = append(live, block{uintptr(p), n, seed})
			liveBytes += n
			if uintptr(p) == lastFreed {
				// Reused: a later fault at this address may be of any
				// kind (a Realloc can even move the mapping away).
				lastFreed = 0
			}
		}

		for ops := 0; len(data) >= 3 && ops < fuzzMaxOps; ops++ {
			op, v := data[0], binary.LittleEndian.Uint16(data[1:3])
			data = data[3:]
			kind := op % 8
			failing = op >= 128
			if liveBytes > fuzzMaxLiveBytes {
				kind = 2
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
					add(p, n, byte(v))
				} else {
					add(h.Malloc(n), n, byte(v))
				}
			case 2, 6:
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
				live = append(live[:k], live[k+1:]...)
				liveBytes -= b.n
				q := h.Realloc(ptr(b.p), n)
				if q == nil {
					t.Fatalf("Realloc to %d bytes failed", n)
				}
				if i := verify(q, min(n, b.n), b.seed); i >= 0 {
					t.Fatalf("realloc %d -> %d bytes: byte %d lost", b.n, n, i)
				}
				if overlapsAny(q, h.UsableSize(q), failed) {
					t.Fatalf("reallocated block %p (%d bytes) lies in a range whose decommit failed", q, h.UsableSize(q))
				}
				if overlaps(uintptr(q), h.UsableSize(q)) {
					t.Fatalf("reallocated block %p overlaps a live block", q)
				}
				liveBytes += n
				if uintptr(q) == lastFreed {
					lastFreed = 0 // reused, as in add
				}
				fill(q, n, b.seed+1)
				live = append(live, block{uintptr(q), n, b.seed + 1})
			}
		}

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
