//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package procmem

import "golang.org/x/sys/unix"

// osPeak returns getrusage's ru_maxrss for the process, in the kernel's
// unit (peakKB converts it), or -1.
func osPeak() int64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return int64(ru.Maxrss)
}
