//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package procmem

// osPeak reports no peak: the system keeps none that this package reads.
func osPeak() int64 { return -1 }
