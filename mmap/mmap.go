package mmap

import (
	"errors"
	"fmt"
	"unsafe"
)

// ErrSize is wrapped by the errors of Map, Unmap and Decommit when the size
// asked for is zero or would overflow once rounded up to whole pages.
var ErrSize = errors.New("size must be between 1 byte and the address space")

// PageSize returns the operating system's page size in bytes (the
// allocation granularity of Map on unix, the page size on windows).
func PageSize() uintptr { return pageSize }

// Map returns a new region of size bytes of zeroed read-write memory,
// page-aligned and outside the Go heap. On failure it returns nil and an
// error that names the size and wraps the operating system's error.
func Map(size uintptr) (unsafe.Pointer, error) {
	if err := checkSize(size); err != nil {
		return nil, fmt.Errorf("mmap: map %d bytes: %w", size, err)
	}
	p, err := sysMap(size)
	if err != nil {
		return nil, fmt.Errorf("mmap: map %d bytes: %w", size, err)
	}
	return p, nil
}

// Unmap returns a whole region obtained from Map to the operating system.
// p and size must be exactly those of one Map call. Misuse is not caught
// alike everywhere: unmapping a region twice succeeds on unix (and, if the
// range was mapped again meanwhile, unmaps that), fails on Windows; a
// wrong size unmaps part of the region on unix, all of it on Windows.
func Unmap(p unsafe.Pointer, size uintptr) error {
	if err := checkRegion(p, size); err != nil {
		return fmt.Errorf("mmap: unmap %d bytes at %p: %w", size, p, err)
	}
	if err := sysUnmap(p, size); err != nil {
		return fmt.Errorf("mmap: unmap %d bytes at %p: %w", size, p, err)
	}
	return nil
}

// Decommit tells the operating system that the pages of [p, p+size) are no
// longer needed: their physical memory may be reclaimed, but the range
// stays mapped and usable. On linux and windows the pages read back as
// zero; on the BSDs and darwin they may keep their old contents
// (DecommitZeroes says which). p and size must be multiples of PageSize
// inside a region obtained from Map.
//
// A failed Decommit leaves the range in a state the caller cannot know:
// on windows, where the pages are decommitted and then committed again,
// a failure of the second step leaves them reserved but inaccessible, so
// that any later access faults (a crash, not a panic). A caller must then
// never touch the range again; it may still Unmap the whole region.
func Decommit(p unsafe.Pointer, size uintptr) error {
	if err := checkRegion(p, size); err != nil {
		return fmt.Errorf("mmap: decommit %d bytes at %p: %w", size, p, err)
	}
	if uintptr(p)%pageSize != 0 || size%pageSize != 0 {
		return fmt.Errorf("mmap: decommit %d bytes at %p: address and size must be multiples of the page size %d", size, p, pageSize)
	}
	if err := sysDecommit(p, size); err != nil {
		return fmt.Errorf("mmap: decommit %d bytes at %p: %w", size, p, err)
	}
	return nil
}

func checkSize(size uintptr) error {
	if size == 0 || size > ^uintptr(0)-pageSize {
		return ErrSize
	}
	return nil
}

func checkRegion(p unsafe.Pointer, size uintptr) error {
	if p == nil {
		return errors.New("nil address")
	}
	return checkSize(size)
}

// ErrRemapUnsupported is returned by Remap where the system cannot move a
// mapping without copying it (everywhere but linux); the caller then maps
// anew and copies.
var ErrRemapUnsupported = fmt.Errorf("remapping is not supported on this system: %w", errors.ErrUnsupported)

// Remap resizes a whole region obtained from Map (p, oldSize exactly as
// mapped) to newSize bytes, moving it if needed, without copying its pages
// (linux's mremap moves the page tables). The old address is invalid
// afterwards. Where that is not possible it returns ErrRemapUnsupported.
func Remap(p unsafe.Pointer, oldSize, newSize uintptr) (unsafe.Pointer, error) {
	if err := checkRegion(p, oldSize); err != nil {
		return nil, fmt.Errorf("mmap: remap %d bytes at %p to %d: %w", oldSize, p, newSize, err)
	}
	if err := checkSize(newSize); err != nil {
		return nil, fmt.Errorf("mmap: remap %d bytes at %p to %d: %w", oldSize, p, newSize, err)
	}
	q, err := sysRemap(p, oldSize, newSize)
	if err != nil {
		return nil, fmt.Errorf("mmap: remap %d bytes at %p to %d: %w", oldSize, p, newSize, err)
	}
	return q, nil
}

// DecommitZeroes reports whether pages read back as zero after Decommit on
// this system (linux and windows), so a caller that reuses a decommitted
// range as fresh memory knows whether it must clear it first.
func DecommitZeroes() bool { return decommitZeroes }

// ErrHugePagesUnsupported is returned by AdviseHugePages where the system
// has no transparent huge pages to ask for (everywhere but linux).
var ErrHugePagesUnsupported = fmt.Errorf("transparent huge pages are not supported on this system: %w", errors.ErrUnsupported)

// HugePageSize returns the size in bytes of a transparent huge page (2 MiB
// on amd64 linux), or 0 where the system has none (every system but
// linux, or a kernel built without them).
func HugePageSize() uintptr { return sysHugePageSize() }

// AdviseHugePages asks the system to back [p, p+size) with transparent
// huge pages (madvise MADV_HUGEPAGE on linux): a page fault in a part of
// the range aligned to HugePageSize may then map a whole huge page, which
// saves page faults and TLB entries and makes the part resident at once.
// It is advice: the call succeeds even where the kernel then declines
// (/sys/kernel/mm/transparent_hugepage/enabled set to never, or no huge
// page free), and the range behaves as before. p and size must lie in a
// region obtained from Map; elsewhere than linux the error wraps
// ErrHugePagesUnsupported.
func AdviseHugePages(p unsafe.Pointer, size uintptr) error {
	if err := checkRegion(p, size); err != nil {
		return fmt.Errorf("mmap: advise huge pages for %d bytes at %p: %w", size, p, err)
	}
	if err := sysAdviseHugePages(p, size); err != nil {
		return fmt.Errorf("mmap: advise huge pages for %d bytes at %p: %w", size, p, err)
	}
	return nil
}

// ErrPopulateUnsupported is wrapped by the error of Populate where the
// system cannot make a range resident in one call (everywhere but linux,
// and linux before 5.14).
var ErrPopulateUnsupported = fmt.Errorf("populating a range in one call is not supported on this system: %w", errors.ErrUnsupported)

// Populate makes the pages of [p, p+size) resident now instead of at their
// first touch, so that a later write takes no page fault: one madvise
// MADV_POPULATE_WRITE call on linux 5.14 and later, which fills in the
// page tables without changing the contents, so other goroutines may use
// the range meanwhile. Elsewhere the error wraps ErrPopulateUnsupported
// and nothing is done. p must be page-aligned, inside a region obtained
// from Map; size is rounded up to whole pages.
func Populate(p unsafe.Pointer, size uintptr) error {
	if err := checkPopulate(p, size); err != nil {
		return fmt.Errorf("mmap: populate %d bytes at %p: %w", size, p, err)
	}
	if err := sysPopulate(p, size); err != nil {
		return fmt.Errorf("mmap: populate %d bytes at %p: %w", size, p, err)
	}
	return nil
}

// PopulateSupported reports whether Populate can work on this system
// (linux 5.14 and later, unless a sandbox refuses it); false also for a
// moment when the kernel could not be asked (no memory for the probe),
// in which case it asks again next time.
func PopulateSupported() bool { return sysPopulateSupported() }

// PopulateZeroed makes the pages of [p, p+size) resident as Populate does,
// for a range that no one uses yet and that is still all zero, as Map
// returned it: where Populate is unsupported it writes a zero byte into
// each page instead. Other failures (the system has no memory to spare:
// ENOMEM under a cgroup limit) are returned, and nothing is written.
func PopulateZeroed(p unsafe.Pointer, size uintptr) error {
	if err := checkPopulate(p, size); err != nil {
		return fmt.Errorf("mmap: populate %d bytes at %p: %w", size, p, err)
	}
	err := sysPopulate(p, size)
	switch {
	case errors.Is(err, ErrPopulateUnsupported):
		touchPages(p, size)
	case err != nil:
		return fmt.Errorf("mmap: populate %d bytes at %p: %w", size, p, err)
	}
	return nil
}

func checkPopulate(p unsafe.Pointer, size uintptr) error {
	if err := checkRegion(p, size); err != nil {
		return err
	}
	if uintptr(p)%pageSize != 0 {
		return fmt.Errorf("address must be a multiple of the page size %d", pageSize)
	}
	return nil
}

// touchPages writes a zero byte into every page of [p, p+size), p
// page-aligned, which faults each one in.
func touchPages(p unsafe.Pointer, size uintptr) {
	// The caller vouches that the range is mapped, writable, all zeros
	// and unused, so writing zeros changes nothing but residency.
	for off := uintptr(0); off < size; off += pageSize {
		*(*byte)(unsafe.Add(p, off)) = 0
	}
}
