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
