package mmap

import (
	"errors"
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/procmem"
)

// resident counts the resident pages of [p, p+size), skipping the test
// where residency cannot be read.
func resident(t *testing.T, p unsafe.Pointer, size uintptr) int {
	t.Helper()
	pages, err := procmem.ResidentPages(p, size)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("residency is read with mincore (linux)")
	}
	require.NoError(t, err)
	n := 0
	for _, r := range pages {
		if r {
			n++
		}
	}
	return n
}

// Populate, PopulateZeroed and the fallback make exactly the pages of the
// range resident and leave them zero.
func TestPopulateMakesTheRangeResident(t *testing.T) {
	const pages = 64
	size := pages * PageSize()
	for _, tc := range []struct {
		name     string
		populate func(p unsafe.Pointer, size uintptr) error
	}{
		{"Populate", Populate},
		{"PopulateZeroed", PopulateZeroed},
		{"touchPages", func(p unsafe.Pointer, size uintptr) error { touchPages(p, size); return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Map(size)
			require.NoError(t, err)
			defer Unmap(p, size)
			require.Zero(t, resident(t, p, size), "a fresh mapping has no resident page")
			b := unsafe.Slice((*byte)(p), size)
			b[40*PageSize()+9] = 7 // Populate keeps what is written

			// Pages 8..23: the size ends inside page 23.
			err = tc.populate(unsafe.Add(p, 8*PageSize()), 15*PageSize()+7)
			if errors.Is(err, ErrPopulateUnsupported) {
				t.Skip(err)
			}
			require.NoError(t, err)
			assert.Equal(t, 16, resident(t, unsafe.Add(p, 8*PageSize()), 16*PageSize()), "pages 8..23 resident")
			assert.Equal(t, 17, resident(t, p, size), "and no other than page 40")
			for i, v := range b {
				if v != 0 && uintptr(i) != 40*PageSize()+9 {
					t.Fatalf("byte %d is %d after populating: want 0", i, v)
				}
			}
			assert.Equal(t, byte(7), b[40*PageSize()+9])
		})
	}
}

func TestPopulateRefusesBadArguments(t *testing.T) {
	p, err := Map(2 * PageSize())
	require.NoError(t, err)
	defer Unmap(p, 2*PageSize())
	for _, f := range []func(unsafe.Pointer, uintptr) error{Populate, PopulateZeroed} {
		err := f(nil, PageSize())
		require.Error(t, err)
		assert.Equal(t, fmt.Sprintf("mmap: populate %d bytes at 0x0: nil address", PageSize()), err.Error())
		assert.ErrorIs(t, f(p, 0), ErrSize)
		err = f(unsafe.Add(p, 8), PageSize())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "address must be a multiple of the page size")
	}
	if PopulateSupported() {
		assert.NoError(t, Populate(p, PageSize()))
	} else {
		// Elsewhere than linux, and on kernels before 5.14.
		assert.ErrorIs(t, Populate(p, PageSize()), ErrPopulateUnsupported)
	}
}

// Make a fresh mapping resident before it is written, for instance on a
// goroutine other than the one that will write it.
func ExamplePopulateZeroed() {
	p, err := Map(1 << 20)
	if err != nil {
		panic(err)
	}
	defer Unmap(p, 1<<20)
	// Populate where the system can do it in one call, or write a zero
	// into each page: the mapping is fresh, so both leave it all zero.
	fmt.Println(PopulateZeroed(p, 1<<20))
	// Output: <nil>
}
