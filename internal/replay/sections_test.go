package replay

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// section is one dump of a stats text: the "=== stats after op N" line's N
// and the dump below it, parsed.
type section struct {
	op    int
	stats obmalloc.Stats
}

// sectionHeader starts every dump in Run's output and in the fidelity
// files' .dumpat.txt.
const sectionHeader = "=== stats after op "

// parseSections splits text at its "=== stats after op N" lines and parses
// each dump with obmalloc.ParseDebugMallocStats (CPython's own text and
// ours alike). Text before the first header is an error.
func parseSections(text string) ([]section, error) {
	var out []section
	var body strings.Builder
	op := -1
	flush := func() error {
		if op < 0 {
			if strings.TrimSpace(body.String()) != "" {
				return fmt.Errorf("text before the first %q line", sectionHeader)
			}
			return nil
		}
		s, err := obmalloc.ParseDebugMallocStats(strings.NewReader(body.String()))
		if err != nil {
			return fmt.Errorf("section after op %d: %w", op, err)
		}
		out = append(out, section{op: op, stats: s})
		return nil
	}
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, sectionHeader)
		if !ok {
			body.WriteString(line)
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(strings.TrimSuffix(rest, "\n"))
		if err != nil {
			return nil, fmt.Errorf("bad section header %q", strings.TrimSuffix(line, "\n"))
		}
		op = n
		body.Reset()
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// ops lists the sections' op numbers.
func ops(secs []section) []int {
	var out []int // nil for no section, like a nil StatsAt
	for _, s := range secs {
		out = append(out, s.op)
	}
	return out
}

// row formats a size-class row as the dump prints it, for messages.
func row(c obmalloc.ClassStats) string {
	return fmt.Sprintf("class %d size %d: %d pools, %d blocks in use, %d avail", c.Class, c.Size, c.Pools, c.BlocksInUse, c.AvailBlocks)
}
