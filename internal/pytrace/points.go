package pytrace

import (
	"fmt"
	"strconv"
	"strings"
)

// Points are op numbers, counted from 1 over the op lines of a trace (not
// the comments): "after op N" is the moment when op N has returned and op
// N+1 has not started. The fidelity files name the points at which CPython
// dumped its statistics this way.

// ParsePoints parses a list of op numbers "N1,N2,...": decimal numbers
// without sign, spaces or leading zeros, each at least 1, strictly
// ascending, separated by single commas. Errors quote the list and name the
// offending item. It is (*Trace)(nil).ParsePoints, for when no trace is
// loaded yet.
func ParsePoints(s string) ([]int, error) {
	var t *Trace
	return t.ParsePoints(s)
}

// ParsePoints is the package's ParsePoints that also checks, when t is not
// nil, that every point is at most len(t.Ops). It may be called on a nil
// *Trace.
func (t *Trace) ParsePoints(s string) ([]int, error) {
	if s == "" {
		return nil, fmt.Errorf("points %q: empty list", s)
	}
	items := strings.Split(s, ",")
	points := make([]int, 0, len(items))
	for i, item := range items {
		n, err := parsePoint(item)
		if err != nil {
			return nil, fmt.Errorf("points %q: item %d (%q): %s", s, i+1, item, err)
		}
		if i > 0 && n <= points[i-1] {
			return nil, fmt.Errorf("points %q: item %d (%q): not after the previous point %d (the list must be strictly ascending)", s, i+1, item, points[i-1])
		}
		if t != nil && n > len(t.Ops) {
			return nil, fmt.Errorf("points %q: item %d (%q): past the last op of %s (%d ops)", s, i+1, item, t.Name, len(t.Ops))
		}
		points = append(points, n)
	}
	return points, nil
}

// parsePoint parses one item of a points list.
func parsePoint(item string) (int, error) {
	if item == "" {
		return 0, fmt.Errorf("empty item")
	}
	for _, r := range item {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("not an op number (decimal digits only)")
		}
	}
	if item[0] == '0' {
		if item == "0" {
			return 0, fmt.Errorf("op 0 named; ops are counted from 1")
		}
		return 0, fmt.Errorf("leading zero")
	}
	n, err := strconv.Atoi(item)
	if err != nil {
		return 0, fmt.Errorf("op number too large")
	}
	return n, nil
}

// LiveAfter returns, for each point (ascending op numbers, as ParsePoints
// returns them, each at most len(t.Ops)), the number of blocks live right
// after that op. This is the count pymalloc's own _Py_GetAllocatedBlocks
// gave at the point when CPython replayed the trace. A point of 0 means
// before the first op. LiveAfter panics if points are not ascending or out
// of range, which is a bug in the caller.
func (t *Trace) LiveAfter(points []int) []uint64 {
	out := make([]uint64, len(points))
	var live uint64
	done := 0 // ops counted so far
	for i, p := range points {
		if p < done || p > len(t.Ops) {
			panic(fmt.Sprintf("pytrace: LiveAfter: point %d (%d) is out of order or past the last op (%d ops)", i+1, p, len(t.Ops)))
		}
		for _, o := range t.Ops[done:p] {
			switch {
			case o.Kind() == Free:
				live--
			case o.Kind() != Realloc || o.Old() == 0:
				live++
			}
			// A realloc of a live block ends one block and starts one.
		}
		done = p
		out[i] = live
	}
	return out
}
