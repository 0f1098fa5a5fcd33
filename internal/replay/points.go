package replay

import "fmt"

// dumpPoints validates opt.StatsAt against a trace of nops ops and returns
// the ops after which Run dumps: StatsAt, plus the last op when StatsAtEnd
// asks for it and StatsAt does not already end there. Run cuts its timed
// loop at these ops.
func dumpPoints(name string, nops int, opt Options) ([]int, error) {
	for i, n := range opt.StatsAt {
		bad := func(why string, args ...any) error {
			return fmt.Errorf("replay: %s: Options.StatsAt[%d] = %d: %s", name, i, n, fmt.Sprintf(why, args...))
		}
		switch {
		case n < 1:
			return nil, bad("ops are counted from 1")
		case n > nops:
			return nil, bad("past the last op (the trace has %d ops)", nops)
		case i > 0 && n <= opt.StatsAt[i-1]:
			return nil, bad("not after the previous point %d (points must be strictly ascending)", opt.StatsAt[i-1])
		}
	}
	cuts := opt.StatsAt
	if opt.StatsAtEnd && (len(cuts) == 0 || cuts[len(cuts)-1] != nops) {
		cuts = append(cuts[:len(cuts):len(cuts)], nops) // never into the caller's array
	}
	if len(cuts) > 0 && opt.Stats == nil {
		return nil, fmt.Errorf("replay: %s: statistics dumps asked for, but Options.Stats is nil", name)
	}
	return cuts, nil
}
