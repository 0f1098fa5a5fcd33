package mmap

import "golang.org/x/sys/unix"

// MADV_DONTNEED on a private anonymous mapping drops the pages at once and
// refills them with zeros on the next touch, which is what Decommit
// promises.
const decommitAdvice = unix.MADV_DONTNEED

const decommitZeroes = true
