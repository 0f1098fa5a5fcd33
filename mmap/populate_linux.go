package mmap

import (
	"errors"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// populateRefused is set once the kernel has refused MADV_POPULATE_WRITE
// (before 5.14), so later calls do not ask again.
var populateRefused atomic.Bool

func sysPopulate(p unsafe.Pointer, size uintptr) error {
	if populateRefused.Load() {
		return ErrPopulateUnsupported
	}
	// The slice only names the range for the system call; it is not kept.
	err := unix.Madvise(unsafe.Slice((*byte)(p), size), unix.MADV_POPULATE_WRITE)
	if errors.Is(err, unix.EINVAL) {
		// The address is page-aligned (checked): the advice is unknown.
		populateRefused.Store(true)
		return ErrPopulateUnsupported
	}
	return err
}
