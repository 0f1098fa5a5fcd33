package procmem

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The peak that each system's kernel reports, in its own unit, into KiB.
func TestPeakKB(t *testing.T) {
	for _, tc := range []struct {
		goos string
		v    int64
		want int64
	}{
		{"linux", 2048, 2048}, // ru_maxrss in KiB
		{"android", 2048, 2048},
		{"freebsd", 2048, 2048},
		{"netbsd", 2048, 2048},
		{"openbsd", 2048, 2048},
		{"dragonfly", 2048, 2048},
		{"darwin", 2 << 20, 2048}, // ru_maxrss in bytes
		{"ios", 2 << 20, 2048},
		{"darwin", 1025, 2},        // a partial KiB counts
		{"windows", 2 << 20, 2048}, // PeakWorkingSetSize in bytes
		{"linux", 0, -1},           // a kernel that keeps no peak leaves 0
		{"darwin", 0, -1},
		{"freebsd", -1, -1}, // osPeak failed
		{"windows", -1, -1},
		{"plan9", 2048, -1}, // no such figure
		{"solaris", 2048, -1},
	} {
		assert.Equal(t, tc.want, peakKB(tc.goos, tc.v), "%s, %d", tc.goos, tc.v)
	}
}

// Whatever its source, a peak read after the resident set is at least
// that resident set: a figure in the wrong unit is 1024 times off.
func TestPeakRSSKB(t *testing.T) {
	rss := StatusKB("VmRSS")
	if rss < 0 {
		t.Skipf("no /proc/self/status on %s to compare the peak with", runtime.GOOS)
	}
	peak, own := PeakRSSKB()
	assert.True(t, own, "with /proc, the peak is VmHWM")
	assert.GreaterOrEqual(t, peak, rss, "VmHWM against VmRSS read before it")
	assert.GreaterOrEqual(t, peakKB(runtime.GOOS, osPeak()), rss, "the OS's peak (KiB) against VmRSS read before it")
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
		assert.Equal(t, tc.want, SpanPeak(tc.whole, tc.start, tc.end), tc.name)
	}
}

// A loop's figures: the growth only where VmHWM was reset (the peak is
// then the loop's, comparable with the RSS before it), the peak as
// SpanPeak keeps it.
func TestLoopFigures(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		reset                bool
		before, peak0, peak1 int64
		wantPeak, wantGrowth int64
	}{
		{"linux: VmHWM reset", true, 1000, 1000, 5000, 5000, 4000},
		{"linux: the loop stayed at the RSS", true, 1000, 1000, 1000, 1000, 0},
		{"VmHWM reset, no RSS before", true, -1, 1000, 5000, 5000, -1},
		{"VmHWM reset, no peak after", true, 1000, 1000, -1, -1, -1},
		{"elsewhere: the OS peak rose", false, -1, 3000, 5000, 5000, -1},
		{"elsewhere: the OS peak did not rise", false, -1, 5000, 5000, -1, -1},
	} {
		peak, growth := loopFigures(tc.reset, tc.before, tc.peak0, tc.peak1)
		assert.Equal(t, tc.wantPeak, peak, tc.name)
		assert.Equal(t, tc.wantGrowth, growth, tc.name)
	}
}
