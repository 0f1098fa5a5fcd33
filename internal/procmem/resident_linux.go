package procmem

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ResidentPages reports, page by page, which pages of [p, p+size) are
// resident (mincore(2)); p must be page-aligned. Tests use it to see what
// a populate or a decommit did to a range.
func ResidentPages(p unsafe.Pointer, size uintptr) ([]bool, error) {
	page := uintptr(unix.Getpagesize())
	if uintptr(p)%page != 0 || size == 0 {
		return nil, fmt.Errorf("procmem: ResidentPages(%p, %d): want a page-aligned address and a size above 0", p, size)
	}
	vec := make([]byte, (size+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(p), size, uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		return nil, fmt.Errorf("procmem: mincore(%p, %d): %w", p, size, errno)
	}
	res := make([]bool, len(vec))
	for i, v := range vec {
		res[i] = v&1 != 0
	}
	return res, nil
}
