package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// The process's resident memory, read the way replay.c reads it, so that
// the figures of the Go and C replayers mean the same thing. Where /proc
// is missing (not Linux) or not writable, the figures are -1.

// resetPeakRSS sets the kernel's RSS high-water mark (VmHWM) to the current
// RSS, so that VmHWM read later is the peak since now. It reports whether
// the reset worked.
func resetPeakRSS() bool {
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	_, werr := f.WriteString("5")
	cerr := f.Close()
	return werr == nil && cerr == nil
}

// statusKB returns the value in KiB of the line "key: N kB" of
// /proc/self/status, or -1.
func statusKB(key string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
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
