// Package procmem reads the process's resident memory from /proc the way
// the C replayer (replay.c) does, so Go and C figures mean the same thing.
// Where /proc is missing (not Linux) or not writable, the figures are -1,
// except the peak: PeakRSSKB falls back on the peak that the OS keeps for
// the process (getrusage, or the peak working set on windows).
package procmem

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
)

// PeakRSSKB returns the process's peak resident set in KiB, or -1 where
// the system reports none, and whether it is its own: VmHWM where /proc
// has it (own: the peak since ResetPeakRSS if that worked, else since the
// process's exec), else the peak the OS keeps for the process (getrusage's
// ru_maxrss on darwin and the BSDs, PeakWorkingSetSize on windows), which
// nothing can reset and which may count pages that were never this
// program's: on linux, after a vfork and exec (how Go starts a child
// there), ru_maxrss starts from the parent's peak. A caller that cannot
// use such a figure as it is can keep it only when it rose over the span
// measured: the peak was then reached within the span.
func PeakRSSKB() (kb int64, own bool) {
	if kb := StatusKB("VmHWM"); kb >= 0 {
		return kb, true
	}
	return peakKB(runtime.GOOS, osPeak()), false
}

// peakKB converts the peak resident set that goos's kernel reports (see
// osPeak) into KiB, or returns -1 where goos reports none or the figure is
// not above 0 (a kernel that does not keep it leaves 0). ru_maxrss is in
// bytes on darwin and ios and in KiB on linux and the BSDs;
// PeakWorkingSetSize is in bytes.
func peakKB(goos string, v int64) int64 {
	if v <= 0 {
		return -1
	}
	switch goos {
	case "darwin", "ios", "windows":
		return (v + 1023) / 1024 // rounded up; a whole number of pages divides exactly
	case "linux", "android", "freebsd", "netbsd", "openbsd", "dragonfly":
		return v
	}
	return -1
}

// SpanPeak returns the peak RSS in KiB to record for a span of work, from
// PeakRSSKB read at the span's start and at its end (-1: none). The end's
// reading stands as it is when whole: VmHWM reset at the start (a
// replay's loop), or VmHWM as this process's peak since its exec (a
// figure meant for the whole process). Otherwise it counts only if it
// rose over the span, which puts the peak inside the span: a figure that
// did not rise may be earlier work's, or even the parent's (linux's
// ru_maxrss after a vfork and exec), so the result is then -1.
func SpanPeak(whole bool, start, end int64) int64 {
	if end >= 0 && (whole || start >= 0 && end > start) {
		return end
	}
	return -1
}

// ResetPeakRSS sets the kernel's RSS high-water mark (VmHWM) to the current
// RSS, so that VmHWM read after the loop is the loop's own peak. It reports
// whether the reset worked (never off linux).
func ResetPeakRSS() bool {
	if !procfs {
		return false
	}
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	_, werr := f.WriteString("5")
	cerr := f.Close()
	return werr == nil && cerr == nil
}

// procfs says whether /proc/self is this process's, as on linux. Elsewhere
// the path may still open: on windows "/proc/self/status" is a file of
// the current drive, and under Wine that drive maps the host's root, so
// that the file read is the Wine server's (its RSS stays put whatever the
// program maps).
const procfs = runtime.GOOS == "linux" || runtime.GOOS == "android"

// StatusKB returns the value in KiB of the line "key: N kB" of
// /proc/self/status, or -1 (always off linux).
func StatusKB(key string) int64 {
	if !procfs {
		return -1
	}
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
