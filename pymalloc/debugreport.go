package pymalloc

import (
	"bytes"
	"fmt"
	"strings"
)

// The debug hooks' reports. A block's dump is _PyObject_DebugDumpAddress
// line for line (../shared/docs/cpython-obmalloc.md, beside the checkout,
// has CPython's format in §10.3 and its output in §10.4), but for three
// things docs/fidelity.md lists: a line when the size field was
// overwritten (the tail is read at the true size), frames that name their
// Go function, and an unprintable id byte shown as \xNN:
//
//	Debug memory block at address p=0x7f...: API 'o'
//	    9 bytes originally requested
//	    The 7 pad bytes at p-7 are FORBIDDENBYTE, as expected.
//	    The 8 pad bytes at tail=0x7f... are not all FORBIDDENBYTE (0xfd):
//	        at tail+0: 0x41 *** OUCH
//	        ...
//	    Data at p: 61 62 63 64 65 66 67 68 00
//
//	Enable tracing (pymalloc.StartTracing) to get the memory block allocation traceback
//
//	Fatal error: pymalloc.Free: bad trailing pad byte
//
// then the allocation traceback when tracing knows the block, and a fatal
// line that names the Go call (CPython names its internal function,
// _PyMem_DebugRawFree, and goes on with the Python stack; here a panic's
// own stack follows, if the program lets it). The faults CPython cannot see
// get reports in the same layout, each with its own fatal line. Every
// report is built while the registry's lock is held, so the memory it
// reads belongs to a block that nobody can free meanwhile.

// maxOuch bounds the byte-by-byte lines of a write-after-free report.
const maxOuch = 16

// badIDProblem is CPython's bad ID message.
func badIDProblem(id, want byte) string {
	return fmt.Sprintf("bad ID: Allocated using API '%s', verified using API '%c'", idChar(id), want)
}

// idChar shows an id byte as CPython's %c would for the three ids, and
// escapes anything unprintable (CPython writes the raw byte).
func idChar(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf(`\x%02x`, c)
}

// report is a report under construction.
type report struct{ strings.Builder }

func (r *report) f(format string, a ...any) { fmt.Fprintf(&r.Builder, format, a...) }

// fatal ends the report and makes the Fault.
func (r *report) fatal(call string, addr uintptr, kind FaultKind, problem string) Fault {
	r.f("Fatal error: %s: %s\n", call, problem)
	return Fault{Call: call, Addr: addr, Kind: kind, Problem: problem, Report: r.String()}
}

// dumpLive is _PyObject_DebugDumpAddress for the live block at a, whose
// true size the registry knows (the tail is looked for there, so a
// damaged size field cannot send the dump astray).
func (r *report) dumpLive(a uintptr, b *dblock) {
	head := bytesAt(a-debugHead, debugHead)
	r.f("Debug memory block at address p=%#x: API '%s'\n", a, idChar(head[debugSST]))
	recorded := readSize(a - debugHead)
	r.f("    %d bytes originally requested\n", recorded)
	if recorded != uint64(b.size) {
		r.f("    The block was allocated with %d bytes: the size field at p-%d was overwritten.\n", b.size, debugHead)
	}
	lead := head[debugSST+1:]
	if allAre(lead, forbiddenByte) {
		r.f("    The %d pad bytes at p-%d are FORBIDDENBYTE, as expected.\n", len(lead), len(lead))
	} else {
		r.f("    The %d pad bytes at p-%d are not all FORBIDDENBYTE (0x%02x):\n", len(lead), len(lead), forbiddenByte)
		for i, c := range lead {
			r.f("        at p-%d: 0x%02x%s\n", len(lead)-i, c, ouch(c != forbiddenByte))
		}
		r.f("    Because memory is corrupted at the start, the count of bytes requested\n" +
			"       may be bogus, and checking the trailing pad bytes may segfault.\n")
	}
	tail := a + b.size
	pad := bytesAt(tail, debugSST)
	if allAre(pad, forbiddenByte) {
		r.f("    The %d pad bytes at tail=%#x are FORBIDDENBYTE, as expected.\n", debugSST, tail)
	} else {
		r.f("    The %d pad bytes at tail=%#x are not all FORBIDDENBYTE (0x%02x):\n", debugSST, tail, forbiddenByte)
		for i, c := range pad {
			r.f("        at tail+%d: 0x%02x%s\n", i, c, ouch(c != forbiddenByte))
		}
	}
	r.data(a, b.size)
	r.f("\n")
}

// dumpFreed describes a quarantined block: its header was overwritten
// with 0xDD on free, so the registry supplies the id and the size. It
// lists the bytes that are no longer DEADBYTE and reports how many.
func (r *report) dumpFreed(a uintptr, b *dblock) (changed int) {
	r.f("Debug memory block at address p=%#x: API '%c'\n", a, b.owner.api)
	r.f("    %d bytes originally requested\n", b.size)
	whole := bytesAt(a-debugHead, b.size+debugOverhead)
	for _, c := range whole {
		if c != deadByte {
			changed++
		}
	}
	if changed == 0 {
		r.f("    The block was freed by %s and is in quarantine; its %d bytes are DEADBYTE (0x%02x), as expected.\n",
			b.freedBy, len(whole), deadByte)
	} else {
		r.f("    The block was freed by %s and kept in quarantine, but %d of its %d bytes are not DEADBYTE (0x%02x):\n",
			b.freedBy, changed, len(whole), deadByte)
		shown := 0
		for i, c := range whole {
			if c == deadByte {
				continue
			}
			if shown++; shown > maxOuch {
				r.f("        ... and %d more\n", changed-maxOuch)
				break
			}
			off := i - debugHead
			if off < 0 {
				r.f("        at p-%d: 0x%02x *** OUCH\n", -off, c)
			} else {
				r.f("        at p+%d: 0x%02x *** OUCH\n", off, c)
			}
		}
	}
	r.data(a, b.size)
	r.f("\n")
	return changed
}

// data is the "Data at p:" line: up to 8 bytes from the start and, when
// more remain, " ..." and the last 8 (all of them if 8 or fewer remain).
func (r *report) data(a, n uintptr) {
	if n == 0 {
		return
	}
	d := bytesAt(a, n)
	r.f("    Data at p:")
	i := 0
	for ; i < len(d) && i < 8; i++ {
		r.f(" %02x", d[i])
	}
	if i < len(d) {
		if len(d)-i > 8 {
			r.f(" ...")
			i = len(d) - 8
		}
		for ; i < len(d); i++ {
			r.f(" %02x", d[i])
		}
	}
	r.f("\n")
}

// allocatedAt is _PyMem_DumpTraceback: the allocation traceback when
// tracing knows the block, nothing when it does not, and a hint when it
// is off.
func (r *report) allocatedAt(a uintptr) {
	if !IsTracing() {
		r.f("Enable tracing (pymalloc.StartTracing) to get the memory block allocation traceback\n\n")
		return
	}
	tb := BlockTraceback(ptrAt(a))
	if tb == nil {
		return
	}
	r.f("Memory block allocated at (most recent call first):\n")
	r.frames(tb)
	r.f("\n")
}

// freedAt prints the stack of the call that freed a block, recorded if
// tracing was on at the time.
func (r *report) freedAt(pcs []uintptr) {
	tb := userFrames(pcs, freeDepth)
	if len(tb) == 0 {
		r.f("Enable tracing (pymalloc.StartTracing) to get the traceback of the call that freed the block\n\n")
		return
	}
	r.f("Memory block freed at (most recent call first):\n")
	r.frames(tb)
	r.f("\n")
}

func (r *report) frames(tb Traceback) {
	for _, fr := range tb {
		r.f("  File \"%s\", line %d in %s\n", fr.File, fr.Line, fr.Function)
	}
}

// allAre reports whether every byte of s is b, comparing 4 KiB at a time
// against a block of the pattern for the debug bytes.
func allAre(s []byte, b byte) bool {
	pat := patterns[b]
	if pat == nil {
		for _, c := range s {
			if c != b {
				return false
			}
		}
		return true
	}
	for len(s) > 0 {
		n := min(len(s), len(pat))
		if !bytes.Equal(s[:n], pat[:n]) {
			return false
		}
		s = s[n:]
	}
	return true
}

var patterns = map[byte][]byte{
	deadByte:      bytes.Repeat([]byte{deadByte}, 4096),
	forbiddenByte: bytes.Repeat([]byte{forbiddenByte}, 4096),
}

func ouch(bad bool) string {
	if bad {
		return " *** OUCH"
	}
	return ""
}

// blockFault reports a check that failed on a live block (CPython's three
// checks and the size field).
func blockFault(call string, a uintptr, b *dblock, kind FaultKind, problem string) Fault {
	var r report
	r.dumpLive(a, b)
	if b.inner {
		// The RAW block under a MEM or OBJ block, found damaged by that
		// block's Free or Realloc: the reader knows the outer block (its
		// own pads are intact, as they were checked first), so name it,
		// and give its traceback, the one tracing keeps.
		r.f("    It holds the debug block at p+%d (%d bytes, API '%s'), which the default heap\n"+
			"       took from the RAW domain: a write went past that block's end or before its start.\n\n",
			debugHead, readSize(a), idChar(bytesAt(a+debugSST, 1)[0]))
		r.allocatedAt(a + debugHead)
	} else {
		r.allocatedAt(a)
	}
	return r.fatal(call, a, kind, problem)
}

// quarantinedFault reports a second free of a block still in quarantine.
func quarantinedFault(call string, a uintptr, b *dblock) Fault {
	var r report
	r.dumpFreed(a, b)
	r.freedAt(b.freePCs[:])
	return r.fatal(call, a, FaultDoubleFree, "double free: the block was already freed by "+b.freedBy)
}

// releasedFault reports a second free of a block the allocator below has
// taken back; its memory is no longer the hooks' to read.
func releasedFault(call string, a uintptr, fr freedRec) Fault {
	var r report
	r.f("Debug memory block at address p=%#x: API '%c'\n", a, fr.api)
	r.f("    %d bytes originally requested\n", fr.size)
	r.f("    The block was freed by %s and has left the quarantine: its memory is not read.\n\n", fr.freedBy)
	r.freedAt(fr.freePCs[:])
	return r.fatal(call, a, FaultDoubleFree, "double free: the block was already freed by "+fr.freedBy)
}

// interiorFault reports a pointer into the block at c.
func interiorFault(call string, a, c uintptr, b *dblock) Fault {
	var r report
	var where string
	switch {
	case a < c:
		where = fmt.Sprintf("%d bytes before the data of the block at %#x, in its debug header", c-a, c)
	case a < c+b.size:
		where = fmt.Sprintf("%d bytes into the data of the block at %#x", a-c, c)
	default:
		where = fmt.Sprintf("%d bytes into the trailing pad of the block at %#x", a-c-b.size, c)
	}
	state := "live"
	if b.state == stateQuarantined {
		state = "freed (in quarantine)"
	}
	r.f("Address %#x is not a block: it lies %s, a %s block of %d bytes.\n", a, where, state, b.size)
	if b.state == stateQuarantined {
		r.dumpFreed(c, b)
		r.freedAt(b.freePCs[:])
	} else {
		r.dumpLive(c, b)
		r.allocatedAt(c)
	}
	return r.fatal(call, a, FaultInterior, "free of an interior pointer: "+where)
}

// foreignFault reports a pointer that no domain handed out.
func foreignFault(call string, a uintptr) Fault {
	var r report
	r.f("Address %#x is not a block: no domain allocated it and it lies inside no block\n"+
		"    they handed out, so its memory is not read.\n\n", a)
	return r.fatal(call, a, FaultForeign, "free of a pointer that no domain allocated")
}

// deadCheck checks a block leaving the quarantine: all 0xDD, or it was
// written after it was freed.
func deadCheck(call string, a uintptr, b *dblock) (Fault, bool) {
	if allAre(bytesAt(a-debugHead, b.size+debugOverhead), deadByte) {
		return Fault{}, false
	}
	var r report
	r.dumpFreed(a, b)
	r.freedAt(b.freePCs[:])
	return r.fatal(call, a, FaultWriteAfterFree, "write to a freed block (found when it left the quarantine)"), true
}

// callocOverflowFault reports a Calloc whose size overflows.
func callocOverflowFault(call string, nelem, elsize uintptr) Fault {
	var r report
	return r.fatal(call, 0, FaultCallocOverflow,
		fmt.Sprintf("nelem*elsize overflows: %d * %d is more than PY_SSIZE_T_MAX bytes", nelem, elsize))
}

// goPointerFault reports New or MakeSlice of a type that holds Go pointers.
func goPointerFault(call, problem string) Fault {
	var r report
	return r.fatal(call, 0, FaultGoPointer, problem)
}
