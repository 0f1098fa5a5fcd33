package obmalloc

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// The arena map: CPython 3.10+'s radix tree that answers address_in_range
// for any address, without reading the memory it asks about.
//
// The address space is cut into "ideal arena" slots of ArenaSize bytes,
// aligned to ArenaSize. A three-level tree indexes the slot number:
//
//	bit 63                                                     bit 0
//	| top (15) | mid (15) | bot (14) | offset in slot (20)      |
//	   root  ->   mid node  ->  bot node  ->  leaf {tail_hi, tail_lo}
//
// (widths for 1 MiB arenas; other arena sizes share the remaining bits the
// same way). The root is mapped with the heap; mid and bottom nodes are
// mapped on first use and never freed, as in CPython.
//
// Unlike CPython, a lookup has no "node missing" branch: an entry stores
// its node's address minus the address of a shared all-zero node, so an
// empty entry (0) leads to the zero node, whose entries lead to the zero
// node again, and finally to an all-zero leaf that owns nothing. The zero
// node is mapped once per process and only ever read, so it costs address
// space, not memory. Free and Realloc ask this question for every block. A leaf says which
// part of its slot belongs to an arena: an arena based at offset t of slot
// S covers [t, end) of S (tail_hi = t) and [0, t) of S+1 (tail_lo = t); an
// arena that starts on a slot boundary sets tail_hi = -1. An address at
// offset o of its slot is ours iff o < tail_lo or (tail_hi != 0 and
// o >= tail_hi).
type arenaMap struct {
	root      uintptr // 2^topBits entries: mid node address - zero, or 0
	zero      uintptr // the shared all-zero node (see zeroNode)
	arenaBits uint
	midShift  uint
	topShift  uint
	midMask   uintptr
	botMask   uintptr
	arenaMask uintptr
	// For isUsed: shift and mask that turn an address into the byte
	// offset of its entry in a root, mid or bottom node.
	topOff, midOff, botOff             uint
	topOffMask, midOffMask, botOffMask uintptr
	rootBytes                          uintptr
	midBytes                           uintptr
	botBytes                           uintptr
	midCount                           int // arena_map_mid_count
	botCount                           int // arena_map_bot_count
	// nodes lists every node mapped, so Close can unmap them.
	nodes []mapping

	// hotKey and hotBot cache the bottom node of the last arena marked:
	// hotKey is the address bits above the bottom level (p & hotMask)
	// that the node covers, hotBot its address. A heap's arenas usually
	// all lie under one bottom node (2^34 bytes with 1 MiB arenas), so
	// isUsed mostly skips the root and mid loads. Nodes are never freed
	// before Close, so the cache cannot go stale. The key is kept masked
	// in place rather than shifted down so that the test needs no
	// variable shift, which on amd64 ties up CX.
	hotKey  uintptr
	hotBot  uintptr
	hotMask uintptr // the bits of an address at or above midShift
}

// mapping is a node obtained from mmap.Map: where, how big, and the
// address bits above its level (so Check can find the slots it covers).
type mapping struct {
	addr, size uintptr
	prefix     uintptr
	bot        bool
}

// arenaCoverage is a leaf: the two int32 tails of one slot.
type arenaCoverage struct {
	tailHi int32
	tailLo int32
}

const (
	leafSize  = 8 // bytes: sizeof(arena_coverage_t)
	leafShift = 3 // log2(leafSize)
	// ptrShift is log2(ptrSize): 3, or 2 on a 32-bit system.
	ptrShift = 2 + uint(ptrSize/8)
)

var _ [1<<ptrShift - ptrSize]struct{} // ptrShift matches ptrSize
var _ [ptrSize - 1<<ptrShift]struct{}
var _ [1<<leafShift - leafSize]struct{}
var _ [leafSize - 1<<leafShift]struct{}

// init lays out the tree for ArenaSize = 2^arenaBits over a 64-bit
// address space, as CPython's 64-bit build does; root is the address of a
// zeroed root node of rootBytes. A 32-bit system keeps the same levels:
// its addresses all fall under root entry 0, and with arenas of 64 KiB or
// more under mid entry 0 too.
func (m *arenaMap) init(arenaBits uint) {
	interior := (64 - arenaBits + 2) / 3 // bits of the top and mid levels
	bot := 64 - arenaBits - 2*interior
	m.arenaBits = arenaBits
	m.midShift = arenaBits + bot
	m.topShift = m.midShift + interior
	m.midMask = 1<<interior - 1
	m.botMask = 1<<bot - 1
	m.arenaMask = 1<<arenaBits - 1
	// Byte offsets of entries: index times the entry's size, i.e. shift
	// that many bits less and mask the index bits in place. Root and mid
	// entries are words (4 bytes on a 32-bit system), leaves 8 bytes.
	m.topOff, m.topOffMask = m.topShift-ptrShift, (1<<interior-1)<<ptrShift
	m.midOff, m.midOffMask = m.midShift-ptrShift, m.midMask<<ptrShift
	m.botOff, m.botOffMask = arenaBits-leafShift, m.botMask<<leafShift
	m.rootBytes = (1 << interior) * ptrSize
	m.midBytes = (1 << interior) * ptrSize
	m.botBytes = (1 << bot) * leafSize
	m.zero = zeroNode()
	// In 64-bit arithmetic: on a 32-bit system midShift may exceed the
	// address width, and then every address has the key 0.
	m.hotMask = uintptr(^(uint64(1)<<m.midShift - 1))
	m.hotKey = ^uintptr(0) // p & hotMask has its low bits at 0: never equal
	m.hotBot = m.zero
}

// zeroNodeBytes covers the largest node any valid Config needs: arenas of
// at least 4 KiB leave at most 18 bits to the top and mid levels.
const zeroNodeBytes = 1 << 18 * ptrSize

// zeroNode maps the shared all-zero node once per process.
var zeroNode = sync.OnceValue(func() uintptr {
	p, err := mmap.Map(zeroNodeBytes)
	if err != nil {
		panic(fmt.Sprintf("obmalloc: mapping the arena map's zero node: %v", err))
	}
	return uintptr(p)
})

// child follows the entry at slot: the node it names, or the zero node.
func (m *arenaMap) child(slot uintptr) uintptr { return m.zero + word(slot) }

// leaf returns the address of the leaf for p, creating the nodes on the way
// when create is set. It returns 0 when a node is missing (or could not be
// mapped).
func (m *arenaMap) leaf(p uintptr, create bool) uintptr {
	slot := m.root + (p>>m.topShift)*ptrSize
	mid := m.child(slot)
	if mid == m.zero {
		if !create {
			return 0
		}
		if mid = m.newNode(m.midBytes, p>>m.topShift<<m.topShift, false); mid == 0 {
			return 0
		}
		setWord(slot, mid-m.zero)
		m.midCount++
	}
	slot = mid + (p>>m.midShift&m.midMask)*ptrSize
	bot := m.child(slot)
	if bot == m.zero {
		if !create {
			return 0
		}
		if bot = m.newNode(m.botBytes, p>>m.midShift<<m.midShift, true); bot == 0 {
			return 0
		}
		setWord(slot, bot-m.zero)
		m.botCount++
	}
	if create {
		m.hotKey, m.hotBot = p&m.hotMask, bot
	}
	return bot + (p>>m.arenaBits&m.botMask)*leafSize
}

// mapNode maps a mid or bottom node; tests make it fail.
var mapNode = mmap.Map

func (m *arenaMap) newNode(size, prefix uintptr, bot bool) uintptr {
	p, err := mapNode(size)
	if err != nil {
		return 0
	}
	m.nodes = append(m.nodes, mapping{uintptr(p), size, prefix, bot})
	return uintptr(p)
}

// mark records [base, base+ArenaSize) as an arena (used) or forgets it. It
// reports false when a node could not be mapped; the map is then unchanged.
func (m *arenaMap) mark(base uintptr, used bool) bool {
	lo := m.leaf(base, used)
	if lo == 0 {
		return !used // unmarking a range that was never marked changes nothing
	}
	tail := int32(base & m.arenaMask)
	first := (*arenaCoverage)(ptr(lo))
	if tail == 0 {
		first.tailHi = ternary(used, -1, 0)
		return true
	}
	first.tailHi = ternary(used, tail, 0)
	hi := m.leaf(base+m.arenaMask+1, used)
	if hi == 0 {
		first.tailHi = 0
		return !used
	}
	(*arenaCoverage)(ptr(hi)).tailLo = ternary(used, tail, 0)
	return true
}

func ternary(c bool, a, b int32) int32 {
	if c {
		return a
	}
	return b
}

// isUsed is address_in_range: whether p lies in one of the heap's arenas.
// Free and Realloc, which ask it for every block, write it out as
// covers(bot(p), p) so that both halves inline there (the whole is over
// the inliner's budget).
func (m *arenaMap) isUsed(p uintptr) bool { return m.covers(m.bot(p), p) }

// bot returns the bottom node that indexes p, or the zero node: under the
// cached node (hotKey) without a load, elsewhere by two dependent loads
// down the tree and no branch.
//
// Every shift count here is below 64 (init derives them from a 64-bit
// address space), so masking with 63 changes no result; it spares the
// compiler's test for a count of 64 or more (three instructions a shift
// on amd64), as Malloc's alignShift&63 does.
func (m *arenaMap) bot(p uintptr) uintptr {
	if p&m.hotMask == m.hotKey {
		return m.hotBot
	}
	mid := m.zero + *(*uintptr)(unsafe.Add(nil, m.root+p>>(m.topOff&63)&m.topOffMask))
	return m.zero + *(*uintptr)(unsafe.Add(nil, mid+p>>(m.midOff&63)&m.midOffMask))
}

// covers reads p's leaf in bottom node bot: whether p lies in an arena.
func (m *arenaMap) covers(bot, p uintptr) bool { return m.coversPool(bot, p, ^uintptr(0)) }

// coversPool is covers for Free and Realloc, which read the header of
// p's pool: it is also false when that header would lie before the arena,
// that is for p in the partial pool ahead of the first pool boundary of an
// arena that is not pool-aligned (where no block lies). An arena that
// began in the slot before covers the slot's first boundary, so only the
// arena starting in this slot (at tailHi) needs the test, on p's pool
// base: poolBase is the layout's (^poolMask, which Free also uses for
// the pool's address, so no NOT is spent); with ^0 it is covers. The
// shift and mask yield the leaf's byte offset directly (every leaf is 8
// bytes).
func (m *arenaMap) coversPool(bot, p, poolBase uintptr) bool {
	leaf := *(*arenaCoverage)(unsafe.Add(nil, bot+p>>(m.botOff&63)&m.botOffMask)) // &63: see bot
	off := int32(p & m.arenaMask)
	return off < leaf.tailLo || off&int32(poolBase) >= leaf.tailHi && leaf.tailHi != 0
}
