package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// heapSource is the part of the command line that stats and heapmap
// share: which heap to show. Either the built-in workload (workload.go)
// or a trace replayed up to a chosen op, on a chosen layout.
type heapSource struct {
	trace   string
	stopAt  string
	layout  string
	arenas  string
	objects int
	fs      *flag.FlagSet // the flags were registered on (nil in tests)
}

// heapSourceSynopsis and heapSourceHelp document the flags for usages.
const heapSourceSynopsis = "[-trace FILE [-stop-at N|peak|end]] [-objects N]" + synopsisBreak +
	"[-layout L] [-arenas keep|release]"

const heapSourceHelp = `    -trace FILE     replay this CPython allocation trace
                    (../shared/traces/FORMAT.md) instead of the built-in
                    workload
    -stop-at N      stop the replay after op N (counted from 1), or at the
                    peak of the trace's live bytes (peak), or at its end
                    (end, the default)
    -objects N      objects the built-in workload builds (default 100000):
                    it builds them, frees two in three at random, then
                    builds a quarter as many again
` + layoutHelp + `    -arenas POLICY  keep (default): never unmap an arena; release: unmap a
                    wholly free arena, as CPython does (overrides the layout's)
`

func (s *heapSource) register(fs *flag.FlagSet) {
	s.fs = fs
	fs.StringVar(&s.trace, "trace", "", "")
	fs.StringVar(&s.stopAt, "stop-at", "", "")
	fs.StringVar(&s.layout, "layout", "3.11", "")
	fs.StringVar(&s.arenas, "arenas", "", "")
	fs.IntVar(&s.objects, "objects", 100000, "")
}

// config checks the flags that need no file and returns the layout.
func (s *heapSource) config() (layout, error) {
	if s.stopAt != "" && s.trace == "" {
		return layout{}, errors.New("-stop-at needs -trace")
	}
	// The trace replaces the workload, so -objects would be ignored.
	if s.trace != "" && s.fs != nil && flagGiven(s.fs, "objects") {
		return layout{}, fmt.Errorf("-objects %d with -trace %s: -objects sizes the built-in workload, which the trace replaces", s.objects, s.trace)
	}
	if s.objects < 0 {
		return layout{}, fmt.Errorf("-objects %d: want 0 or more", s.objects)
	}
	l, err := parseLayout(s.layout)
	if err != nil {
		return layout{}, fmt.Errorf("-layout: %v", err)
	}
	if s.arenas != "" {
		p, err := obmalloc.ParseArenaPolicy(s.arenas)
		if err != nil {
			return layout{}, fmt.Errorf("-arenas %q: want keep or release", s.arenas)
		}
		l.cfg.Policy = p
	}
	return l, nil
}

// shownHeap is a heap in the state asked for, with a line that says what
// it is, and what to call when done with it.
type shownHeap struct {
	h     *obmalloc.Heap
	what  string
	close func() error
}

// errUsage marks an error that is the command line's fault (exit status
// 2), as opposed to a failure of the work (1).
type errUsage struct{ error }

// build makes the heap. Problems with the input (a bad trace file, a stop
// past its end) are errUsage.
func (s *heapSource) build(l layout, p *progress) (*shownHeap, error) {
	if s.trace == "" {
		h, err := obmalloc.New(l.cfg)
		if err != nil {
			return nil, err
		}
		live := runWorkload(h, s.objects)
		return &shownHeap{
			h: h,
			what: fmt.Sprintf("built-in workload: %s built, two in three freed, %s more built; %s live",
				count(s.objects, "object"), withCommas(uint64(s.objects/4)), withCommas(uint64(len(live)))),
			close: h.Close,
		}, nil
	}
	t, err := loadTrace(s.trace, p)
	if err != nil {
		return nil, errUsage{err}
	}
	stop, err := resolveStop(t, s.stopAt)
	if err != nil {
		return nil, errUsage{fmt.Errorf("-stop-at: %v (%s)", err, s.trace)}
	}
	r, err := newTraceRun(t, l.cfg)
	if err != nil {
		return nil, err
	}
	p.start("replaying " + t.Name)
	err = r.runTo(stop, p)
	p.finish()
	if err != nil {
		return nil, errors.Join(err, r.close())
	}
	return &shownHeap{
		h: r.h,
		what: fmt.Sprintf("trace %s after op %s of %s (%s live)", t.Name, withCommas(uint64(stop)),
			withCommas(uint64(len(t.Ops))), count(r.h.AllocatedBlocks(), "block")),
		close: r.close,
	}, nil
}
