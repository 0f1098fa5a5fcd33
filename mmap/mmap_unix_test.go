//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mmap

import (
	"errors"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Advice over a range longer than adviseChunk goes to the system in
// several calls that together cover the range, and no more: here with a
// chunk of one page, so that an ordinary range takes the path a range
// longer than an int takes on a 32-bit system.
func TestAdviceInChunks(t *testing.T) {
	saved := adviseChunk
	adviseChunk = PageSize()
	t.Cleanup(func() { adviseChunk = saved })

	const pages = 8
	size := pages * PageSize()
	p, err := Map(size)
	require.NoError(t, err)
	defer func() { require.NoError(t, Unmap(p, size)) }()
	b := unsafe.Slice((*byte)(p), size)
	for i := range b {
		b[i] = 0xAB
	}
	// Pages 1..6: six calls.
	require.NoError(t, Decommit(unsafe.Add(p, PageSize()), (pages-2)*PageSize()))
	assert.Equal(t, byte(0xAB), b[PageSize()-1], "the page before the range keeps its contents")
	assert.Equal(t, byte(0xAB), b[(pages-1)*PageSize()], "the page after the range keeps its contents")
	if DecommitZeroes() {
		for pg := uintptr(1); pg < pages-1; pg++ {
			assert.Zero(t, b[pg*PageSize()], "page %d decommitted", pg)
			assert.Zero(t, b[(pg+1)*PageSize()-1], "page %d decommitted", pg)
		}
	}

	checkHugePageAdvice(t, AdviseHugePages(p, size))

	// A range that is not mapped past its first pages: the call for the
	// first page that is not mapped fails, and its error is returned.
	q, err := Map(3 * PageSize())
	require.NoError(t, err)
	require.NoError(t, Unmap(unsafe.Add(q, 2*PageSize()), PageSize()))
	defer func() { require.NoError(t, Unmap(q, 2*PageSize())) }()
	err = madvise(q, 3*PageSize(), decommitAdvice)
	require.Error(t, err, "the third page is not mapped")
	assert.True(t, errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.EINVAL), "%v", err)
}
