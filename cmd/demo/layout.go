package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// A layout is a named obmalloc.Config: the shape of the heap an
// experiment, a picture or a dump runs on. Layouts are written on the
// command line either as the name of a CPython version whose 64-bit
// layout it was, or as key=value pairs over the 3.11 layout:
//
//	3.11   16-byte alignment, 512-byte threshold, 16 KiB pools, 1 MiB arenas (3.10 and later)
//	3.9    16 KiB pools -> 4 KiB, 1 MiB arenas -> 256 KiB (3.8 and 3.9)
//	3.7    as 3.9, with 8-byte alignment: 64 size classes (3.7 and earlier)
//	align=8,threshold=256,pool=4k,arena=256k,arenas=release
type layout struct {
	name string
	cfg  obmalloc.Config
}

// layoutPresets are the CPython versions whose 64-bit layouts differ
// (../shared/docs/cpython-obmalloc.md §13); the versions in between share
// a preset.
var layoutPresets = []struct {
	names []string
	cfg   obmalloc.Config
	about string
}{
	{[]string{"3.11", "3.10", "3.12"}, obmalloc.Config{}, "16 KiB pools, 1 MiB arenas, 16-byte alignment (3.10 and later)"},
	{[]string{"3.9", "3.8"}, obmalloc.Config{PoolSize: 4 << 10, ArenaSize: 256 << 10}, "4 KiB pools, 256 KiB arenas, 16-byte alignment (3.8, 3.9)"},
	{[]string{"3.7"}, obmalloc.Config{Alignment: 8, PoolSize: 4 << 10, ArenaSize: 256 << 10}, "4 KiB pools, 256 KiB arenas, 8-byte alignment: 64 classes (3.7 and earlier)"},
}

// layoutHelp is the flag documentation shared by the subcommands that
// take -layout.
const layoutHelp = `    -layout L       the heap's layout: 3.11 (default; also 3.10, 3.12), 3.9
                    (also 3.8: 4 KiB pools, 256 KiB arenas), 3.7 (3.9 with
                    8-byte alignment), or key=value pairs over 3.11, e.g.
                    align=8,threshold=256,pool=4k,arena=256k,arenas=release
`

// parseLayout reads a preset name or a key=value list. The Config is
// validated, so that a bad layout is refused with obmalloc's own message
// (which names the field and the rule) before any work starts.
func parseLayout(s string) (layout, error) {
	for _, p := range layoutPresets {
		for _, n := range p.names {
			if s == n {
				return layout{name: s, cfg: p.cfg}, nil
			}
		}
	}
	if !strings.Contains(s, "=") {
		return layout{}, fmt.Errorf("unknown layout %q: want 3.12, 3.11, 3.10, 3.9, 3.8, 3.7 or key=value pairs (align, threshold, pool, arena, arenas)", s)
	}
	var cfg obmalloc.Config
	given := map[string]string{} // key -> its first key=value
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		// A key given twice would let the last value win unseen, which
		// is never what "align=8,...,align=16" meant.
		if first, dup := given[k]; dup {
			return layout{}, fmt.Errorf("layout %q: key %s given twice (%s, then %s)", s, k, first, kv)
		}
		given[k] = kv
		if k == "arenas" {
			p, err := obmalloc.ParseArenaPolicy(v)
			if err != nil {
				return layout{}, fmt.Errorf("layout %q: arenas=%q: want keep or release", s, v)
			}
			cfg.Policy = p
			continue
		}
		field := map[string]*uintptr{
			"align": &cfg.Alignment, "threshold": &cfg.Threshold,
			"pool": &cfg.PoolSize, "arena": &cfg.ArenaSize,
		}[k]
		if field == nil {
			return layout{}, fmt.Errorf("layout %q: unknown key %q (want align, threshold, pool, arena or arenas)", s, k)
		}
		n, err := parseBytes(v)
		if err != nil {
			return layout{}, fmt.Errorf("layout %q: %s=%q: %v", s, k, v, err)
		}
		*field = n
	}
	if err := cfg.Validate(); err != nil {
		return layout{}, fmt.Errorf("layout %q: %v", s, err)
	}
	return layout{name: s, cfg: cfg}, nil
}

// parseBytes reads a size: a decimal number with an optional k or m
// (KiB, MiB) suffix, as "4k" or "256K" or "1m".
func parseBytes(s string) (uintptr, error) {
	mult := uint64(1)
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "m"), strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("want a positive number of bytes, optionally with k or m")
	}
	return uintptr(n * mult), nil
}

// describe says in words what a Config is, defaults filled in.
func describe(cfg obmalloc.Config) string {
	return fmt.Sprintf("%s pools, %s arenas, %d-byte alignment, threshold %d (%s), arenas %s",
		sizeName(cfg.PoolSize), sizeName(cfg.ArenaSize), cfg.Alignment, cfg.Threshold,
		count(int(cfg.Threshold/cfg.Alignment), "class"), cfg.Policy)
}

// sizeName prints a power-of-two size the way the docs write it.
func sizeName(n uintptr) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
