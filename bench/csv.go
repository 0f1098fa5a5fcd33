package bench

import (
	"encoding/csv"
	"io"
	"slices"
	"strconv"
)

// WriteCSV writes every summarised figure, one row per group and metric,
// for spreadsheets and scripts: kind, trace, backend, metric, runs,
// median, min, max. Groups keep their order, metrics are sorted by name.
func WriteCSV(w io.Writer, groups []Group) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"kind", "trace", "backend", "metric", "runs", "median", "min", "max"}); err != nil {
		return err
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, g := range groups {
		names := make([]string, 0, len(g.Metrics))
		for name := range g.Metrics {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			s := g.Metrics[name]
			row := []string{g.Kind, g.Trace, g.Backend, name, strconv.Itoa(s.Runs), num(s.Median), num(s.Min), num(s.Max)}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
