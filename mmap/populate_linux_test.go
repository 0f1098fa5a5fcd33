package mmap

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A range Populate cannot fill (read-only) is that call's error only: it
// neither turns populating off for later calls nor makes PopulateZeroed
// write into the range.
func TestPopulateReadOnlyRange(t *testing.T) {
	if !PopulateSupported() {
		t.Skip("this kernel cannot populate in one call")
	}
	size := 4 * PageSize()
	ro, err := Map(size)
	require.NoError(t, err)
	defer Unmap(ro, size)
	require.NoError(t, unix.Mprotect(unsafe.Slice((*byte)(ro), size), unix.PROT_READ))

	assert.Error(t, Populate(ro, size))
	assert.Error(t, PopulateZeroed(ro, size), "an error, not a write into a read-only page")

	p, err := Map(size)
	require.NoError(t, err)
	defer Unmap(p, size)
	assert.True(t, PopulateSupported())
	assert.NoError(t, Populate(p, size), "later calls still populate")
	assert.Equal(t, 4, resident(t, p, size))
}
