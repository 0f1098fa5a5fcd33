//go:build !linux

package mmap

import "unsafe"

func sysRemap(p unsafe.Pointer, oldSize, newSize uintptr) (unsafe.Pointer, error) {
	return nil, ErrRemapUnsupported
}
