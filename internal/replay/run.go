package replay

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/gopymalloc/gopymalloc/internal/procmem"
	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// Run replays t once through a new heap with CPython 3.11's layout and
// opt's arena policy, and reports what it measured (see the package
// documentation for the method). It fails, after cleaning up, if opt is
// invalid, if an allocation returns nil, if the heap does not hold exactly
// the trace's live blocks at a dump or at the end, if a dump cannot be
// written, or if the heap's invariants are broken once every block is
// freed.
func Run(t *pytrace.Trace, opt Options) (res Result, err error) {
	cuts, err := dumpPoints(t.Name, len(t.Ops), opt)
	if err != nil {
		return Result{}, err
	}
	// The blocks the heap must hold at each dump, computed before timing.
	var liveAt []uint64
	if len(cuts) > 0 {
		liveAt = t.LiveAfter(cuts)
	}

	// A new large-block allocator too, so that the replay starts from an
	// empty heap as replay.c's one replay per process does.
	cfg := obmalloc.Config{Policy: opt.Policy, Prefault: opt.Prefault}
	if opt.HugePages {
		cfg.Arenas = &hugePageArenas
	}
	h, err := obmalloc.New(cfg)
	if err != nil {
		return Result{}, fmt.Errorf("replay: %s: %w", t.Name, err)
	}
	table, err := newIDTable(t.MaxID)
	if err != nil {
		return Result{}, errors.Join(fmt.Errorf("replay: %s: %w", t.Name, err), h.Close())
	}
	pos := 0 // ops replayed so far
	defer func() {
		// On success the checks are part of the replay; after a failure
		// only the cleanup matters.
		terr := teardown(h, t.Ops[:pos], table, err == nil)
		if terr != nil {
			err = errors.Join(err, fmt.Errorf("replay: %s: %w", t.Name, terr))
		}
	}()

	res = Result{
		Trace:          t.Name,
		Ops:            len(t.Ops),
		PeakLiveBytes:  t.Stats.PeakLiveBytes,
		PeakLiveBlocks: t.Stats.PeakLiveBlocks,
		LiveAtEnd:      int(t.Stats.LiveAtEnd),
		Touch:          !opt.NoTouch,
		Policy:         opt.Policy,
		HugePages:      opt.HugePages,
		Prefault:       opt.Prefault,
		RSSBeforeKB:    -1,
		RSSPeakKB:      -1,
		ReplayRSSKB:    -1,
	}

	// Collect the loader's garbage and hand its pages back now, so that
	// neither a collection nor the scavenger runs during the loop and the
	// RSS figures start from a clean heap.
	debug.FreeOSMemory()
	rss := procmem.StartLoop()

	var loop, dumping time.Duration
	fails := 0
	for i := 0; ; i++ {
		end := len(t.Ops)
		if i < len(cuts) {
			end = cuts[i]
		}
		start := time.Now()
		fails += replayOps(h, t.Callocs, table, t.Ops[pos:end], res.Touch)
		loop += time.Since(start)
		pos = end
		if i == len(cuts) {
			break
		}
		if fails > 0 {
			return res, fmt.Errorf("replay: %s: %d allocations returned nil by op %d", t.Name, fails, end)
		}
		start = time.Now()
		if err := dump(h, opt.Stats, end, liveAt[i]); err != nil {
			return res, fmt.Errorf("replay: %s: %w", t.Name, err)
		}
		dumping += time.Since(start)
		res.Dumps++
	}
	res.RSSBeforeKB, res.RSSPeakKB, res.ReplayRSSKB = rss.End()

	res.Seconds = loop.Seconds()
	if res.Ops > 0 {
		res.NsPerOp = float64(loop.Nanoseconds()) / float64(res.Ops)
	}
	res.DumpSeconds = dumping.Seconds()
	if opt.HugePages {
		res.HugePagesAdvised, _ = hugePageArenas.Advised()
	}
	if fails > 0 {
		return res, fmt.Errorf("replay: %s: %d allocations returned nil", t.Name, fails)
	}
	if n := h.AllocatedBlocks(); n != res.LiveAtEnd {
		return res, fmt.Errorf("replay: %s: after the last op the heap holds %d blocks, but %d blocks of the trace are live",
			t.Name, n, res.LiveAtEnd)
	}
	return res, nil
}

// dump writes "=== stats after op N" and the heap's statistics to w, after
// checking that the heap holds exactly the live blocks of the trace, as
// replay.c checks pymalloc's own count at each dump.
func dump(h *obmalloc.Heap, w io.Writer, op int, live uint64) error {
	if n := h.AllocatedBlocks(); uint64(n) != live {
		return fmt.Errorf("after op %d the heap holds %d blocks, but %d blocks of the trace are live", op, n, live)
	}
	if _, err := fmt.Fprintf(w, "=== stats after op %d\n", op); err != nil {
		return fmt.Errorf("writing the dump after op %d: %w", op, err)
	}
	if err := h.WriteDebugMallocStats(w); err != nil {
		return fmt.Errorf("writing the dump after op %d: %w", op, err)
	}
	return nil
}

// teardown frees the blocks still live after the replayed ops done, then,
// if check, verifies that the heap is empty and consistent; it always
// closes the heap and unmaps the table.
//
// The live blocks are found in the table itself: the loop never clears a
// slot, so the slots of blocks freed or reallocated by done are cleared
// here first; what remains non-nil is live (slots of IDs not yet made, and
// of failed allocations, were never written).
func teardown(h *obmalloc.Heap, done []pytrace.Op, table idTable, check bool) error {
	for _, o := range done {
		switch {
		case o.Kind() == pytrace.Free:
			table[o.ID()] = nil
		case o.Kind() == pytrace.Realloc && o.Old() != 0:
			table[o.Old()] = nil
		}
	}
	for _, p := range table {
		if p != nil {
			h.Free(p)
		}
	}
	var errs []error
	if check {
		if n := h.AllocatedBlocks(); n != 0 {
			errs = append(errs, fmt.Errorf("after freeing every live block the heap still holds %d blocks", n))
		}
		errs = append(errs, h.Check())
	}
	errs = append(errs, h.Close(), table.release())
	return errors.Join(errs...)
}
