package mmap

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func sysAdviseHugePages(p unsafe.Pointer, size uintptr) error {
	// The slice only names the range for the system call; it is not kept.
	return unix.Madvise(unsafe.Slice((*byte)(p), size), unix.MADV_HUGEPAGE)
}
