package replay

import (
	"fmt"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// Result is what one replay measured. Its String is one line of key=value
// pairs, with the keys of replay.c's output line, so the two can be read by
// the same scripts.
type Result struct {
	Trace   string  // the trace's name (pytrace.Trace.Name)
	Ops     int     // ops replayed
	Seconds float64 // time in the replay loop, dumps excluded
	NsPerOp float64 // Seconds / Ops, in nanoseconds

	// PeakLiveBytes and PeakLiveBlocks describe the trace (requested
	// sizes), not the allocator: the same for every replayer.
	PeakLiveBytes  uint64
	PeakLiveBlocks uint64
	// LiveAtEnd is the number of blocks the traced program never freed;
	// the heap held exactly that many after the last op.
	LiveAtEnd int

	// RSS of the whole process in KiB, -1 where it cannot be read (not
	// Linux, or the high-water mark could not be reset): RSSBeforeKB just
	// before the loop, RSSPeakKB the high-water mark during it, and
	// ReplayRSSKB the difference, the memory the replay itself made
	// resident. Off linux RSSPeakKB is the peak the OS keeps for the
	// process (getrusage, or the peak working set on windows) when the
	// loop raised it, and -1 when it did not.
	RSSBeforeKB int64
	RSSPeakKB   int64
	ReplayRSSKB int64

	Touch  bool
	Policy obmalloc.ArenaPolicy
	// HugePages says that Options.HugePages asked for huge-page arenas,
	// HugePagesAdvised that the system took the advice for the latest
	// reservation of the process's shared HugePageArenas (linux with
	// transparent huge pages; elsewhere the arenas are small pages).
	HugePages, HugePagesAdvised bool
	// Prefault says that Options.Prefault was set.
	Prefault bool

	// Dumps is the number of statistics dumps written and DumpSeconds the
	// time they took, outside Seconds.
	Dumps       int
	DumpSeconds float64
}

// String formats r as "backend=gopymalloc trace=NAME ops=N seconds=S
// ns_per_op=X peak_live_bytes=N rss_peak_kb=N" followed by the other
// fields as key=value pairs.
func (r Result) String() string {
	touch := 0
	if r.Touch {
		touch = 1
	}
	s := fmt.Sprintf("backend=gopymalloc trace=%s ops=%d seconds=%.6f ns_per_op=%.2f peak_live_bytes=%d rss_peak_kb=%d"+
		" peak_live_blocks=%d live_at_end=%d rss_before_kb=%d replay_rss_kb=%d touch=%d arenas=%s",
		r.Trace, r.Ops, r.Seconds, r.NsPerOp, r.PeakLiveBytes, r.RSSPeakKB,
		r.PeakLiveBlocks, r.LiveAtEnd, r.RSSBeforeKB, r.ReplayRSSKB, touch, r.Policy)
	if r.HugePages {
		advised := 0
		if r.HugePagesAdvised {
			advised = 1
		}
		s += fmt.Sprintf(" hugepages=%d", advised)
	}
	if r.Prefault {
		s += " prefault=1"
	}
	if r.Dumps > 0 {
		s += fmt.Sprintf(" dumps=%d dump_seconds=%.6f", r.Dumps, r.DumpSeconds)
	}
	return s
}
