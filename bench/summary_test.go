package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSummarize(t *testing.T) {
	assert.Equal(t, Stat{}, summarize(nil))
	assert.Equal(t, Stat{Runs: 3, Median: 2, Min: 1, Max: 9}, summarize([]float64{9, 1, 2}))
	assert.Equal(t, Stat{Runs: 4, Median: 2.5, Min: 1, Max: 9}, summarize([]float64{9, 1, 2, 3}))

	recs := parseAll(t,
		"backend=gopymalloc trace=a ops=10 ns_per_op=12 replay_rss_kb=2 peak_live_bytes=1024 rss_peak_kb=2048 kind=replay round=1",
		"backend=pymalloc trace=/x/a.trace.gz ops=10 ns_per_op=10 replay_rss_kb=1 peak_live_bytes=1024 rss_peak_kb=1024",
		"backend=gopymalloc trace=a ops=10 ns_per_op=11 replay_rss_kb=4 peak_live_bytes=1024 rss_peak_kb=2048 kind=replay round=2",
		"kind=churn backend=gopymalloc ns_per_op=20",
		"kind=churn backend=gopymalloc note=no-figures",
	)
	groups := Summarize(recs)
	assert.Len(t, groups, 3)
	g, ok := Find(groups, "replay", "a", "gopymalloc")
	assert.True(t, ok)
	assert.Equal(t, 2, g.Runs)
	assert.Equal(t, Stat{Runs: 2, Median: 11.5, Min: 11, Max: 12}, g.Metrics["ns_per_op"])
	assert.Equal(t, Stat{Runs: 2, Median: 3, Min: 2, Max: 4}, g.Metrics["resident_per_requested"])
	assert.Equal(t, Stat{Runs: 2, Median: 2, Min: 2, Max: 2}, g.Metrics["rss_peak_mib"])
	_, hasRound := g.Metrics["round"]
	assert.False(t, hasRound, "round is not a figure")

	c, ok := Find(groups, "replay", "a", "pymalloc")
	assert.True(t, ok, "a line without kind is a replay, its trace path becomes the name")
	assert.Equal(t, 10.0, c.Metrics["ns_per_op"].Median)
	assert.Equal(t, 1, c.Runs)

	churn, ok := Find(groups, "churn", "", "gopymalloc")
	assert.True(t, ok)
	assert.Equal(t, 2, churn.Runs, "a record without figures is still a run")
	assert.Equal(t, 1, churn.Metrics["ns_per_op"].Runs)
}

func parseAll(t *testing.T, lines ...string) []Record {
	t.Helper()
	var recs []Record
	for _, l := range lines {
		r, err := ParseRecord(l)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

// The figures derived from a replay record, and none where /proc gave -1
// or the trace holds nothing.
func TestDerived(t *testing.T) {
	for _, tc := range []struct {
		line string
		want map[string]float64
	}{
		{"replay_rss_kb=2 peak_live_bytes=1024 rss_peak_kb=3072", map[string]float64{"resident_per_requested": 2, "rss_peak_mib": 3}},
		{"replay_rss_kb=0 peak_live_bytes=4096 rss_peak_kb=0", map[string]float64{"resident_per_requested": 0, "rss_peak_mib": 0}},
		{"replay_rss_kb=-1 peak_live_bytes=1024 rss_peak_kb=-1", map[string]float64{}},
		{"replay_rss_kb=8 peak_live_bytes=0 rss_peak_kb=1024", map[string]float64{"rss_peak_mib": 1}},
		{"kind=gc gc_ms=0.2", map[string]float64{}},
	} {
		r, err := ParseRecord(tc.line)
		require.NoError(t, err)
		assert.Equal(t, tc.want, derived(r), tc.line)
	}
}
