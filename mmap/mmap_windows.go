//go:build windows

package mmap

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The runtime asked the system for the page size at start-up.
var pageSize = uintptr(os.Getpagesize())

func sysMap(size uintptr) (unsafe.Pointer, error) {
	addr, err := windows.VirtualAlloc(0, size, windows.MEM_COMMIT|windows.MEM_RESERVE, windows.PAGE_READWRITE)
	if err != nil {
		return nil, err
	}
	// VirtualAlloc's result is memory the Go runtime never manages, so
	// turning the address into a pointer cannot hide a Go object.
	return unsafe.Add(nil, addr), nil
}

func sysUnmap(p unsafe.Pointer, size uintptr) error {
	// MEM_RELEASE frees the whole reservation and requires size 0.
	return windows.VirtualFree(uintptr(p), 0, windows.MEM_RELEASE)
}

// sysDecommit commits the pages again, and fresh pages are zero.
const decommitZeroes = true

func sysDecommit(p unsafe.Pointer, size uintptr) error {
	// Decommit, then commit again: the range stays usable, and the pages
	// come back as zeros, as they do on linux.
	if err := windows.VirtualFree(uintptr(p), size, windows.MEM_DECOMMIT); err != nil {
		return err
	}
	// The commit can fail (the system's commit limit was reached
	// meanwhile); the pages then stay decommitted and any access to them
	// faults, which the error says, so that the caller drops the range
	// (Decommit's doc).
	if _, err := windows.VirtualAlloc(uintptr(p), size, windows.MEM_COMMIT, windows.PAGE_READWRITE); err != nil {
		return fmt.Errorf("committing again after the decommit: %w; the range is left inaccessible", err)
	}
	return nil
}
