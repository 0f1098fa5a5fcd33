package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// residentKB is the process's resident set size (RSS) in KiB, as the
// kernel counts it: ok is false where /proc/self/status does not exist
// (every system but Linux), and the story then says so instead of
// printing a number it cannot measure.
func residentKB() (kb int64, ok bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, found := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); found {
			v, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}
