package replay

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// TestCompareRows: the fidelity comparison sees a difference in any of the
// five numbers of any class, and in the four byte lines, and names the op,
// the first differing class and both rows.
func TestCompareRows(t *testing.T) {
	base := func() section {
		s := obmalloc.Stats{Threshold: 512, Classes: make([]obmalloc.ClassStats, 32),
			BytesInAllocatedBlocks: 160, BytesInAvailableBlocks: 16320}
		for i := range s.Classes {
			s.Classes[i] = obmalloc.ClassStats{Class: i, Size: uintptr(16 * (i + 1))}
		}
		s.Classes[3] = obmalloc.ClassStats{Class: 3, Size: 64, Pools: 1, BlocksInUse: 2, AvailBlocks: 253}
		return section{op: 42, stats: s}
	}
	assert.Empty(t, compareRows(base(), base()))
	for _, tc := range []struct {
		name   string
		change func(*obmalloc.Stats)
		want   string
	}{
		{"pools", func(s *obmalloc.Stats) { s.Classes[3].Pools = 2 }, "after op 42, class 3 is the first of 1 differing rows:\n" +
			"  gopymalloc: class 3 size 64: 2 pools, 2 blocks in use, 253 avail\n" +
			"  CPython:    class 3 size 64: 1 pools, 2 blocks in use, 253 avail"},
		{"in use", func(s *obmalloc.Stats) { s.Classes[3].BlocksInUse = 3 }, "class 3 is the first"},
		{"avail", func(s *obmalloc.Stats) { s.Classes[31].AvailBlocks = 1 }, "class 31 is the first"},
		{"two rows", func(s *obmalloc.Stats) { s.Classes[5].Pools = 1; s.Classes[9].Pools = 1 }, "class 5 is the first of 2"},
		{"classes", func(s *obmalloc.Stats) { s.Classes = s.Classes[:31] }, "31 size classes"},
		{"quantization", func(s *obmalloc.Stats) { s.BytesLostToQuantization = 16 }, `"# bytes lost to quantization" is 16, CPython's 0`},
		{"allocated", func(s *obmalloc.Stats) { s.BytesInAllocatedBlocks = 0 }, `"# bytes in allocated blocks" is 0, CPython's 160`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := base()
			tc.change(&got.stats)
			assert.Contains(t, compareRows(got, base()), tc.want)
		})
	}
	// The arena-level lines are not compared.
	got := base()
	got.stats.ArenasCurrent, got.stats.UnusedPools, got.stats.BytesLostToArenaAlignment = 5, 300, 16384
	assert.Empty(t, compareRows(got, base()))
}
