// Package procmem reads the process's resident memory from /proc the way
// the C replayer (replay.c) does, so Go and C figures mean the same thing.
// Where /proc is missing (not Linux) or not writable, the figures are -1.
package procmem

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// ResetPeakRSS sets the kernel's RSS high-water mark (VmHWM) to the current
// RSS, so that VmHWM read after the loop is the loop's own peak. It reports
// whether the reset worked.
func ResetPeakRSS() bool {
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	_, werr := f.WriteString("5")
	cerr := f.Close()
	return werr == nil && cerr == nil
}

// StatusKB returns the value in KiB of the line "key: N kB" of
// /proc/self/status, or -1.
func StatusKB(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	prefix := []byte(key + ":")
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), prefix); ok {
			v, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
			if err != nil {
				return -1
			}
			return v
		}
	}
	return -1
}
