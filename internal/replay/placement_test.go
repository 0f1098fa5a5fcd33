//go:build linux

package replay

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// TestArenaLinesAgainstCPython shows that the whole of the heap's dump,
// arena lines included, is CPython's once both put their arenas at the
// same addresses. TestFidelity and TestDifferentialAgainstCPython compare
// only the size-class rows, because the arena lines also depend on where
// mmap puts each arena (whether it loses a pool to alignment, which
// bottom nodes of the arena map it needs), and the two processes' mmaps
// differ. Here testdata/arenashim.c, preloaded into CPython's replayer,
// puts the k-th arena pymalloc maps at a chosen address, and placedArenas
// puts the heap's k-th arena at the same one; then the arena counts, the
// reclaimed and highwater lines, the unused pools, the bytes lost to
// alignment and the arena map's nodes all follow from the order in which
// the algorithm maps and unmaps arenas (new_arena's reuse of arena
// objects, the usable_arenas order kept by nfp2lasta, the release rule),
// and must be equal, line by line, at every dump.
//
// It runs under the release policy, CPython's (under the keep policy the
// arena lines differ by design), on linux only (LD_PRELOAD,
// MAP_FIXED_NOREPLACE), with three placements, on traces of the
// differential test's generator and on two shapes that drive the arena
// lines: tens of arenas freed in different orders, and many arenas of one
// class with equal numbers of free pools emptied in random order. It
// needs the C replayer and a C compiler, so it is skipped unless both are
// there:
//
//	GOPYMALLOC_CPYTHON_REPLAY=~/cref/replay-pymalloc go test -run ArenaLines -v ./internal/replay/
//
// GOPYMALLOC_DIFF_SEEDS=N runs N seeds of each trace shape (default 1).
func TestArenaLinesAgainstCPython(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) < 8 {
		// The placements lie above 4 GiB, and the replayer is CPython's
		// 64-bit build, whose arena map is not the one a 32-bit heap
		// shows.
		t.Skip("needs a 64-bit system: the placements lie above 4 GiB")
	}
	creplay := cpythonReplayer(t)
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skipf("no C compiler on PATH (cc) to build testdata/arenashim.c: %v", err)
	}
	seeds := diffSeeds(t, 1)
	dir := t.TempDir()
	shim := filepath.Join(dir, "arenashim.so")
	// -ldl for a C library older than glibc 2.34, where dladdr and dlsym
	// live in libdl; later ones accept it and need nothing.
	out, err := exec.Command(cc, "-shared", "-fPIC", "-o", shim, filepath.Join("testdata", "arenashim.c"), "-ldl").CombinedOutput()
	require.NoError(t, err, "building the arena shim: %s", out)

	traces, npoints := 0, 0
	for _, tr := range placementTraces(seeds) {
		t.Run(tr.name, func(t *testing.T) {
			path := filepath.Join(dir, tr.name+".trace.gz")
			require.NoError(t, writeGzip(path, tr.text))
			trace, err := pytrace.ReadFile(path)
			require.NoError(t, err)
			points := withEnds(tr.points, len(trace.Ops))
			for _, pl := range placements {
				want, err := cpythonDumps(creplay, path, points, append(pl.env(), "LD_PRELOAD="+shim)...)
				require.NoError(t, err)
				arenas := &placedArenas{placement: pl}
				cfg := obmalloc.Config{Policy: obmalloc.ReleaseArenas, Arenas: arenas}
				got, err := replayPlaced(trace, points, cfg)
				require.NoError(t, err, "arenas placed %s", pl.name)
				require.NoError(t, arenas.err, "arenas placed %s", pl.name)
				require.Zero(t, arenas.mapped, "arenas placed %s: arenas still mapped after the heap closed", pl.name)
				// The parsers check that both texts are dumps, one after
				// each point; the text comparison does the rest.
				var secs []section
				for _, text := range []string{got, want} {
					secs, err = parseSections(text)
					require.NoError(t, err)
					require.Equal(t, points, ops(secs))
				}
				if msg := diffDumps(got, want); msg != "" {
					t.Fatalf("%s, arenas placed %s, %s policy: %s", tr.name, pl.name, cfg.Policy, msg)
				}
				// What the arena lines went through, to show that the
				// trace exercises them.
				var high, bot int
				for _, s := range secs {
					high, bot = max(high, s.stats.ArenasHighwater), max(bot, s.stats.ArenaMapBotNodes)
				}
				last := secs[len(secs)-1].stats
				t.Logf("%s: %d dumps equal; up to %d arenas at once, %d mapped and %d reclaimed in all, up to %d bottom nodes",
					pl.name, len(points), high, last.ArenasAllocatedTotal, last.ArenasReclaimed, bot)
			}
			traces++
			npoints += len(points)
		})
	}
	if !t.Failed() {
		t.Logf("%d traces, %d dump points, each under %d placements: every line equal", traces, npoints, len(placements))
	}
}

// A placement puts the k-th arena mapped (k from 1) at
// base + (k-1)*arenaStride plus a skew: ARENASHIM_BASE, ARENASHIM_SKEW and
// the same formula in testdata/arenashim.c.
type placement struct {
	name string
	base uint64 // above a 32-bit address space: the test needs 64-bit words
	skew string // bytes past base + (k-1)*arenaStride, or "mix"
}

// arenaStride leaves room for an arena of 1 MiB and a skew below 1 MiB.
const arenaStride = 2 << 20

// mapBoundary is a multiple of 2^34 bytes, the span of one bottom node of
// the arena map with 1 MiB arenas, so the placements below cross into a
// second bottom node after an arena or two and the "arena map bot nodes"
// lines change during every trace that maps more than two arenas. Both
// processes leave the addresses around it alone: Go's heap starts at
// 0xc000000000, PIE programs sit near 0x550000000000, shared libraries
// and mmaps that name no address just below 0x7fffffffffff, and the race
// detector's shadow and metadata end at 0x400000000000.
const mapBoundary = 0x4000_0000_0000

var placements = []placement{
	// Every arena pool-aligned: 64 pools each, nothing lost to alignment;
	// the third arena is the first in the second bottom node.
	{"aligned", mapBoundary - 2*arenaStride, "0"},
	// Every arena a page past a pool boundary, as mmap mostly places
	// them: 63 pools and 16 KiB lost each. The second arena straddles the
	// boundary, so its last page alone needs the second bottom node.
	{"page-past-pool", mapBoundary - 3<<20, "4096"},
	// Some arenas of each kind, irregularly, so the alignment lines
	// depend on which arenas the algorithm frees and maps again.
	{"mixed", mapBoundary - 3<<20, "mix"},
}

// addr is where the k-th arena goes.
func (p placement) addr(k uint32) uintptr {
	a := uintptr(p.base) + uintptr(k-1)*arenaStride
	if p.skew == "mix" {
		return a + mixSkew(k)
	}
	skew, err := strconv.ParseUint(p.skew, 0, 64)
	if err != nil {
		panic(fmt.Sprintf("placement %s: skew %q", p.name, p.skew))
	}
	return a + uintptr(skew)
}

// mixSkew is arenashim.c's mix_hash: a page past the slot when bit 7 of a
// multiplicative hash of k is set.
func mixSkew(k uint32) uintptr {
	if k*2654435761>>7&1 != 0 {
		return 4096
	}
	return 0
}

// env is the shim's environment for p.
func (p placement) env() []string {
	return []string{fmt.Sprintf("ARENASHIM_BASE=%#x", p.base), "ARENASHIM_SKEW=" + p.skew}
}

// placedArenas is the Go side of testdata/arenashim.c: an ArenaAllocator
// that maps the k-th arena the heap asks for at placement.addr(k), with
// MAP_FIXED_NOREPLACE so that it never maps over anything. A failure is
// kept in err rather than only returned as nil, because the heap takes a
// nil arena for an out-of-memory condition and carries on, and the test
// would then report differing dumps instead of the cause. mapped counts
// the arenas not yet freed.
type placedArenas struct {
	placement
	k      uint32
	mapped int
	err    error
}

func (a *placedArenas) Alloc(size uintptr) unsafe.Pointer {
	a.k++
	at := a.addr(a.k)
	// The kernel takes the address as a number: nothing is read or written
	// through hint, and it points into no Go object.
	hint := unsafe.Add(unsafe.Pointer(nil), at)
	p, err := unix.MmapPtr(-1, 0, hint, size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE)
	if err == nil && p != hint {
		// A kernel older than 4.17 reads MAP_FIXED_NOREPLACE as a hint.
		err = errors.Join(fmt.Errorf("mapped at %p", p), unix.MunmapPtr(p, size))
	}
	if err != nil {
		a.err = errors.Join(a.err, fmt.Errorf("arena %d at %#x: %w", a.k, at, err))
		return nil
	}
	a.mapped++
	return p
}

func (a *placedArenas) Free(p unsafe.Pointer, size uintptr) {
	if err := unix.MunmapPtr(p, size); err != nil {
		a.err = errors.Join(a.err, fmt.Errorf("unmapping the arena at %p: %w", p, err))
		return
	}
	a.mapped--
}

// replayPlaced replays tr through a heap made with cfg and returns its
// dumps after each op of points, as Run writes them. Run takes no arena
// allocator, so this puts its pieces together in the same way: the ID
// table, the replay loop (touching every block, as the C replayer does by
// default), the dumps with their check of the live blocks, and the
// teardown with its checks.
func replayPlaced(tr *pytrace.Trace, points []int, cfg obmalloc.Config) (string, error) {
	h, err := obmalloc.New(cfg)
	if err != nil {
		return "", err
	}
	table, err := newIDTable(tr.MaxID)
	if err != nil {
		return "", errors.Join(err, h.Close())
	}
	var out strings.Builder
	live := tr.LiveAfter(points)
	pos := 0
	for i, p := range points {
		if fails := replayOps(h, tr.Callocs, table, tr.Ops[pos:p], true); fails > 0 {
			err = fmt.Errorf("%d allocations returned nil by op %d", fails, p)
		}
		pos = p
		if err == nil {
			err = dump(h, &out, p, live[i])
		}
		if err != nil {
			return "", errors.Join(err, teardown(h, tr.Ops[:pos], table, false))
		}
	}
	if fails := replayOps(h, tr.Callocs, table, tr.Ops[pos:], true); fails > 0 {
		err = fmt.Errorf("%d allocations returned nil after op %d", fails, pos)
	}
	return out.String(), errors.Join(err, teardown(h, tr.Ops, table, err == nil))
}

// diffDumps compares two texts of dumps with the same ops, line by line,
// and describes the first dump that differs (its op and each differing
// line, ours above CPython's) and how many dumps differ; "" if none does.
func diffDumps(got, want string) string {
	g, w := splitDumps(got), splitDumps(want)
	if len(g) != len(w) {
		return fmt.Sprintf("%d dumps, CPython's %d", len(g), len(w))
	}
	var first []string
	firstOp, differ := "", 0
	for i := range g {
		var lines []string
		for j := range max(len(g[i]), len(w[i])) {
			gl, wl := lineAt(g[i], j), lineAt(w[i], j)
			if gl != wl {
				lines = append(lines, fmt.Sprintf("  gopymalloc: %s\n  CPython:    %s", gl, wl))
			}
		}
		if len(lines) == 0 {
			continue
		}
		if differ++; differ == 1 {
			first, firstOp = lines, strings.TrimPrefix(w[i][0], sectionHeader)
		}
	}
	if differ == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d dumps differ; after op %s, %d lines:\n%s",
		differ, len(g), firstOp, len(first), strings.Join(first, "\n"))
}

// splitDumps cuts text into dumps at its "=== stats after op N" lines, each
// a list of lines starting with that one.
func splitDumps(text string) [][]string {
	var out [][]string
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, sectionHeader) || out == nil {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], strings.TrimSuffix(line, "\n"))
	}
	return out
}

// lineAt is line i of lines, or a mark for a dump that has no line i.
func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(no line)"
}

// withEnds returns points, within 1..n, with op 1 and op n added, sorted
// and without repeats: the first dump catches a heap that starts
// differently, the last one what the whole trace did.
func withEnds(points []int, n int) []int {
	out := []int{1, n}
	for _, p := range points {
		if p >= 1 && p <= n {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// placementTrace is a generated trace and the ops after which to compare.
type placementTrace struct {
	name   string
	text   string
	points []int
}

// placementTraces generates seeds traces of each shape. Every seed gives
// the arena shapes other sizes, so that even one seed covers 40 to 95
// arenas: past the 16 and the 64 arena objects at which CPython's arenas
// vector grows.
func placementTraces(seeds int) []placementTrace {
	var out []placementTrace
	for seed := range seeds {
		// The differential test's patterns that map and unmap arenas: a
		// random mix of every kind of op, queue-like lifetimes, and build-ups
		// freed to a tenth.
		for _, pattern := range []string{"random", "fifo", "burst"} {
			const n = 200_000
			var points []int
			for i := 1; i <= 16; i++ {
				points = append(points, n*i/16)
			}
			out = append(out, placementTrace{fmt.Sprintf("%s%d", pattern, seed),
				generateTrace(pattern, uint64(seed), n), points})
		}
		for i, order := range freeOrders {
			arenas := 40 + (11*i+17*seed)%61
			text, points := manyArenasTrace(uint64(seed), arenas, order)
			out = append(out, placementTrace{fmt.Sprintf("arenas-%s%d", order, seed), text, points})
		}
		for i, arenas := range []int{20, 60} {
			text, points := equalFreePoolsTrace(uint64(2*seed+i), arenas+seed%20)
			out = append(out, placementTrace{fmt.Sprintf("nfp%d", 2*seed+i), text, points})
		}
	}
	return out
}

// traceBuilder writes a trace in the pytrace format and keeps the set of
// its live blocks, which the generators below free by ID.
type traceBuilder struct {
	rng  *rand.Rand
	text strings.Builder
	ops  int
	next int
	live []int       // live IDs, in no order
	pos  map[int]int // where each live ID is in live
}

func newTraceBuilder(seed uint64) *traceBuilder {
	b := &traceBuilder{rng: rand.New(rand.NewPCG(seed, 7)), pos: map[int]int{}}
	b.text.WriteString("# pytrace 1\n")
	return b
}

func (b *traceBuilder) malloc(size int) int {
	b.next++
	b.ops++
	fmt.Fprintf(&b.text, "m %d %d\n", b.next, size)
	b.pos[b.next] = len(b.live)
	b.live = append(b.live, b.next)
	return b.next
}

func (b *traceBuilder) free(id int) {
	b.ops++
	fmt.Fprintf(&b.text, "f %d\n", id)
	i, last := b.pos[id], b.live[len(b.live)-1]
	b.live[i], b.pos[last] = last, i
	b.live = b.live[:len(b.live)-1]
	delete(b.pos, id)
}

func (b *traceBuilder) isLive(id int) bool {
	_, ok := b.pos[id]
	return ok
}

// freeOrders are the orders in which manyArenasTrace frees its blocks.
var freeOrders = []string{"forward", "backward", "alternate", "stride", "random", "middleout"}

// manyArenasTrace fills about the given number of arenas with blocks of
// mostly a few sizes, frees them in one of freeOrders with some
// allocations in between (and, for some seeds, a partial rebuild near the
// end), frees the rest, and builds a third again. Each order empties the
// arenas in a different sequence, so arenas are released, and arena
// objects reused, in different orders; the last build maps arenas again
// after most were unmapped. It returns the trace and its points of
// interest: after the build, every fortieth of the frees, and around the
// rebuilds.
func manyArenasTrace(seed uint64, arenas int, order string) (string, []int) {
	b := newTraceBuilder(seed)
	rng := b.rng
	sizes := []int{512, 512, 496, 16, 256, 48, 400, 33}
	size := func() int {
		if rng.IntN(4) == 0 {
			return 1 + rng.IntN(512)
		}
		return sizes[rng.IntN(len(sizes))]
	}
	// Nine tenths of the arenas' pools, in bytes of blocks.
	budget := arenas * 63 * 16384 * 9 / 10
	var built []int
	for used := 0; used < budget; {
		s := size()
		built = append(built, b.malloc(s))
		used += (s + 15) &^ 15
	}
	points := []int{b.ops}
	n := len(built)
	var frees []int
	switch order {
	case "forward":
		frees = built
	case "backward":
		frees = slices.Clone(built)
		slices.Reverse(frees)
	case "alternate": // runs of about an arena's blocks, the even runs first
		run := n / arenas
		for pass := range 2 {
			for i, id := range built {
				if i/run%2 == pass {
					frees = append(frees, id)
				}
			}
		}
	case "stride": // every 97th block, then every 31st, ... then the rest
		seen := make([]bool, n)
		for _, k := range []int{97, 31, 7, 3, 2, 1} {
			for i := 0; i < n; i += k {
				if !seen[i] {
					seen[i] = true
					frees = append(frees, built[i])
				}
			}
		}
	case "random":
		frees = slices.Clone(built)
		rng.Shuffle(n, func(i, j int) { frees[i], frees[j] = frees[j], frees[i] })
	case "middleout": // from the middle towards both ends
		for d := range n/2 + 1 {
			if mid := n / 2; mid+d < n {
				frees = append(frees, built[mid+d])
			}
			if i := n/2 - d - 1; i >= 0 {
				frees = append(frees, built[i])
			}
		}
	default:
		panic("manyArenasTrace: unknown order " + order)
	}
	interleave := rng.IntN(3) // 0: frees only; 1, 2: an allocation every 20th, 10th free
	for i, id := range frees {
		if !b.isLive(id) {
			continue
		}
		b.free(id)
		if interleave > 0 && rng.IntN(20/interleave) == 0 {
			b.malloc(sizes[rng.IntN(len(sizes))])
		}
		if i%(n/40+1) == 0 {
			points = append(points, b.ops)
		}
		if i == n*9/10 && rng.IntN(2) == 0 {
			for range n / 5 {
				b.malloc(sizes[rng.IntN(len(sizes))])
			}
			points = append(points, b.ops)
		}
	}
	for len(b.live) > 0 {
		b.free(b.live[len(b.live)-1])
		if len(b.live)%500 == 0 {
			points = append(points, b.ops)
		}
	}
	for range n / 3 {
		b.malloc(sizes[rng.IntN(len(sizes))])
	}
	return b.text.String(), points
}

// equalFreePoolsTrace drives the nfp2lasta bookkeeping: CPython keeps
// usable_arenas sorted by free pools, and, among arenas with equal counts,
// the order in which they reached the count decides which one serves next
// and which is released first. The trace fills the given number of arenas
// with one class, pool by pool, so that pools are whole runs of IDs; then
// empties one pool of every arena per round, in a random arena order
// (many arenas with equal counts); then moves arenas between counts by
// emptying pools, leaving a block or two in some, and by allocating a
// pool's worth again or single blocks of other classes; and finally
// empties whole arenas in random order and frees the rest at random. It
// returns the trace and its points of interest: after each phase and
// round, every quarter-arena's worth of moves, and after each arena
// emptied.
func equalFreePoolsTrace(seed uint64, arenas int) (string, []int) {
	b := newTraceBuilder(seed)
	rng := b.rng
	size := []int{512, 496, 488, 256}[rng.IntN(4)]
	perPool := (16384 - 48) / ((size + 15) &^ 15)
	// Runs of 63 pools stand for arenas (a pool-aligned arena has 64,
	// which only shifts the runs against the arenas).
	const poolsPerArena = 63
	pools := make([][]int, arenas*poolsPerArena)
	for k := range pools {
		for range perPool {
			pools[k] = append(pools[k], b.malloc(size))
		}
	}
	points := []int{b.ops}
	// emptyPool frees pool k's blocks but the first keep still live.
	emptyPool := func(k, keep int) {
		for _, id := range pools[k] {
			switch {
			case !b.isLive(id):
			case keep > 0:
				keep--
			default:
				b.free(id)
			}
		}
	}
	order := rng.Perm(arenas)
	for r := range 1 + rng.IntN(4) {
		for _, a := range order {
			emptyPool(a*poolsPerArena+r*7%poolsPerArena, 0)
		}
		points = append(points, b.ops)
	}
	others := []int{16, 48, 128, 512, 33}
	for step := range 6 * arenas {
		switch rng.IntN(4) {
		case 0, 1:
			emptyPool(rng.IntN(len(pools)), rng.IntN(2)*rng.IntN(3))
		case 2:
			for range perPool {
				b.malloc(size)
			}
		case 3:
			b.malloc(others[rng.IntN(len(others))])
		}
		if step%(arenas/4+1) == 0 {
			points = append(points, b.ops)
		}
	}
	for _, a := range rng.Perm(arenas) {
		for k := a * poolsPerArena; k < (a+1)*poolsPerArena; k++ {
			emptyPool(k, 0)
		}
		points = append(points, b.ops)
		if rng.IntN(5) == 0 {
			b.malloc(others[rng.IntN(len(others))])
		}
	}
	for len(b.live) > 0 {
		b.free(b.live[rng.IntN(len(b.live))])
		if len(b.live)%300 == 0 {
			points = append(points, b.ops)
		}
	}
	return b.text.String(), points
}
