package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
)

// A replay whose loop counted nil allocations fails, saying how many,
// and still returns its record.
func TestMeasureReportsNilAllocations(t *testing.T) {
	tr := loadText(t, "tiny", randomTraceText(3, 200))
	for _, tc := range []struct {
		fails int
		want  string
	}{
		{1, "x: tiny: 1 allocation returned nil"},
		{3, "x: tiny: 3 allocations returned nil"},
	} {
		rec, err := measure("x", tr, false, func([]pytrace.Op) int { return tc.fails })
		require.Error(t, err)
		assert.Equal(t, tc.want, err.Error())
		assert.Equal(t, "x", rec.Get("backend"))
	}
}

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, "0 rounds"},
		{1, "1 round"},
		{2, "2 rounds"},
		{-1, "-1 rounds"},
	} {
		assert.Equal(t, tc.want, Plural(tc.n, "round"), tc.n)
	}
}

// The peak recorded for a span: VmHWM as read when whole, and a figure
// that cannot be reset (getrusage's, off linux) only when the span
// raised it.
func TestSpanPeak(t *testing.T) {
	for _, tc := range []struct {
		name             string
		whole            bool
		start, end, want int64
	}{
		{"VmHWM reset, the loop raised it", true, 1000, 5000, 5000},
		{"VmHWM reset, the loop stayed below it", true, 1000, 1000, 1000},
		{"VmHWM without a start reading", true, -1, 5000, 5000},
		{"no peak at all", true, -1, -1, -1},
		{"OS figure raised by the span", false, 1000, 5000, 5000},
		{"OS figure not raised: earlier work's or the parent's", false, 5000, 5000, -1},
		{"OS figure without a start reading", false, -1, 5000, -1},
		{"OS figure unread at the end", false, 1000, -1, -1},
	} {
		assert.Equal(t, tc.want, spanPeak(tc.whole, tc.start, tc.end), tc.name)
	}
}
