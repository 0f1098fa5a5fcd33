package pytrace

import (
	"bytes"
	"fmt"
)

// The arrays of a trace grow as it is read; with append's usual growth a
// 4M-op trace would copy its 64 MB of ops several times and keep the
// garbage collector busy. The writer's header says how many ops, IDs and
// callocs follow, so the reader uses those counts as capacity hints. They
// are only hints: nothing is checked against them, and a wrong or missing
// header costs some memory or copying, never a wrong trace.

// hints are the header's counts, 0 when unknown.
type hints struct {
	ops, ids, callocs int
}

// note takes the counts from a comment line, if it is one of the header
// lines that carries them.
func (h *hints) note(line []byte) {
	switch {
	case bytes.HasPrefix(line, []byte("# ops: ")):
		var ops, m, c int
		// Any prefix of the fields that parses is used.
		fmt.Sscanf(string(line), "# ops: %d m: %d c: %d", &ops, &m, &c)
		h.ops, h.callocs = ops, c
	case bytes.HasPrefix(line, []byte("# max_id: ")):
		var id int
		fmt.Sscanf(string(line), "# max_id: %d", &id)
		h.ids = id + 1 // slot 0 is unused
	}
}

const (
	// hintAfter is the length a slice must reach before a hint is
	// trusted, so a short input (a test, a fuzzer's) with a big number in a
	// comment does not allocate for it.
	hintAfter = 1 << 16
	// hintFactor bounds the jump a hint may cause, as a multiple of what
	// was read, so a lying header cannot ask for gigabytes at once.
	hintFactor = 64
)

// grow returns a copy of full slice s with room for more elements: up to
// the hint once s is long enough and the hint is ahead of it, else double.
func grow[T any](s []T, hint int) []T {
	n := max(2*len(s), 1024)
	if len(s) >= hintAfter && hint > len(s) {
		n = min(hint, hintFactor*len(s))
	}
	// Not append or slices.Grow: they may round the capacity up, and the
	// point of a hint is to allocate exactly once.
	return append(make([]T, 0, n), s...)
}
