package mmap

import (
	"sync"
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

// sysPopulateSupported asks the kernel once, on a page of its own:
// kernels before 5.14 answer EINVAL to MADV_POPULATE_WRITE. Later EINVALs
// (a read-only range) are errors of that call only.
var sysPopulateSupported = sync.OnceValue(func() bool {
	p, err := sysMap(pageSize)
	if err != nil {
		return false
	}
	defer sysUnmap(p, pageSize)
	return unix.Madvise(unsafe.Slice((*byte)(p), pageSize), unix.MADV_POPULATE_WRITE) == nil
})
