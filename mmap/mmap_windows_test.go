package mmap

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/windows"
)

// memFree is MEMORY_BASIC_INFORMATION's State of an address in no
// reservation, which golang.org/x/sys/windows does not declare.
const memFree = 0x10000

// query is VirtualQuery for the page at p.
func query(t *testing.T, p unsafe.Pointer) windows.MemoryBasicInformation {
	t.Helper()
	var m windows.MemoryBasicInformation
	require.NoError(t, windows.VirtualQuery(uintptr(p), &m, unsafe.Sizeof(m)))
	return m
}

// What the system holds after each call, as the package's doc promises it
// on windows: Map commits read-write memory in a reservation of its own,
// Decommit leaves the range committed (decommitted and committed again),
// and Unmap releases the whole reservation, whatever the size, after
// which a second Unmap fails.
func TestWindowsRegionStates(t *testing.T) {
	page := PageSize()
	size := 4 * page
	p, err := Map(size)
	require.NoError(t, err)
	m := query(t, p)
	assert.Equal(t, uintptr(p), m.AllocationBase, "a reservation of its own")
	assert.Equal(t, uint32(windows.MEM_COMMIT), m.State)
	assert.Equal(t, uint32(windows.PAGE_READWRITE), m.Protect)
	assert.GreaterOrEqual(t, m.RegionSize, size)

	mid := unsafe.Add(p, page)
	*(*byte)(mid) = 7
	require.NoError(t, Decommit(mid, 2*page))
	m = query(t, mid)
	assert.Equal(t, uint32(windows.MEM_COMMIT), m.State, "committed again after the decommit")
	assert.Equal(t, uint32(windows.PAGE_READWRITE), m.Protect)
	assert.Zero(t, *(*byte)(mid), "a page committed afresh is zero")

	require.NoError(t, Unmap(p, page), "one page of four")
	for _, q := range []unsafe.Pointer{p, unsafe.Add(p, size-page)} {
		assert.Equal(t, uint32(memFree), query(t, q).State, "%p: the whole reservation is released", q)
	}
	assert.ErrorContains(t, Unmap(p, size), "mmap: unmap", "a second release fails")
	assert.ErrorContains(t, Decommit(p, page), "mmap: decommit", "a released range cannot be decommitted")
}
