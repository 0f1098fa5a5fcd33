package mmap

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

func sysAdviseHugePages(p unsafe.Pointer, size uintptr) error {
	return madvise(p, size, unix.MADV_HUGEPAGE)
}

// sysHugePageSize reads the size of a transparent huge page (a PMD
// mapping) from sysfs: 2 MiB on amd64, more on some arm64 and ppc64
// kernels; 0 when the kernel has no transparent huge pages.
var sysHugePageSize = sync.OnceValue(func() uintptr {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n&(n-1) != 0 || uintptr(n) <= pageSize {
		return 0 // not a size a huge page can have
	}
	return uintptr(n)
})
