//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mmap

import (
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
	// The slice only names the range for the system call; it is not kept.
	return unix.Madvise(unsafe.Slice((*byte)(p), size), decommitAdvice)
}
