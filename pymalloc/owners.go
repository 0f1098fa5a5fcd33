package pymalloc

import (
	"sync/atomic"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// arenaOwners says which shard of the default heap owns an address: the
// routing table that lets Free and Realloc go straight to the right
// shard's lock. It is written only when a shard maps or unmaps an arena
// (under the heap's ownersMu) and read without a lock, with atomic loads,
// by every Free.
//
// Like obmalloc's arena map it cuts the address space into 1 MiB slots
// (the default heap's ArenaSize) and records for each slot which part
// belongs to which shard, because arenas need not be aligned: an arena at
// offset t of slot S covers [t, 1 MiB) of S and [0, t) of S+1. Unlike the
// arena map it has two levels and covers only addresses below 2^48, where
// mmap places memory on every 64-bit system Go supports; an arena mapped
// above that is refused (see shardArenas).
//
//	address: | root (14 bits) | leaf (14 bits) | offset in slot (20 bits) |
//
// A leaf entry packs, in one word: loEnd (20 bits), hiStart (20 bits),
// loOwner and hiOwner (8 bits each, shard index + 1, 0 for none). The
// slot's bytes below loEnd belong to loOwner, those from hiStart up to
// hiOwner.
//
// Every root entry points to a leaf from the start, the shared all-zero
// emptyLeaf until an arena lands in its range, so a lookup has no branch
// for a missing leaf.
type arenaOwners struct {
	// One entry more than the address bits need: every address at or
	// above ownerLimit lands on it, and it always holds emptyLeaf.
	root [1<<ownerRootBits + 1]atomic.Pointer[ownerLeaf]
}

var emptyLeaf ownerLeaf

func (t *arenaOwners) init() {
	for i := range t.root {
		t.root[i].Store(&emptyLeaf)
	}
}

type ownerLeaf [1 << ownerLeafBits]atomic.Uint64

const (
	ownerSlotBits = 20 // log2 of the default heap's ArenaSize
	ownerLeafBits = 14
	ownerRootBits = 48 - ownerSlotBits - ownerLeafBits
	ownerSlotMask = 1<<ownerSlotBits - 1
	ownerLimit    = 1 << 48 // addresses at and above are never owned
)

// The table is laid out for the default Config's arena size.
var _ [obmalloc.DefaultArenaSize - 1<<ownerSlotBits]struct{}
var _ [1<<ownerSlotBits - obmalloc.DefaultArenaSize]struct{}

// entry returns the entry of a slot, giving its range a leaf of its own
// first; the caller holds the heap's ownersMu.
func (t *arenaOwners) entry(slot uintptr) *atomic.Uint64 {
	r := &t.root[slot>>ownerLeafBits]
	if r.Load() == &emptyLeaf {
		r.Store(new(ownerLeaf))
	}
	return &r.Load()[slot&(1<<ownerLeafBits-1)]
}

// owner returns the index of the shard owning p, or -1. It is written to
// inline into its callers: two loads and no branch before the entry.
func (t *arenaOwners) owner(p uintptr) int {
	w := t.entryOf(p)
	off := uint64(p & ownerSlotMask)
	if off < w&ownerSlotMask {
		return int(w>>40&0xff) - 1
	}
	if off >= w>>20&ownerSlotMask {
		return int(w>>48) - 1 // -1 when no arena starts in the slot
	}
	return -1
}

// poolHeaderInside reports whether p is in an arena whose pool boundary
// at or below p lies inside it, so that p's would-be pool header is
// memory of the arena: not so outside every arena, nor in the partial pool
// before the first boundary of an arena that is not pool-aligned.
func (t *arenaOwners) poolHeaderInside(p uintptr) bool {
	w := t.entryOf(p)
	off := uint64(p & ownerSlotMask)
	if off < w&ownerSlotMask {
		// In the arena that began in the slot before: every boundary
		// from the slot's start up is inside it.
		return true
	}
	return w>>48 != 0 && off&^(obmalloc.DefaultPoolSize-1) >= w>>20&ownerSlotMask
}

// entryOf is the leaf entry of p's slot (the emptyLeaf's zero entry for a
// slot with no leaf, or an address at or above ownerLimit).
func (t *arenaOwners) entryOf(p uintptr) uint64 {
	// uint64: on a 32-bit system the shift leaves 0 (every address is in
	// the first root entry's range), which a uintptr shift would too, but
	// vet refuses a shift wider than the operand.
	return t.root[min(uint64(p)>>(ownerSlotBits+ownerLeafBits), 1<<ownerRootBits)].Load()[p>>ownerSlotBits&(1<<ownerLeafBits-1)].Load()
}

// set records the arena [base, base+1 MiB) as shard's (shard >= 0) or as
// no one's (shard < 0). The caller holds the heap's ownersMu. It reports
// false, changing nothing, for an arena at or above 2^48.
func (t *arenaOwners) set(base uintptr, shard int) bool {
	if uint64(base) >= ownerLimit-1<<ownerSlotBits {
		return false
	}
	id := uint64(shard + 1)
	if shard < 0 {
		id = 0
	}
	off := uint64(base & ownerSlotMask)
	hi := t.entry(base >> ownerSlotBits)
	w := hi.Load() &^ (ownerSlotMask<<20 | 0xff<<48)
	hi.Store(w | off<<20 | id<<48)
	if off != 0 {
		lo := t.entry(base>>ownerSlotBits + 1)
		w := lo.Load() &^ (ownerSlotMask | 0xff<<40)
		if id != 0 {
			w |= off | id<<40
		}
		lo.Store(w)
	}
	return true
}
