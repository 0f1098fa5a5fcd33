package bench

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A line of replay.c, as printed by replay-pymalloc.
const cLine = "backend=pymalloc trace=/work/shared/traces/test_re.trace.gz ops=3112181 seconds=0.032973 ns_per_op=10.59 " +
	"peak_live_bytes=20852658 peak_live_blocks=190129 live_at_end=971 rss_before_kb=65748 rss_peak_kb=83548 " +
	"replay_rss_kb=17800 maxrss_kb=83548 load_seconds=0.129 touch=1 pymalloc_blocks_added=971"

func TestParseRecord(t *testing.T) {
	r, err := ParseRecord(cLine)
	require.NoError(t, err)
	assert.Equal(t, cLine, r.String(), "keys keep their order")
	v, ok := r.Float("ns_per_op")
	assert.True(t, ok)
	assert.Equal(t, 10.59, v)
	_, ok = r.Float("backend")
	assert.False(t, ok)
	_, ok = r.Float("absent")
	assert.False(t, ok)

	r.Set("backend", "c-pymalloc")
	r.Set("kind", "replay")
	assert.True(t, strings.HasPrefix(r.String(), "backend=c-pymalloc trace="))
	assert.True(t, strings.HasSuffix(r.String(), " kind=replay"))

	for _, bad := range []string{"", "   ", "a=1 b", "=3", "a=1 a=2"} {
		_, err := ParseRecord(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestTraceName(t *testing.T) {
	assert.Equal(t, "test_re", TraceName("/work/shared/traces/test_re.trace.gz"))
	assert.Equal(t, "x", TraceName("x.gz"))
	assert.Equal(t, "x", TraceName("dir/x.trace"))
	assert.Equal(t, "x", TraceName("x"))
}

func TestReadRecords(t *testing.T) {
	recs, comments, err := ReadRecords(strings.NewReader("# date: 2026\n\nkind=gc backend=empty gc_ms=0.2\n" + cLine + "\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"# date: 2026"}, comments)
	require.Len(t, recs, 2)
	assert.Equal(t, "empty", recs[0].Get("backend"))

	_, _, err = ReadRecords(strings.NewReader("ok=1\nnot a record\n"))
	assert.ErrorContains(t, err, "line 2")
}
