package replay

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/internal/winetest"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// CPythonReplayEnv names CPython's own pymalloc replayer
// (../shared/cpython-replay/, built with build.sh: replay-pymalloc) for
// TestDifferentialAgainstCPython; unset, the test is skipped, as in CI,
// which has no CPython build.
const CPythonReplayEnv = "GOPYMALLOC_CPYTHON_REPLAY"

// TestDifferentialAgainstCPython generates traces the public ones do not
// contain (allocation patterns, sizes at class edges, zero and large
// sizes, callocs, realloc chains, realloc(NULL), only the smallest or
// only the largest classes), replays each through
// CPython 3.11's pymalloc (the replayer named by CPythonReplayEnv, with
// --dump-at) and through the heap, and requires the same size-class rows
// at four points of each, under both arena policies and with huge-page
// arenas. TestFidelity does the same against dumps stored beside the
// public traces; this one reaches any trace, so it checks the general
// behaviour rather than four files:
//
//	GOPYMALLOC_CPYTHON_REPLAY=~/cref/replay-pymalloc go test -run Differential ./internal/replay/
//
// GOPYMALLOC_DIFF_SEEDS=N runs N seeds of each pattern (default 2).
func TestDifferentialAgainstCPython(t *testing.T) {
	creplay := cpythonReplayer(t)
	seeds := diffSeeds(t, 2)
	dir := winetest.TempDir(t)
	for _, pattern := range []string{"random", "lifo", "fifo", "burst", "grow", "tiny", "full"} {
		for seed := range uint64(seeds) {
			name := fmt.Sprintf("%s%d", pattern, seed)
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(dir, name+".trace.gz")
				require.NoError(t, writeGzip(path, generateTrace(pattern, seed, 200_000)))
				tr, err := pytrace.ReadFile(path)
				require.NoError(t, err)
				n := len(tr.Ops)
				points := []int{n / 4, n / 2, 3 * n / 4, n}

				out, err := cpythonDumps(creplay, path, points)
				require.NoError(t, err)
				want, err := parseSections(out)
				require.NoError(t, err, "CPython's dumps")
				require.Equal(t, points, ops(want))

				for _, opt := range []Options{
					{Policy: obmalloc.KeepArenas},
					{Policy: obmalloc.ReleaseArenas},
					{Policy: obmalloc.KeepArenas, HugePages: true},
				} {
					var dumps bytes.Buffer
					opt.StatsAt, opt.Stats = points[:3], &dumps
					opt.StatsAtEnd = true
					_, err := Run(tr, opt)
					require.NoError(t, err)
					got, err := parseSections(dumps.String())
					require.NoError(t, err)
					require.Equal(t, points, ops(got))
					for i := range want {
						if msg := compareRows(got[i], want[i]); msg != "" {
							t.Fatalf("%s (arenas %s, huge pages %v): %s", name, opt.Policy, opt.HugePages, msg)
						}
					}
				}
			})
		}
	}
}

// cpythonReplayer returns the C replayer that CPythonReplayEnv names, or
// skips t when it names none.
func cpythonReplayer(t *testing.T) string {
	t.Helper()
	creplay := os.Getenv(CPythonReplayEnv)
	if creplay == "" {
		t.Skipf("%s is not set: set it to CPython's pymalloc replayer (replay-pymalloc, built by ../shared/cpython-replay/build.sh) to compare with it", CPythonReplayEnv)
	}
	return creplay
}

// diffSeeds returns how many seeds of each generated trace the tests
// against CPython run: GOPYMALLOC_DIFF_SEEDS, or def when it is unset.
func diffSeeds(t *testing.T, def int) int {
	t.Helper()
	s := os.Getenv("GOPYMALLOC_DIFF_SEEDS")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	require.NoError(t, err, "GOPYMALLOC_DIFF_SEEDS")
	return n
}

// cpythonDumps replays the trace at path through CPython's pymalloc with
// the replayer creplay, env added to its environment, and returns its
// dumps after each op of points (ascending), each under its "=== stats
// after op N" line, as Run writes ours.
func cpythonDumps(creplay, path string, points []int, env ...string) (string, error) {
	list := make([]string, len(points))
	for i, p := range points {
		list[i] = strconv.Itoa(p)
	}
	cmd := exec.Command(creplay, "--dump-at", strings.Join(list, ","), path)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(exit.Stderr))
		}
		return "", fmt.Errorf("%s: %w", strings.Join(append(env[:len(env):len(env)], cmd.Args...), " "), err)
	}
	return string(out), nil
}

// generateTrace writes n ops of one allocation pattern in the pytrace
// format, from a fixed seed.
func generateTrace(pattern string, seed uint64, n int) string {
	rng := rand.New(rand.NewPCG(seed, uint64(len(pattern))))
	var b strings.Builder
	b.WriteString("# pytrace 1\n")
	var live []uint64        // IDs of live blocks
	size := map[uint64]int{} // their sizes
	next := uint64(0)
	anySize := func() int {
		switch r := rng.Float64(); {
		case r < 0.03:
			return 0
		case r < 0.06: // the edges of the size classes
			return []int{1, 15, 16, 17, 32, 33, 48, 49, 511, 512, 513}[rng.IntN(11)]
		case r < 0.09:
			return 513 + rng.IntN(4500)
		case r < 0.095:
			return 5000 + rng.IntN(300_000)
		}
		return 1 + rng.IntN(512)
	}
	malloc := func(s int) {
		next++
		fmt.Fprintf(&b, "m %d %d\n", next, s)
		live, size[next] = append(live, next), s
	}
	calloc := func(s int) {
		next++
		el := []int{1, 2, 4, 8, 16}[rng.IntN(5)]
		fmt.Fprintf(&b, "c %d %d %d\n", next, s/el, el)
		live, size[next] = append(live, next), s/el*el
	}
	free := func(i int) {
		fmt.Fprintf(&b, "f %d\n", live[i])
		delete(size, live[i])
		live[i] = live[len(live)-1]
		live = live[:len(live)-1]
	}
	realloc := func(i, s int) {
		next++
		fmt.Fprintf(&b, "r %d %d %d\n", live[i], next, s)
		delete(size, live[i])
		live[i], size[next] = next, s
	}
	for step := range n {
		switch pattern {
		case "random":
			switch r := rng.Float64(); {
			case len(live) > 0 && r < 0.42:
				free(rng.IntN(len(live)))
			case len(live) > 0 && r < 0.52:
				i := rng.IntN(len(live))
				old := size[live[i]]
				realloc(i, []int{max(0, old+rng.IntN(129)-64), 2*old + 1, old / 2, anySize()}[rng.IntN(4)])
			case r < 0.55:
				next++
				s := anySize()
				fmt.Fprintf(&b, "r 0 %d %d\n", next, s)
				live, size[next] = append(live, next), s
			case r < 0.60:
				calloc(anySize())
			default:
				malloc(anySize())
			}
		case "lifo":
			if len(live) > 0 && (rng.Float64() < 0.48 || len(live) > 50_000) {
				fmt.Fprintf(&b, "f %d\n", live[len(live)-1])
				delete(size, live[len(live)-1])
				live = live[:len(live)-1]
			} else {
				malloc(anySize())
			}
		case "fifo":
			if len(live) > 0 && (rng.Float64() < 0.45 || len(live) > 20_000) {
				fmt.Fprintf(&b, "f %d\n", live[0])
				delete(size, live[0])
				live = live[1:]
			} else {
				malloc(anySize())
			}
		case "burst": // build up for 50,000 ops, then free most of it
			if step/50_000%2 == 0 || len(live) == 0 || rng.Float64() >= 0.9 {
				malloc(anySize())
			} else {
				free(rng.IntN(len(live)))
			}
		case "tiny", "full": // the smallest classes (1021 blocks a pool), or the largest (31)
			lo, hi := 1, 48
			if pattern == "full" {
				lo, hi = 400, 512
			}
			switch r := rng.Float64(); {
			case len(live) > 0 && r < 0.45:
				free(rng.IntN(len(live)))
			case len(live) > 0 && r < 0.55:
				realloc(rng.IntN(len(live)), lo+rng.IntN(hi-lo+1))
			default:
				malloc(lo + rng.IntN(hi-lo+1))
			}
		case "grow": // buffers grown by an eighth at a time, as CPython's builders do
			switch i := rng.IntN(max(len(live), 1)); {
			case len(live) > 0 && rng.Float64() < 0.5:
				if old := size[live[i]]; old > 20_000 {
					free(i)
				} else {
					realloc(i, old+old/8+1+rng.IntN(40))
				}
			case len(live) > 0 && rng.Float64() < 0.3:
				free(i)
			default:
				malloc(1 + rng.IntN(64))
			}
		}
	}
	return b.String()
}

func writeGzip(path, text string) error {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	if _, err := w.Write([]byte(text)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, z.Bytes(), 0o644)
}
