package replay

import (
	"io"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// Options choose how a trace is replayed. The zero value replays with the
// default arena policy (keep), touching every block, without dumps.
type Options struct {
	// Policy for arenas whose pools have all become free.
	Policy obmalloc.ArenaPolicy
	// NoTouch skips writing the first and last byte of each new block
	// (replay.c's --no-touch).
	NoTouch bool
	// StatsAt are op numbers, counted from 1 over the m, c, r and f lines,
	// strictly ascending, each at most the number of ops. After op N, Run
	// writes "=== stats after op N" and the heap's dump to Stats.
	StatsAt []int
	// StatsAtEnd dumps after the last op too (once, if StatsAt already
	// ends there), before the live blocks are freed.
	StatsAtEnd bool
	// Stats receives the dumps; it must not be nil when a dump is asked for.
	Stats io.Writer
	// HugePages puts the arenas on transparent huge pages
	// (obmalloc.HugePageArenas) instead of one mmap each. The replays of
	// a process share one such allocator: a later replay reuses the
	// arenas of an earlier one, whose huge pages were decommitted whole
	// when its heap closed, so they fault in afresh, as huge pages.
	HugePages bool
	// Prefault has the page faults of the heap's growth taken by
	// background goroutines (obmalloc.Config.Prefault) instead of in the
	// replay loop, where CPython takes them.
	Prefault bool
}

var hugePageArenas obmalloc.HugePageArenas
