//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package mmap

import "golang.org/x/sys/unix"

// On the BSDs MADV_DONTNEED is only a hint and the pages keep their
// contents; MADV_FREE lets the kernel take them. Neither zeroes them at
// once, so callers must not rely on zeroes after Decommit there (obmalloc
// and the large-block allocator never do).
const decommitAdvice = unix.MADV_FREE

const decommitZeroes = false
