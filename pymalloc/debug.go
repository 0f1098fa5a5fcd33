package pymalloc

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// This file holds the public face of the debug hooks: the Fault a detected
// misuse becomes, what happens after it is reported, and where reports go.
// debughooks.go has the hooks themselves, debugreport.go the report text.

// FaultKind says what kind of misuse the debug hooks detected. The first
// four are CPython's own checks; the others are what CPython's hooks cannot
// see (see docs/reliability.md).
type FaultKind int

const (
	// FaultWrongDomain: a block freed or reallocated through another domain
	// than the one that allocated it (PyMem_Free on a PyObject_Malloc
	// block). CPython's message: "bad ID: Allocated using API 'o', verified
	// using API 'm'".
	FaultWrongDomain FaultKind = iota + 1
	// FaultBadID: the API id byte at p-8 was overwritten (a write before
	// the start of the block); CPython reports it as a bad ID too.
	FaultBadID
	// FaultLeadingPad: one of the 7 forbidden bytes before the data was
	// overwritten ("bad leading pad byte").
	FaultLeadingPad
	// FaultTrailingPad: one of the 8 forbidden bytes after the data was
	// overwritten ("bad trailing pad byte"): a write past the end.
	FaultTrailingPad
	// FaultSizeField: the size recorded at p-16 no longer matches the size
	// that was requested (a write before the start reaching that far).
	FaultSizeField
	// FaultDoubleFree: Free or Realloc of a block that was already freed.
	FaultDoubleFree
	// FaultInterior: Free or Realloc of an address inside a block (its
	// data, its debug header or its trailing pad), not of the block.
	FaultInterior
	// FaultForeign: Free or Realloc of an address that no domain handed
	// out (Go memory, another mapping, garbage).
	FaultForeign
	// FaultWriteAfterFree: a freed block kept in quarantine was written to;
	// found when the block leaves the quarantine.
	FaultWriteAfterFree
	// FaultCallocOverflow: Calloc whose nelem*elsize exceeds PY_SSIZE_T_MAX.
	FaultCallocOverflow
	// FaultGoPointer: New[T] or MakeSlice[T] with a T that holds Go
	// pointers, which memory outside the Go heap must not hold.
	FaultGoPointer
)

var faultKindNames = [...]string{
	FaultWrongDomain:    "wrong domain",
	FaultBadID:          "bad API id",
	FaultLeadingPad:     "bad leading pad",
	FaultTrailingPad:    "bad trailing pad",
	FaultSizeField:      "bad size field",
	FaultDoubleFree:     "double free",
	FaultInterior:       "interior pointer",
	FaultForeign:        "foreign pointer",
	FaultWriteAfterFree: "write after free",
	FaultCallocOverflow: "calloc overflow",
	FaultGoPointer:      "Go pointer in off-heap type",
}

func (k FaultKind) String() string {
	if k > 0 && int(k) < len(faultKindNames) {
		return faultKindNames[k]
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault is a misuse detected by the debug hooks. After writing the report
// (see SetFaultOutput), the hooks panic with a Fault (unless
// SetFaultMode(ContinueOnFault) was called). The check happens before the
// call changes anything, so a program or a test that recovers finds the
// heap as it was, the faulty block still allocated:
//
//	defer func() {
//		if f, ok := recover().(pymalloc.Fault); ok { ... f.Kind ... }
//	}()
//
// A Fault is an error, so errors.As finds it inside a wrapped error too.
type Fault struct {
	// Call is the Go name of the call that found the fault:
	// "pymalloc.Free", "pymalloc.MemRealloc", "pymalloc.New[*int]", ...
	// A write after free is found when the block leaves the quarantine,
	// during a later free (or FlushQuarantine).
	Call string
	// Addr is the address the fault is about: the pointer passed to Free
	// or Realloc, or the freed block that was written to; 0 for Calloc
	// and New.
	Addr uintptr
	// Kind classifies the fault.
	Kind FaultKind
	// Problem is the text of the report's fatal line after the call's
	// name, e.g. "bad trailing pad byte".
	Problem string
	// Report is the whole report as it was written.
	Report string
}

// Error formats the fault as "call(0xaddr): problem".
func (f Fault) Error() string {
	if f.Addr == 0 {
		return f.Call + ": " + f.Problem
	}
	return fmt.Sprintf("%s(%#x): %s", f.Call, f.Addr, f.Problem)
}

// FaultMode says what the debug hooks do once a fault is reported.
type FaultMode int32

const (
	// PanicOnFault, the default, panics with the Fault after the report.
	PanicOnFault FaultMode = iota
	// ContinueOnFault writes the report and goes on, for experiments: a
	// block with a damaged pad is still freed (through the domain that
	// allocated it, when the call used another one), a bad pointer is
	// ignored, a Realloc of a bad pointer and an overflowing Calloc
	// return nil, New of a pointerful type returns nil.
	ContinueOnFault
)

func (m FaultMode) String() string {
	switch m {
	case PanicOnFault:
		return "panic"
	case ContinueOnFault:
		return "continue"
	}
	return fmt.Sprintf("FaultMode(%d)", int(m))
}

var faultMode atomic.Int32

// SetFaultMode chooses what the debug hooks do after reporting a fault and
// returns the previous mode.
func SetFaultMode(m FaultMode) FaultMode {
	if m != PanicOnFault && m != ContinueOnFault {
		panic(fmt.Sprintf("pymalloc: SetFaultMode(%d): want PanicOnFault or ContinueOnFault", int(m)))
	}
	return FaultMode(faultMode.Swap(int32(m)))
}

type writerHolder struct{ w io.Writer }

var faultOutput atomic.Pointer[writerHolder]

// reportMu keeps concurrent reports from interleaving.
var reportMu sync.Mutex

// SetFaultOutput sends the debug hooks' reports to w (nil means os.Stderr,
// the default) and returns the previous writer. Each report is written
// with one Write call. w must not allocate through this package's domains
// while the hooks are installed.
func SetFaultOutput(w io.Writer) io.Writer {
	if w == nil {
		w = os.Stderr
	}
	prev := faultOutput.Swap(&writerHolder{w})
	if prev == nil {
		return os.Stderr
	}
	return prev.w
}

func faultWriter() io.Writer {
	if h := faultOutput.Load(); h != nil {
		return h.w
	}
	return os.Stderr
}

// raise writes f's report and, in PanicOnFault mode, panics with f. It is
// never called with a lock of this package held.
func raise(f Fault) {
	writeReport(f)
	if FaultMode(faultMode.Load()) == PanicOnFault {
		panic(f)
	}
}

// writeReport writes f's report to the fault output.
func writeReport(f Fault) {
	reportMu.Lock()
	_, _ = io.WriteString(faultWriter(), f.Report)
	reportMu.Unlock()
}
