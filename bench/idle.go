package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// On a shared two-core machine another program's burst of work takes the
// core that the collector, or the measured process itself, would have had.
// A runner can therefore wait, before each run, until the machine is
// nearly idle (Runner.IdleWait), and records how busy it was.

// cpuTimes returns the busy and total jiffies of all CPUs from the first
// line of /proc/stat.
func cpuTimes() (busy, total uint64, err error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, errors.New("/proc/stat: empty")
	}
	return parseCPULine(sc.Text())
}

// parseCPULine reads /proc/stat's "cpu" line: user, nice, system, idle,
// iowait, irq, softirq, steal, then guest and guest_nice, which the
// kernel already counts in user and nice and so are left out. Busy is
// everything but idle and iowait.
func parseCPULine(line string) (busy, total uint64, err error) {
	fields := strings.Fields(line)
	if len(fields) < 6 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: %q: not the cpu line", line)
	}
	for i, f := range fields[1:min(len(fields), 9)] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %q: field %d: %w", line, i+1, err)
		}
		total += v
		if i != 3 && i != 4 { // idle and iowait
			busy += v
		}
	}
	return busy, total, nil
}

// busyCPUs returns how many CPUs were busy, on average, during the next
// interval: 0 on an idle machine, 2 when both cores of this one work.
func busyCPUs(interval time.Duration, ncpu int) (float64, error) {
	b0, t0, err := cpuTimes()
	if err != nil {
		return 0, err
	}
	time.Sleep(interval)
	b1, t1, err := cpuTimes()
	if err != nil {
		return 0, err
	}
	if t1 == t0 {
		return 0, nil
	}
	return float64(b1-b0) / float64(t1-t0) * float64(ncpu), nil
}

// idleThreshold is the busy CPUs below which the machine counts as idle:
// a quarter of a core leaves room for the system's own chatter.
const idleThreshold = 0.25

// waitIdle waits until the machine is idle, at most max, and returns the
// busy CPUs of the last sample (-1 where /proc/stat cannot be read).
func waitIdle(max time.Duration, ncpu int) float64 {
	deadline := time.Now().Add(max)
	for {
		b, err := busyCPUs(250*time.Millisecond, ncpu)
		if err != nil {
			return -1
		}
		if b < idleThreshold || time.Now().After(deadline) {
			return b
		}
		time.Sleep(750 * time.Millisecond)
	}
}
