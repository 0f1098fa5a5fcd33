package bench

import (
	"slices"
)

// Stat summarises one metric over the runs of a group: the machine is
// shared and noisy, so every figure is a median, shown with the range.
type Stat struct {
	Runs             int
	Median, Min, Max float64
}

// median of xs, which must be sorted and non-empty; the mean of the two
// middle values for an even count.
func median(xs []float64) float64 {
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// summarize returns the Stat of xs (not modified); zero for no values.
func summarize(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Stat{Runs: len(s), Median: median(s), Min: s[0], Max: s[len(s)-1]}
}

// Group is the runs of one kind of measurement, one trace (empty but for
// replays) and one backend. Runs counts its records, whatever figures
// each reported, so that a file cut short shows as a group with too few.
type Group struct {
	Kind, Trace, Backend string
	Runs                 int
	Metrics              map[string]Stat
}

// Metric returns the group's Stat for name, and whether it has one.
func (g Group) Metric(name string) (Stat, bool) {
	s, ok := g.Metrics[name]
	return s, ok && s.Runs > 0
}

// derived adds the figures computed from a record's own keys: for a
// replay, the resident bytes per requested byte (the RSS growth during
// the loop over the trace's peak of live requested bytes) and the peak
// RSS in MiB.
func derived(r Record) map[string]float64 {
	out := map[string]float64{}
	if kb, ok := r.Float("replay_rss_kb"); ok && kb >= 0 {
		if peak, ok := r.Float("peak_live_bytes"); ok && peak > 0 {
			out["resident_per_requested"] = kb * 1024 / peak
		}
	}
	if kb, ok := r.Float("rss_peak_kb"); ok && kb >= 0 {
		out["rss_peak_mib"] = kb / 1024
	}
	return out
}

// Summarize groups records by kind, trace and backend, in the order the
// groups first appear, and summarises every numeric key (and the derived
// figures) of each group. Records without a kind are replays, as the C
// replayer's lines are.
func Summarize(recs []Record) []Group {
	type key struct{ kind, trace, backend string }
	var order []key
	values := map[key]map[string][]float64{}
	runs := map[key]int{}
	for _, r := range recs {
		k := key{r.Get("kind"), r.Get("trace"), r.Get("backend")}
		if k.kind == "" {
			k.kind = "replay"
		}
		if k.trace != "" {
			k.trace = TraceName(k.trace)
		}
		m, ok := values[k]
		if !ok {
			m = map[string][]float64{}
			values[k] = m
			order = append(order, k)
		}
		runs[k]++
		for _, name := range r.Keys() {
			if name == "round" {
				continue // which run, not a figure
			}
			if v, ok := r.Float(name); ok {
				m[name] = append(m[name], v)
			}
		}
		for name, v := range derived(r) {
			m[name] = append(m[name], v)
		}
	}
	groups := make([]Group, len(order))
	for i, k := range order {
		g := Group{Kind: k.kind, Trace: k.trace, Backend: k.backend, Runs: runs[k], Metrics: map[string]Stat{}}
		for name, xs := range values[k] {
			g.Metrics[name] = summarize(xs)
		}
		groups[i] = g
	}
	return groups
}

// Find returns the group of kind, trace and backend.
func Find(groups []Group, kind, trace, backend string) (Group, bool) {
	for _, g := range groups {
		if g.Kind == kind && g.Trace == trace && g.Backend == backend {
			return g, true
		}
	}
	return Group{}, false
}
