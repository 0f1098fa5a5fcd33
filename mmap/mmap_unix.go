//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mmap

import (
	"math/bits"
	"unsafe"

	"golang.org/x/sys/unix"
)

var pageSize = uintptr(unix.Getpagesize())

func sysMap(size uintptr) (unsafe.Pointer, error) {
	return unix.MmapPtr(-1, 0, nil, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
}

func sysUnmap(p unsafe.Pointer, size uintptr) error {
	return unix.MunmapPtr(p, size)
}

func sysDecommit(p unsafe.Pointer, size uintptr) error {
	return madvise(p, size, decommitAdvice)
}

// adviseChunk is the most bytes one madvise call is given. The range goes
// to the system call as a slice, whose length is an int: on a 32-bit
// system a region can be larger than that (a 32-bit process may map up
// to 4 GiB), and unsafe.Slice panics past it. A power of two, so that
// every call after the first starts on a page and huge-page boundary when
// the first does. A variable, so that tests can make it small.
var adviseChunk uintptr = 1 << (bits.UintSize - 2)

// madvise gives advice for [p, p+size), size > 0, in calls of at most
// adviseChunk bytes, and stops at the first error.
func madvise(p unsafe.Pointer, size uintptr, advice int) error {
	for {
		n := min(size, adviseChunk)
		// The slice only names the range for the system call; it is not
		// kept.
		if err := unix.Madvise(unsafe.Slice((*byte)(p), n), advice); err != nil || n == size {
			return err
		}
		p, size = unsafe.Add(p, n), size-n
	}
}
