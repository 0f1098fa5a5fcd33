package replay

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// sharedDir is the shared directory beside the module (traces, fidelity
// files), relative to this package's directory, where go test runs. CI
// checks the repository out with shared/ as its sibling.
var sharedDir = filepath.Join("..", "..", "..", "shared")

// TestFidelity replays each public trace to the ops at which CPython
// 3.11.7 dumped its pymalloc statistics (fidelity/README.md) and requires
// the same per-size-class rows, and the four byte counts computed from
// them, at every point, under both arena policies. The arena-level lines
// depend on addresses and policy, so only their relations are checked;
// the end's are logged beside CPython's for a human to compare.
func TestFidelity(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(sharedDir, "traces", "*.trace.gz"))
	if len(paths) == 0 {
		abs, _ := filepath.Abs(sharedDir)
		t.Skipf("no public traces in %s/traces (the shared directory beside the repository); fidelity not checked", abs)
	}
	start := time.Now()
	t.Cleanup(func() {
		t.Logf("fidelity: %d traces × 2 policies in %v", len(paths), time.Since(start).Round(time.Millisecond))
	})
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".trace.gz")
		t.Run(name, func(t *testing.T) {
			// Traces replay independently; two at a time keep both cores
			// busy reading while memory stays at two traces.
			t.Parallel()
			fidelityOfTrace(t, name, path)
		})
	}
}

// fidelityOfTrace reads one trace and its fidelity files once and checks
// both policies against them.
func fidelityOfTrace(t *testing.T, name, path string) {
	dir := filepath.Join(sharedDir, "fidelity")
	rawPoints, err := os.ReadFile(filepath.Join(dir, name+".points"))
	if os.IsNotExist(err) {
		t.Skipf("%s: no %s.points in %s; nothing to compare with", name, name, dir)
	}
	require.NoError(t, err)
	rawDumps, err := os.ReadFile(filepath.Join(dir, name+".dumpat.txt"))
	require.NoError(t, err)
	want, err := parseSections(string(rawDumps))
	require.NoError(t, err, "%s.dumpat.txt", name)

	readStart := time.Now()
	tr, err := pytrace.ReadFile(path)
	require.NoError(t, err)
	t.Logf("%s: read %d ops in %v", name, len(tr.Ops), time.Since(readStart).Round(time.Millisecond))
	points, err := tr.ParsePoints(strings.TrimSuffix(string(rawPoints), "\n"))
	require.NoError(t, err, "%s.points", name)
	require.Equal(t, append(points, len(tr.Ops)), ops(want),
		"%s: the sections of %s.dumpat.txt are not the points and the last op", name, name)
	for _, sec := range want {
		if err := arenaRelations(sec.stats, obmalloc.ReleaseArenas); err != nil {
			t.Fatalf("%s: CPython's dump after op %d: %v (the parser misread it?)", name, sec.op, err)
		}
	}

	// The arenas on huge pages (Options.HugePages) start on pool
	// boundaries, so their arena lines differ; the rows must not. Who
	// takes the page faults (Options.Prefault) must change nothing either.
	for _, cfg := range []struct {
		policy         obmalloc.ArenaPolicy
		huge, prefault bool
	}{{obmalloc.KeepArenas, false, false}, {obmalloc.KeepArenas, false, true}, {obmalloc.ReleaseArenas, false, false}, {obmalloc.KeepArenas, true, false}} {
		policy := cfg.policy
		label := policy.String()
		if cfg.huge {
			label += "+hugepages"
		}
		if cfg.prefault {
			label += "+prefault"
		}
		t.Run(label, func(t *testing.T) {
			var out bytes.Buffer
			res, err := Run(tr, Options{Policy: policy, StatsAt: points, StatsAtEnd: true, Stats: &out, HugePages: cfg.huge, Prefault: cfg.prefault})
			require.NoError(t, err)
			t.Logf("%v", res)
			got, err := parseSections(out.String())
			require.NoError(t, err)
			require.Equal(t, ops(want), ops(got), "%s (%s): the ops of the dumps", name, label)
			for i := range want {
				if msg := compareRows(got[i], want[i]); msg != "" {
					t.Fatalf("%s (arenas %s): %s", name, label, msg)
				}
				if err := arenaRelations(got[i].stats, policy); err != nil {
					t.Errorf("%s (arenas %s): our dump after op %d: %v", name, label, got[i].op, err)
				}
			}
			t.Logf("%s (arenas %s): all %d dumps have CPython's rows; arena lines after the last op:\n%s",
				name, label, len(want), arenaLines(got[len(got)-1].stats, want[len(want)-1].stats))
		})
	}
}

// compareRows returns "" when the deterministic part of two dumps after
// the same op agree, and otherwise a message naming the op, the first
// class that differs and both rows.
func compareRows(got, want section) string {
	g, w := got.stats, want.stats
	if len(g.Classes) != len(w.Classes) || g.Threshold != w.Threshold {
		return fmt.Sprintf("after op %d: %d size classes up to %d bytes, CPython %d up to %d",
			got.op, len(g.Classes), g.Threshold, len(w.Classes), w.Threshold)
	}
	differ, first := 0, -1
	for c := range w.Classes {
		if g.Classes[c] != w.Classes[c] {
			differ++
			if first < 0 {
				first = c
			}
		}
	}
	if first >= 0 {
		return fmt.Sprintf("after op %d, class %d is the first of %d differing rows:\n  gopymalloc: %s\n  CPython:    %s",
			got.op, first, differ, row(g.Classes[first]), row(w.Classes[first]))
	}
	for _, f := range []struct {
		label     string
		got, want uintptr
	}{
		{"# bytes in allocated blocks", g.BytesInAllocatedBlocks, w.BytesInAllocatedBlocks},
		{"# bytes in available blocks", g.BytesInAvailableBlocks, w.BytesInAvailableBlocks},
		{"# bytes lost to pool headers", g.BytesLostToPoolHeaders, w.BytesLostToPoolHeaders},
		{"# bytes lost to quantization", g.BytesLostToQuantization, w.BytesLostToQuantization},
	} {
		if f.got != f.want {
			return fmt.Sprintf("after op %d, the rows agree but %q is %d, CPython's %d", got.op, f.label, f.got, f.want)
		}
	}
	return ""
}

// arenaRelations checks what fidelity/README.md says holds in every dump,
// whatever the addresses: the pools add up to the arenas, reclaimed arenas
// are the difference between total and current, and the arena bytes are
// the sum of the six lines above the first Total. Under KeepArenas no
// arena is ever reclaimed.
func arenaRelations(s obmalloc.Stats, policy obmalloc.ArenaPolicy) error {
	if s.PoolSize == 0 || s.ArenaSize%s.PoolSize != 0 || s.BytesLostToArenaAlignment%s.PoolSize != 0 {
		return fmt.Errorf("pool size %d, arena size %d, %d bytes lost to alignment: not whole pools",
			s.PoolSize, s.ArenaSize, s.BytesLostToArenaAlignment)
	}
	pools := 0
	for _, c := range s.Classes {
		pools += c.Pools
	}
	perArena := int(s.ArenaSize / s.PoolSize)
	if want := perArena*s.ArenasCurrent - int(s.BytesLostToArenaAlignment/s.PoolSize); pools+s.UnusedPools != want {
		return fmt.Errorf("Σ num pools %d + unused pools %d != %d × %d arenas − %d lost to alignment",
			pools, s.UnusedPools, perArena, s.ArenasCurrent, s.BytesLostToArenaAlignment/s.PoolSize)
	}
	if s.ArenasReclaimed != s.ArenasAllocatedTotal-s.ArenasCurrent {
		return fmt.Errorf("arenas reclaimed %d != total %d − current %d", s.ArenasReclaimed, s.ArenasAllocatedTotal, s.ArenasCurrent)
	}
	sum := s.BytesInAllocatedBlocks + s.BytesInAvailableBlocks + uintptr(s.UnusedPools)*s.PoolSize +
		s.BytesLostToPoolHeaders + s.BytesLostToQuantization + s.BytesLostToArenaAlignment
	if sum != s.ArenaBytes() {
		return fmt.Errorf("the six byte lines sum to %d, not %d arenas × %d", sum, s.ArenasCurrent, s.ArenaSize)
	}
	if policy == obmalloc.KeepArenas && (s.ArenasReclaimed != 0 || s.ArenasCurrent != s.ArenasHighwater) {
		return fmt.Errorf("arenas kept, yet %d reclaimed and %d current of a highwater mark of %d",
			s.ArenasReclaimed, s.ArenasCurrent, s.ArenasHighwater)
	}
	return nil
}

// arenaLines lays the address- and policy-dependent lines of our dump
// beside CPython's.
func arenaLines(got, want obmalloc.Stats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "    %-34s %14s %14s\n", "", "gopymalloc", "CPython")
	line := func(label string, g, w any) {
		fmt.Fprintf(&b, "    %-34s %14v %14v\n", label, g, w)
	}
	line("# arenas allocated total", got.ArenasAllocatedTotal, want.ArenasAllocatedTotal)
	line("# arenas reclaimed", got.ArenasReclaimed, want.ArenasReclaimed)
	line("# arenas highwater mark", got.ArenasHighwater, want.ArenasHighwater)
	line("# arenas allocated current", got.ArenasCurrent, want.ArenasCurrent)
	line("unused pools", got.UnusedPools, want.UnusedPools)
	line("# bytes lost to arena alignment", got.BytesLostToArenaAlignment, want.BytesLostToArenaAlignment)
	line("# arena map mid nodes", got.ArenaMapMidNodes, want.ArenaMapMidNodes)
	line("# arena map bot nodes", got.ArenaMapBotNodes, want.ArenaMapBotNodes)
	return strings.TrimSuffix(b.String(), "\n")
}
