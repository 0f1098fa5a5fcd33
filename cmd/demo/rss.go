package main

import "github.com/gopymalloc/gopymalloc/internal/procmem"

// residentKB is the process's resident set size (RSS) in KiB, as the
// kernel counts it: ok is false off linux, where /proc/self/status is not
// the process's own (procmem.StatusKB), and the story then says so
// instead of printing a number it cannot measure.
func residentKB() (kb int64, ok bool) {
	kb = procmem.StatusKB("VmRSS")
	return kb, kb >= 0
}
