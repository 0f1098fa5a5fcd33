package mmap

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func sysRemap(p unsafe.Pointer, oldSize, newSize uintptr) (unsafe.Pointer, error) {
	return unix.MremapPtr(p, oldSize, nil, newSize, unix.MREMAP_MAYMOVE)
}
