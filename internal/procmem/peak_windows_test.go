package procmem

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// processMemoryCounters has PROCESS_MEMORY_COUNTERS's size, which the call
// checks, and the call returns a peak: the peak comes from windows, never
// from a file named /proc/self/status (under Wine that path opens the
// Wine server's).
func TestPeakWorkingSet(t *testing.T) {
	assert.Equal(t, 8+8*unsafe.Sizeof(uintptr(0)), unsafe.Sizeof(processMemoryCounters{}))
	assert.Equal(t, int64(-1), StatusKB("VmRSS"), "no /proc on windows")
	assert.False(t, ResetPeakRSS(), "no /proc on windows")
	peak, own := PeakRSSKB()
	assert.False(t, own)
	assert.Positive(t, peak)
}
