package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Job is one measurement, run once per round in a process of its own.
type Job struct {
	Label string   // for progress lines
	Argv  []string // the command and its arguments
	// Set are keys added to the record the command prints (kind, and for
	// the C replayers the backend's name here); they replace the
	// command's own value of a key.
	Set map[string]string
}

// Runner runs jobs round by round.
type Runner struct {
	Rounds   int
	Progress io.Writer // a line per run, or nil
	Raw      io.Writer // every record as measured, or nil
	Stderr   io.Writer // the children's standard error, or nil for os.Stderr
	// IdleWait, if positive, is how long to wait before each run for the
	// machine to be idle (less than a quarter of a core busy over 250 ms);
	// the run starts anyway when the wait is over. Each record gets the
	// busy CPUs of the last sample (busy_cpus_before).
	IdleWait time.Duration
}

// Run runs every job once per round. Jobs come in sets that compete (the
// backends on one trace): within a round each set runs in turn, its jobs
// one after the other starting at a different job each round, so that no
// backend always runs first and a slow stretch of a machine whose speed
// drifts falls on each of them in turn. The order is rotated, not
// shuffled: a job follows the same neighbour in every round but the one
// it starts. Each record gets its round (from 1).
func (rn Runner) Run(sets [][]Job) ([]Record, error) {
	var recs []Record
	for round := 1; round <= rn.Rounds; round++ {
		for _, set := range sets {
			for i := range set {
				job := set[(i+round-1)%len(set)]
				busy := -1.0
				if rn.IdleWait > 0 {
					busy = waitIdle(rn.IdleWait, runtime.NumCPU())
				}
				rec, err := rn.runOne(job)
				if err != nil {
					return recs, fmt.Errorf("round %d: %s: %w", round, job.Label, err)
				}
				rec.SetInt("round", int64(round))
				if busy >= 0 {
					rec.SetFloat("busy_cpus_before", busy, 2)
				}
				if l := loadAverage(); l != "" {
					rec.Set("load1", l)
				}
				if rn.Raw != nil {
					if _, err := fmt.Fprintln(rn.Raw, rec); err != nil {
						return recs, err
					}
				}
				if rn.Progress != nil {
					fmt.Fprintf(rn.Progress, "round %d/%d  %-40s %s\n", round, rn.Rounds, job.Label, headline(rec))
				}
				recs = append(recs, rec)
			}
		}
	}
	return recs, nil
}

// runOne runs a job's command and parses the last line it printed.
func (rn Runner) runOne(job Job) (Record, error) {
	cmd := exec.Command(job.Argv[0], job.Argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = rn.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Run(); err != nil {
		return Record{}, fmt.Errorf("%s: %w", strings.Join(job.Argv, " "), err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	rec, err := ParseRecord(lines[len(lines)-1])
	if err != nil {
		return Record{}, fmt.Errorf("%s printed %q: %w", job.Argv[0], out.String(), err)
	}
	for k, v := range job.Set {
		rec.Set(k, v)
	}
	if t := rec.Get("trace"); t != "" {
		rec.Set("trace", TraceName(t))
	}
	return rec, nil
}

// loadAverage is the machine's one-minute load average after a run, from
// /proc/loadavg, or "": on a shared machine it says how busy the other
// core was while the figures were taken.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(data), " ")
	return first
}

// headline is the figure a progress line shows.
func headline(r Record) string {
	for _, k := range []string{"ns_per_op", "gc_ms", "resident_per_requested"} {
		if v := r.Get(k); v != "" {
			return k + "=" + v
		}
	}
	return ""
}

// ReadRecords reads records written by a Runner's Raw: one per line,
// lines starting with '#' are comments and are returned apart.
func ReadRecords(r io.Reader) (recs []Record, comments []string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			comments = append(comments, line)
		default:
			rec, err := ParseRecord(line)
			if err != nil {
				return nil, nil, fmt.Errorf("line %d: %w", n, err)
			}
			recs = append(recs, rec)
		}
	}
	return recs, comments, sc.Err()
}

// ReplayerName is the backend name of an external C replayer: "c-" and
// its binary's name without "replay-" (replay-pymalloc is c-pymalloc).
func ReplayerName(path string) string {
	base := path[strings.LastIndexByte(path, '/')+1:]
	return "c-" + strings.TrimPrefix(base, "replay-")
}
