//go:build !linux

package mmap

import "unsafe"

func sysAdviseHugePages(p unsafe.Pointer, size uintptr) error {
	return ErrHugePagesUnsupported
}

func sysHugePageSize() uintptr { return 0 }
