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

// Loop holds the readings taken as a measured loop starts, the way
// replay.c takes them: VmHWM reset to the current RSS, the RSS, and the
// peak. StartLoop takes them; End takes the peak again and returns the
// figures a replay records. Both replayers (internal/replay's and the
// bench module's) measure their loops with it, so their figures mean the
// same.
type Loop struct {
	reset         bool  // VmHWM was reset: the end's peak is the loop's own
	before, peak0 int64 // KiB, -1 where unread
}

// StartLoop resets the RSS high-water mark and reads the RSS and the peak.
// Call it right before the loop, after any collection of earlier garbage.
func StartLoop() Loop {
	reset := ResetPeakRSS()
	before := StatusKB("VmRSS")
	peak0, _ := PeakRSSKB()
	return Loop{reset: reset, before: before, peak0: peak0}
}

// End reads the peak after the loop and returns, in KiB, the RSS before
// the loop, the loop's peak and its growth (peak less before), each -1
// where this system cannot measure it (see loopFigures).
func (l Loop) End() (before, peak, growth int64) {
	peak1, _ := PeakRSSKB()
	peak, growth = loopFigures(l.reset, l.before, l.peak0, peak1)
	return l.before, peak, growth
}

// loopFigures is End's arithmetic: the peak as SpanPeak keeps it, and the
// growth only where VmHWM was reset, since only then is the peak the
// loop's and comparable with the RSS before it.
func loopFigures(reset bool, before, peak0, peak1 int64) (peak, growth int64) {
	peak, growth = SpanPeak(reset, peak0, peak1), -1
	if reset && peak1 >= 0 && before >= 0 {
		growth = peak1 - before
	}
	return peak, growth
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
