package pymalloc

import (
	"fmt"
	"math/bits"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests for checks and report details of the debug hooks that mutation
// testing found unguarded: each pins one byte, bound or field that a
// one-token change to the hooks got past the rest of the suite.

// Every byte of both pads is checked, not only the ones next to the data.
func TestDebugEveryPadByteIsChecked(t *testing.T) {
	withDebugHooks(t)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			const n = 24
			p := f.malloc(n)
			for off := -7; off <= -1; off++ {
				*byteAt(p, off) = 0
				flt := mustFault(t, FaultLeadingPad, func() { f.free(p) })
				assert.Contains(t, flt.Report, fmt.Sprintf("        at p-%d: 0x00 *** OUCH\n", -off))
				*byteAt(p, off) = ForbiddenByte
			}
			for i := range 8 {
				*byteAt(p, n+i) = 0
				flt := mustFault(t, FaultTrailingPad, func() { f.free(p) })
				assert.Contains(t, flt.Report, fmt.Sprintf("        at tail+%d: 0x00 *** OUCH\n", i))
				*byteAt(p, n+i) = ForbiddenByte
			}
			f.free(p)
		})
	}
}

// A pointer into any byte of a block's header or trailing pad is an
// interior pointer, described by its place, for small blocks and for
// blocks of 1000 bytes, whose extent (1024) is the largest found by
// probing.
func TestDebugInteriorPointerEveryPadByte(t *testing.T) {
	withDebugHooks(t)
	for _, f := range families {
		for _, n := range []int{24, 1000} {
			t.Run(fmt.Sprintf("%s/%d", f.name, n), func(t *testing.T) {
				p := f.malloc(uintptr(n))
				for off := -debugHead; off < 0; off++ {
					flt := mustFault(t, FaultInterior, func() { f.free(unsafe.Add(p, off)) })
					assert.Contains(t, flt.Problem, fmt.Sprintf("%d bytes before the data of the block at %s", -off, addrHex(p)))
				}
				for i := range debugSST {
					flt := mustFault(t, FaultInterior, func() { f.free(unsafe.Add(p, n+i)) })
					assert.Contains(t, flt.Problem, fmt.Sprintf("%d bytes into the trailing pad of the block at %s", i, addrHex(p)))
				}
				flt := mustFault(t, FaultInterior, func() { f.free(unsafe.Add(p, n-1)) })
				assert.Contains(t, flt.Problem, fmt.Sprintf("%d bytes into the data of the block at %s", n-1, addrHex(p)))
				f.free(p)
			})
		}
	}
}

// A product just above PY_SSIZE_T_MAX that still fits in a word is an
// overflow too, not only one that needs a second word.
func TestDebugCallocOverflowWithinAWord(t *testing.T) {
	withDebugHooks(t)
	half := uintptr(1) << (bits.UintSize / 2)
	for _, f := range families {
		// half * half/2 is 1 << (bits.UintSize-1): PY_SSIZE_T_MAX + 1.
		flt := mustFault(t, FaultCallocOverflow, func() { f.calloc(half, half/2) })
		assert.Equal(t, fmt.Sprintf("nelem*elsize overflows: %d * %d is more than PY_SSIZE_T_MAX bytes", half, half/2), flt.Problem, f.name)
	}
}

// The byte bound of the quarantine is inclusive: a block whose extent
// (size + 24) equals it stays in quarantine.
func TestDebugQuarantineByteBoundIsInclusive(t *testing.T) {
	withDebugHooks(t)
	defer SetQuarantine(SetQuarantine(100, 24+debugOverhead))
	p := Malloc(24)
	Free(p)
	flt := mustFault(t, FaultDoubleFree, func() { Free(p) })
	assert.Contains(t, flt.Report, "is in quarantine", "a block of exactly the byte bound stays")
	q := Malloc(25)
	Free(q) // 49 bytes: over the bound, it leaves at once, and p with it
	flt = mustFault(t, FaultDoubleFree, func() { Free(q) })
	assert.Contains(t, flt.Report, "has left the quarantine")
	flt = mustFault(t, FaultDoubleFree, func() { Free(p) })
	assert.Contains(t, flt.Report, "has left the quarantine")
}

// In continue mode a block freed through the wrong domain goes to the
// quarantine of the domain that made it: in the RAW quarantine it would
// be given back from the RAW hook, which runs under the default heap's
// lock, and there it would leave with the RAW domain's blocks.
func TestDebugWrongDomainFreeQuarantinedByItsMaker(t *testing.T) {
	out := withDebugHooks(t)
	defer SetQuarantine(SetQuarantine(1, 1<<20))
	prev := SetFaultMode(ContinueOnFault)
	p := Malloc(24)
	RawFree(p) // reported, and freed through OBJ
	assert.Contains(t, out.String(), "Fatal error: pymalloc.RawFree: bad ID: Allocated using API 'o', verified using API 'r'")
	q := RawMalloc(24)
	RawFree(q) // the RAW quarantine holds one block: q
	SetFaultMode(prev)
	flt := mustFault(t, FaultDoubleFree, func() { Free(p) })
	assert.Contains(t, flt.Report, "is in quarantine", "p waits in the OBJ quarantine, not evicted by RAW frees")
	assert.Contains(t, flt.Report, "freed by pymalloc.RawFree")
}

// A write-after-free report lists the first 16 changed bytes, from p+0,
// then counts the rest.
func TestDebugWriteAfterFreeListsSixteenBytes(t *testing.T) {
	withDebugHooks(t)
	p := Malloc(24)
	Free(p)
	setBytes(p, 0, strings.Repeat("A", 17))
	flt := mustFault(t, FaultWriteAfterFree, FlushQuarantine)
	var want strings.Builder
	want.WriteString("but 17 of its 48 bytes are not DEADBYTE (0xdd):\n")
	for i := range 16 {
		fmt.Fprintf(&want, "        at p+%d: 0x41 *** OUCH\n", i)
	}
	want.WriteString("        ... and 1 more\n")
	assert.Contains(t, flt.Report, want.String())
}

func TestFaultKindString(t *testing.T) {
	for _, c := range []struct {
		k    FaultKind
		want string
	}{
		{0, "FaultKind(0)"},
		{-1, "FaultKind(-1)"},
		{FaultWrongDomain, "wrong domain"},
		{FaultWriteAfterFree, "write after free"},
		{FaultGoPointer, "Go pointer in off-heap type"},
		{FaultGoPointer + 1, fmt.Sprintf("FaultKind(%d)", int(FaultGoPointer+1))},
	} {
		assert.Equal(t, c.want, c.k.String())
	}
}

// A foreign pointer's fault carries the pointer, as every other fault of
// Free does.
func TestDebugForeignFaultAddr(t *testing.T) {
	withDebugHooks(t)
	var onStack [64]byte
	p := unsafe.Pointer(&onStack[16])
	flt := mustFault(t, FaultForeign, func() { MemFree(p) })
	assert.Equal(t, uintptr(p), flt.Addr)
	assert.Equal(t, fmt.Sprintf("pymalloc.MemFree(%#x): free of a pointer that no domain allocated", uintptr(p)), flt.Error())
}

// An id byte of 0x7f (DEL) is not printable: the report escapes it.
func TestDebugBadIDEscapesDEL(t *testing.T) {
	withDebugHooks(t)
	p := Malloc(24)
	*byteAt(p, -8) = 0x7f
	flt := mustFault(t, FaultBadID, func() { Free(p) })
	assert.Equal(t, `bad ID: Allocated using API '\x7f', verified using API 'o'`, flt.Problem)
	*byteAt(p, -8) = 'o'
	Free(p)
}

// The count of freed records is of freed addresses: an address handed
// out again drops its record, so it does not take the place of an older
// one.
func TestFreedRecordDropsReusedAddresses(t *testing.T) {
	withFreedLimit(t, 2)
	a, b, c := RawMalloc(1000), RawMalloc(1000), RawMalloc(1000)
	RawFree(a)
	RawFree(b)
	// Take b's address again (the allocator below may hand out others
	// first); its record must go.
	var held []unsafe.Pointer
	for {
		p := RawMalloc(1000)
		require.NotEqual(t, a, p, "the allocator below hands out a's address before b's: the test needs another order")
		held = append(held, p)
		if p == b {
			break
		}
		require.Less(t, len(held), 1000, "b's address is never handed out again")
	}
	debug.mu.Lock()
	_, remembered := debug.freed[uintptr(b)]
	debug.mu.Unlock()
	assert.False(t, remembered, "a live block has no freed record")
	RawFree(c) // records: a and c, within the limit of 2
	mustFault(t, FaultDoubleFree, func() { RawFree(a) })
	mustFault(t, FaultDoubleFree, func() { RawFree(c) })
	for _, p := range held {
		RawFree(p)
	}
}

// A record made again for an address (freed, handed out, freed again)
// outlives the pair of its first record in the queue of records to
// forget: that stale pair must not drop the newer record.
func TestFreedRecordRemadeOutlivesItsOldPair(t *testing.T) {
	withFreedLimit(t, 2)
	a, b, c := RawMalloc(1000), RawMalloc(1000), RawMalloc(1000)
	RawFree(a)
	require.Equal(t, a, RawMalloc(1000), "the allocator below hands a's address out again")
	RawFree(b)
	RawFree(a) // records b, then a again
	RawFree(c) // one too many: b, the oldest live record, goes
	mustFault(t, FaultForeign, func() { RawFree(b) })
	mustFault(t, FaultDoubleFree, func() { RawFree(a) })
	mustFault(t, FaultDoubleFree, func() { RawFree(c) })
}
