package obmalloc

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteDebugMallocStats writes the heap's statistics in exactly the layout
// of the pymalloc section of CPython 3.11's sys._debugmallocstats(): the
// size-class table (classes with no pool in use are skipped), the arena
// counts, where the arena bytes go, and the arena map's cost.
func (h *Heap) WriteDebugMallocStats(w io.Writer) error {
	s := h.Stats()
	return s.WriteDebugMallocStats(w)
}

// WriteDebugMallocStats writes s in the layout of sys._debugmallocstats().
func (s *Stats) WriteDebugMallocStats(w io.Writer) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "Small block threshold = %d, in %d size classes.\n", s.Threshold, len(s.Classes))
	b.WriteString("\nclass   size   num pools   blocks in use  avail blocks\n" +
		"-----   ----   ---------   -------------  ------------\n")
	for _, c := range s.Classes {
		if c.Pools > 0 {
			fmt.Fprintf(b, "%5d %6d %11d %15d %13d\n", c.Class, c.Size, c.Pools, c.BlocksInUse, c.AvailBlocks)
		}
	}
	b.WriteString("\n")
	line := func(label string, v uintptr) { printone(b, label, v) }
	line("# arenas allocated total", uintptr(s.ArenasAllocatedTotal))
	line("# arenas reclaimed", uintptr(s.ArenasReclaimed))
	line("# arenas highwater mark", uintptr(s.ArenasHighwater))
	line("# arenas allocated current", uintptr(s.ArenasCurrent))
	line(fmt.Sprintf("%d arenas * %d bytes/arena", s.ArenasCurrent, s.ArenaSize), s.ArenaBytes())
	b.WriteString("\n")
	line("# bytes in allocated blocks", s.BytesInAllocatedBlocks)
	line("# bytes in available blocks", s.BytesInAvailableBlocks)
	line(fmt.Sprintf("%d unused pools * %d bytes", s.UnusedPools, s.PoolSize), uintptr(s.UnusedPools)*s.PoolSize)
	line("# bytes lost to pool headers", s.BytesLostToPoolHeaders)
	line("# bytes lost to quantization", s.BytesLostToQuantization)
	line("# bytes lost to arena alignment", s.BytesLostToArenaAlignment)
	line("Total", s.BytesInAllocatedBlocks+s.BytesInAvailableBlocks+uintptr(s.UnusedPools)*s.PoolSize+
		s.BytesLostToPoolHeaders+s.BytesLostToQuantization+s.BytesLostToArenaAlignment)
	b.WriteString("\narena map counts\n")
	line("# arena map mid nodes", uintptr(s.ArenaMapMidNodes))
	line("# arena map bot nodes", uintptr(s.ArenaMapBotNodes))
	b.WriteString("\n")
	line("# bytes lost to arena map root", s.ArenaMapRootBytes)
	line("# bytes lost to arena map mid", uintptr(s.ArenaMapMidNodes)*s.ArenaMapMidBytes)
	line("# bytes lost to arena map bot", uintptr(s.ArenaMapBotNodes)*s.ArenaMapBotBytes)
	line("Total", s.ArenaMapBytes())
	return b.Flush()
}

// printone writes one "label = value" line: the label padded to 35
// columns, then the value right-aligned in 21 with thousands separators.
func printone(b *bufio.Writer, label string, v uintptr) {
	fmt.Fprintf(b, "%-35s=%21s\n", label, withCommas(uint64(v)))
}

// withCommas formats v with a comma every three digits.
func withCommas(v uint64) string {
	s := strconv.FormatUint(v, 10)
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// ParseDebugMallocStats reads one dump in the layout WriteDebugMallocStats
// writes (CPython's own output included) back into a Stats, so that a
// program can compare a gopymalloc heap with a real CPython process. It
// stops after the arena map's Total line; lines it does not know are an
// error naming the line.
func ParseDebugMallocStats(r io.Reader) (Stats, error) {
	var s Stats
	sc := bufio.NewScanner(r)
	lineNo, totals := 0, 0
	fail := func(why string, args ...any) (Stats, error) {
		return Stats{}, fmt.Errorf("obmalloc: ParseDebugMallocStats: line %d: %s", lineNo, fmt.Sprintf(why, args...))
	}
	var nclasses int
	inTable := false
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Small block threshold = "):
			if _, err := fmt.Sscanf(line, "Small block threshold = %d, in %d size classes.", &s.Threshold, &nclasses); err != nil || nclasses <= 0 {
				return fail("bad header %q", line)
			}
			s.Classes = make([]ClassStats, nclasses)
			for i := range s.Classes {
				s.Classes[i] = ClassStats{Class: i, Size: uintptr(i+1) * (s.Threshold / uintptr(nclasses))}
			}
		case strings.HasPrefix(line, "-----"):
			inTable = true
		case line == "":
			inTable = false
		case inTable:
			var c ClassStats
			if _, err := fmt.Sscanf(line, "%d %d %d %d %d", &c.Class, &c.Size, &c.Pools, &c.BlocksInUse, &c.AvailBlocks); err != nil ||
				c.Class < 0 || c.Class >= nclasses {
				return fail("bad size-class row %q", line)
			}
			s.Classes[c.Class] = c
		case strings.HasPrefix(line, "class ") || line == "arena map counts":
		default:
			label, value, ok := strings.Cut(line, "=")
			v, err := strconv.ParseUint(strings.ReplaceAll(strings.TrimSpace(value), ",", ""), 10, 64)
			if !ok || err != nil {
				return fail("not a label = value line: %q", line)
			}
			if err := s.setLine(strings.TrimSpace(label), uintptr(v)); err != nil {
				return fail("%v", err)
			}
			if strings.TrimSpace(label) != "Total" {
				break
			}
			if totals++; totals == 2 {
				return s, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Stats{}, err
	}
	return fail("the dump ends before the arena map's Total line")
}

// setLine stores the value of one "label = value" line.
func (s *Stats) setLine(label string, v uintptr) error {
	var a, b uintptr
	switch label {
	case "# arenas allocated total":
		s.ArenasAllocatedTotal = int(v)
	case "# arenas reclaimed":
		s.ArenasReclaimed = int(v)
	case "# arenas highwater mark":
		s.ArenasHighwater = int(v)
	case "# arenas allocated current":
		s.ArenasCurrent = int(v)
	case "# bytes in allocated blocks":
		s.BytesInAllocatedBlocks = v
	case "# bytes in available blocks":
		s.BytesInAvailableBlocks = v
	case "# bytes lost to pool headers":
		s.BytesLostToPoolHeaders = v
	case "# bytes lost to quantization":
		s.BytesLostToQuantization = v
	case "# bytes lost to arena alignment":
		s.BytesLostToArenaAlignment = v
	case "# arena map mid nodes":
		s.ArenaMapMidNodes = int(v)
	case "# arena map bot nodes":
		s.ArenaMapBotNodes = int(v)
	case "# bytes lost to arena map root":
		s.ArenaMapRootBytes = v
	case "# bytes lost to arena map mid":
		if s.ArenaMapMidNodes > 0 {
			s.ArenaMapMidBytes = v / uintptr(s.ArenaMapMidNodes)
		}
	case "# bytes lost to arena map bot":
		if s.ArenaMapBotNodes > 0 {
			s.ArenaMapBotBytes = v / uintptr(s.ArenaMapBotNodes)
		}
	case "Total":
	default:
		if _, err := fmt.Sscanf(label, "%d arenas * %d bytes/arena", &a, &b); err == nil {
			s.ArenaSize = b
			return nil
		}
		if _, err := fmt.Sscanf(label, "%d unused pools * %d bytes", &a, &b); err == nil {
			s.UnusedPools, s.PoolSize = int(a), b
			return nil
		}
		return fmt.Errorf("unknown label %q", label)
	}
	return nil
}
