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
	// The slice only names the range for the system call; it is not kept.
	return unix.Madvise(unsafe.Slice((*byte)(p), size), unix.MADV_POPULATE_WRITE)
}

// sysPopulateSupported asks the kernel, on a page of its own, until it
// answers: kernels before 5.14 answer EINVAL to MADV_POPULATE_WRITE, and
// that is remembered. Any other failure of the probe (no page to map, no
// memory to populate it with) says nothing about the kernel: the call
// goes ahead and reports its own error, and the next call asks again.
// Later EINVALs (a read-only range) are errors of that call only.
func sysPopulateSupported() bool {
	switch populateKnown.Load() {
	case populateYes:
		return true
	case populateNo:
		return false
	}
	p, err := sysMap(pageSize)
	if err != nil {
		return true
	}
	defer sysUnmap(p, pageSize)
	switch err := unix.Madvise(unsafe.Slice((*byte)(p), pageSize), unix.MADV_POPULATE_WRITE); err {
	case nil:
		populateKnown.Store(populateYes)
	case unix.EINVAL:
		populateKnown.Store(populateNo)
		return false
	}
	return true
}

// populateKnown is what the kernel said of MADV_POPULATE_WRITE.
var populateKnown atomic.Int32

const (
	populateUnknown = iota
	populateYes
	populateNo
)
