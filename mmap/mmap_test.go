package mmap

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPageSize(t *testing.T) {
	ps := PageSize()
	assert.NotZero(t, ps)
	assert.Zero(t, ps&(ps-1), "page size %d is a power of two", ps)
}

func TestMapIsZeroedWritableAndAligned(t *testing.T) {
	for _, size := range []uintptr{1, PageSize(), 1 << 20, 3<<20 + 5} {
		p, err := Map(size)
		require.NoError(t, err, "Map(%d)", size)
		assert.Zero(t, uintptr(p)%PageSize(), "Map(%d) is page-aligned", size)
		b := unsafe.Slice((*byte)(p), size)
		assert.Equal(t, byte(0), b[0])
		assert.Equal(t, byte(0), b[size-1])
		b[0], b[size-1] = 1, 2
		require.NoError(t, Unmap(p, size))
	}
}

func TestDecommitKeepsTheRangeUsable(t *testing.T) {
	size := 4 * PageSize()
	p, err := Map(size)
	require.NoError(t, err)
	defer Unmap(p, size)
	b := unsafe.Slice((*byte)(p), size)
	for i := range b {
		b[i] = 0xAB
	}
	require.NoError(t, Decommit(unsafe.Add(p, PageSize()), 2*PageSize()))
	b[PageSize()] = 7 // still mapped and writable
	assert.Equal(t, byte(7), b[PageSize()])
	assert.Equal(t, byte(0xAB), b[0], "pages outside the range keep their contents")
}

func TestErrorsNameTheSize(t *testing.T) {
	_, err := Map(0)
	assert.ErrorIs(t, err, ErrSize)
	assert.EqualError(t, err, "mmap: map 0 bytes: "+ErrSize.Error())
	_, err = Map(^uintptr(0))
	assert.ErrorContains(t, err, fmt.Sprintf("mmap: map %d bytes", ^uintptr(0)))
	assert.ErrorIs(t, err, ErrSize)
	// The OS refuses a mapping larger than the address space allows: the
	// largest size Map passes on, the whole address space but a page, on
	// 32-bit systems too (where 1<<62, used before, does not fit).
	tooBig := ^uintptr(0) - PageSize()
	_, err = Map(tooBig)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrSize, "refused by the OS, not by Map")
	assert.Contains(t, err.Error(), fmt.Sprintf("map %d bytes", tooBig))
	assert.True(t, errors.Unwrap(err) != nil, "the OS error is wrapped")

	assert.ErrorContains(t, Unmap(nil, 4096), "mmap: unmap 4096 bytes at 0x0: nil address")
	p, err := Map(PageSize())
	require.NoError(t, err)
	defer Unmap(p, PageSize())
	assert.ErrorContains(t, Decommit(unsafe.Add(p, 1), PageSize()), "must be multiples of the page size")
}

func TestRemapKeepsContents(t *testing.T) {
	size := 2 * PageSize()
	p, err := Map(size)
	require.NoError(t, err)
	unsafe.Slice((*byte)(p), size)[size-1] = 42
	q, err := Remap(p, size, 64*PageSize())
	if errors.Is(err, ErrRemapUnsupported) {
		require.NoError(t, Unmap(p, size))
		t.Skip(err)
	}
	require.NoError(t, err)
	b := unsafe.Slice((*byte)(q), 64*PageSize())
	assert.Equal(t, byte(42), b[size-1])
	b[len(b)-1] = 1
	require.NoError(t, Unmap(q, 64*PageSize()))
	_, err = Remap(nil, size, size)
	assert.ErrorContains(t, err, "mmap: remap 8192 bytes at 0x0 to 8192: nil address")
}

func TestAdviseHugePages(t *testing.T) {
	const size = 4 << 20
	p, err := Map(size)
	require.NoError(t, err)
	defer func() { require.NoError(t, Unmap(p, size)) }()
	err = AdviseHugePages(p, size)
	if runtime.GOOS == "linux" {
		// Advice the kernel may ignore, but the call itself succeeds on
		// any kernel built with transparent huge pages, and EINVAL names
		// one built without them.
		if err != nil {
			assert.ErrorIs(t, err, syscall.EINVAL)
			t.Skipf("this kernel has no transparent huge pages: %v", err)
		}
	} else {
		assert.ErrorIs(t, err, ErrHugePagesUnsupported)
		assert.ErrorIs(t, err, errors.ErrUnsupported)
	}
	// Advised or not, the range is ordinary memory.
	b := unsafe.Slice((*byte)(p), size)
	b[0], b[size-1] = 1, 2
	assert.Equal(t, byte(2), b[size-1])

	assert.ErrorContains(t, AdviseHugePages(nil, size), "nil address")
}

func TestDecommitZeroesSaysWhatDecommitDoes(t *testing.T) {
	size := PageSize()
	p, err := Map(size)
	require.NoError(t, err)
	defer func() { require.NoError(t, Unmap(p, size)) }()
	b := unsafe.Slice((*byte)(p), size)
	b[0] = 7
	require.NoError(t, Decommit(p, size))
	if DecommitZeroes() {
		assert.Equal(t, byte(0), b[0], "DecommitZeroes is true, so the page must read back as zero")
	}
}

func TestHugePageSize(t *testing.T) {
	n := HugePageSize()
	if runtime.GOOS != "linux" {
		assert.Zero(t, n)
		return
	}
	if n == 0 {
		t.Skip("this kernel has no transparent huge pages")
	}
	assert.Zero(t, n&(n-1), "a huge page is a power of two: %d", n)
	assert.Greater(t, n, PageSize())
}

// BenchmarkFirstTouch measures what the first write to fresh memory costs,
// one write per page, per 2 MiB: the page faults that a heap pays once for
// every page it grows into. small: 4 KiB pages; huge: with the huge-page
// advice (docs/experiments.md, "Huge pages under the arenas"); populated:
// 4 KiB pages made resident beforehand with Populate, whose own time is
// reported apart, as the work a prefaulting goroutine does instead of the
// one that writes (docs/benchmarks.md). It reports the median and the
// slowest 2 MiB of each run, since huge-page faults are not all alike.
func BenchmarkFirstTouch(b *testing.B) {
	const region, step = 64 << 20, 2 << 20
	for _, mode := range []string{"small", "huge", "populated"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "huge" && HugePageSize() != step {
				b.Skipf("huge pages of %d bytes here, not 2 MiB", HugePageSize())
			}
			if mode == "populated" && !PopulateSupported() {
				b.Skip("this system cannot populate in one call")
			}
			var per, populate []time.Duration
			for b.Loop() {
				p, err := Map(region + step)
				require.NoError(b, err)
				base := unsafe.Add(p, (step-uintptr(p)%step)%step)
				if mode == "huge" {
					require.NoError(b, AdviseHugePages(base, region))
				}
				mem := unsafe.Slice((*byte)(base), region)
				for i := 0; i < region; i += step {
					if mode == "populated" {
						t := time.Now()
						require.NoError(b, Populate(unsafe.Add(base, i), step))
						populate = append(populate, time.Since(t))
					}
					t := time.Now()
					for j := i; j < i+step; j += int(PageSize()) {
						mem[j] = 1
					}
					per = append(per, time.Since(t))
				}
				require.NoError(b, Unmap(p, region+step))
			}
			slices.Sort(per)
			b.ReportMetric(float64(per[len(per)/2].Nanoseconds()), "median-ns/2MiB")
			b.ReportMetric(float64(per[len(per)-1].Nanoseconds()), "max-ns/2MiB")
			if len(populate) > 0 {
				slices.Sort(populate)
				b.ReportMetric(float64(populate[len(populate)/2].Nanoseconds()), "median-populate-ns/2MiB")
			}
		})
	}
}

// A region longer than an int can count, which only a 32-bit process can
// map (up to 4 GiB), is decommitted and advised like any other. Both calls
// passed the range to madvise as a slice made with unsafe.Slice, which
// panicked past math.MaxInt bytes ("unsafe.Slice: len out of range"): a
// HugePageArenas reserving 2 GiB on 386 did that.
func TestAdviseMoreThanMaxIntBytes(t *testing.T) {
	if bits.UintSize == 64 {
		t.Skip("only a 32-bit process can map more than math.MaxInt bytes")
	}
	size := uintptr(math.MaxInt) + 1 + PageSize()
	p, err := Map(size)
	if err != nil {
		t.Skipf("no room for %d bytes in this address space: %v", size, err)
	}
	defer func() { require.NoError(t, Unmap(p, size)) }()
	first, last := (*byte)(p), (*byte)(unsafe.Add(p, size-1))
	*first, *last = 7, 7
	require.NoError(t, Decommit(p, size))
	if DecommitZeroes() {
		assert.Zero(t, *first, "the first page decommitted")
		assert.Zero(t, *last, "the last page decommitted")
	}
	checkHugePageAdvice(t, AdviseHugePages(p, size))
	*last = 9 // still mapped and writable
	assert.Equal(t, byte(9), *last)
}

// checkHugePageAdvice checks AdviseHugePages' answer for a mapped range:
// linux takes the advice unless its kernel has no transparent huge pages,
// other systems have none to advise.
func checkHugePageAdvice(t *testing.T, err error) {
	t.Helper()
	if runtime.GOOS == "linux" {
		if err != nil {
			assert.ErrorIs(t, err, syscall.EINVAL, "only a kernel without transparent huge pages refuses")
		}
	} else {
		assert.ErrorIs(t, err, ErrHugePagesUnsupported)
	}
}
