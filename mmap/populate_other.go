//go:build !linux

package mmap

import "unsafe"

func sysPopulate(p unsafe.Pointer, size uintptr) error { return ErrPopulateUnsupported }

func sysPopulateSupported() bool { return false }
