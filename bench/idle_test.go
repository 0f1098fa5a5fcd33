package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseCPULine(t *testing.T) {
	for _, tc := range []struct {
		name        string
		line        string
		busy, total uint64
		err         string
	}{
		{"this machine's", "cpu  3462541 0 805387 5326735 9466 0 2772 3739 0 0", 3462541 + 805387 + 2772 + 3739, 3462541 + 805387 + 5326735 + 9466 + 2772 + 3739, ""},
		// guest (90) and guest_nice (9) are inside user (100) and nice (10).
		{"guest time counted once", "cpu 100 10 20 500 5 1 2 3 90 9", 100 + 10 + 20 + 1 + 2 + 3, 100 + 10 + 20 + 500 + 5 + 1 + 2 + 3, ""},
		{"old kernel, no steal", "cpu 100 10 20 500 5 1 2", 133, 638, ""},
		{"a cpuN line", "cpu0 1 2 3 4 5 6 7 8", 0, 0, "not the cpu line"},
		{"short", "cpu 1 2 3", 0, 0, "not the cpu line"},
		{"not a number", "cpu 1 2 x 4 5 6 7 8", 0, 0, "field 3"},
	} {
		busy, total, err := parseCPULine(tc.line)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.name)
			continue
		}
		assert.NoError(t, err, tc.name)
		assert.Equal(t, tc.busy, busy, tc.name)
		assert.Equal(t, tc.total, total, tc.name)
	}
}
