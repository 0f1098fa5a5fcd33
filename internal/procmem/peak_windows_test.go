package procmem

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// processMemoryCounters has PROCESS_MEMORY_COUNTERS's size, which the call
// checks, and the call returns a peak.
func TestPeakWorkingSet(t *testing.T) {
	assert.Equal(t, 8+8*unsafe.Sizeof(uintptr(0)), unsafe.Sizeof(processMemoryCounters{}))
	peak, own := PeakRSSKB()
	assert.False(t, own)
	assert.Positive(t, peak)
}
