package bench

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Record is what one run measured: one line of key=value pairs, the
// format of replay.c's output line, so that the C replayers' lines, the
// Go replays' and the workloads' are read, stored and summarised alike.
// Keys keep the order in which they were set (or parsed).
type Record struct {
	keys []string
	vals map[string]string
}

// Set sets key to value; a new key goes last.
func (r *Record) Set(key, value string) {
	if r.vals == nil {
		r.vals = map[string]string{}
	}
	if _, ok := r.vals[key]; !ok {
		r.keys = append(r.keys, key)
	}
	r.vals[key] = value
}

// SetFloat sets key to v with the given number of decimals.
func (r *Record) SetFloat(key string, v float64, decimals int) {
	r.Set(key, strconv.FormatFloat(v, 'f', decimals, 64))
}

// SetInt sets key to v.
func (r *Record) SetInt(key string, v int64) { r.Set(key, strconv.FormatInt(v, 10)) }

// Get returns key's value, or "".
func (r Record) Get(key string) string { return r.vals[key] }

// Float returns key's value as a number, and false when it is missing or
// not a number.
func (r Record) Float(key string) (float64, bool) {
	v, err := strconv.ParseFloat(r.vals[key], 64)
	return v, err == nil
}

// Keys returns the keys in order.
func (r Record) Keys() []string { return append([]string(nil), r.keys...) }

// String formats the record as "k1=v1 k2=v2 ...".
func (r Record) String() string {
	var b strings.Builder
	for i, k := range r.keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(r.vals[k])
	}
	return b.String()
}

// ParseRecord parses a line of key=value pairs separated by single
// spaces. Values cannot contain spaces; neither replayer writes any.
func ParseRecord(line string) (Record, error) {
	var r Record
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return Record{}, fmt.Errorf("%q: not key=value", f)
		}
		if _, dup := r.vals[k]; dup {
			return Record{}, fmt.Errorf("key %q twice", k)
		}
		r.Set(k, v)
	}
	if len(r.keys) == 0 {
		return Record{}, fmt.Errorf("empty record")
	}
	return r, nil
}

// TraceName is the trace's name as both replayers should report it: the
// C replayer writes the path it was given, ours the base name without
// ".trace.gz".
func TraceName(path string) string {
	base := filepath.Base(path)
	for _, suffix := range []string{".trace.gz", ".gz", ".trace"} {
		if s, ok := strings.CutSuffix(base, suffix); ok {
			return s
		}
	}
	return base
}
