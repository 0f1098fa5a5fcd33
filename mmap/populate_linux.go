package mmap

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

func sysPopulate(p unsafe.Pointer, size uintptr) error {
	if !sysPopulateSupported() {
		return ErrPopulateUnsupported
	}
	return madvise(p, size, unix.MADV_POPULATE_WRITE)
}

// sysPopulateSupported asks the kernel, on a page of its own, until it
// answers for good: success, or a refusal (EINVAL from a kernel before
// 5.14, EPERM or ENOSYS from a sandbox), is remembered. A transient
// failure (no page to map, ENOMEM, EAGAIN, EINTR) says nothing about the
// kernel: it answers false this time, so that callers touch the pages
// instead, and the next call asks again. Later EINVALs (a read-only
// range) are errors of that call only.
func sysPopulateSupported() bool {
	switch populateKnown.Load() {
	case populateYes:
		return true
	case populateNo:
		return false
	}
	p, err := sysMap(pageSize)
	if err != nil {
		return false
	}
	defer sysUnmap(p, pageSize)
	switch err := unix.Madvise(unsafe.Slice((*byte)(p), pageSize), unix.MADV_POPULATE_WRITE); err {
	case nil:
		populateKnown.Store(populateYes)
		return true
	case unix.ENOMEM, unix.EAGAIN, unix.EINTR:
		return false
	default:
		populateKnown.Store(populateNo)
		return false
	}
}

// populateKnown is what the kernel said of MADV_POPULATE_WRITE.
var populateKnown atomic.Int32

const (
	populateUnknown = iota
	populateYes
	populateNo
)
