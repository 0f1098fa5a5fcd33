package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/internal/winetest"
)

// randomTraceText writes a valid trace of about n ops: mallocs, callocs,
// reallocs (of live blocks and of NULL) and frees, with sizes of 0, every
// small class, and large blocks, so that every backend path is taken.
func randomTraceText(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 99))
	var b strings.Builder
	b.WriteString("# pytrace 1\n")
	size := func() uint64 {
		switch r.IntN(10) {
		case 0:
			return 0
		case 1:
			return 513 + r.Uint64N(200_000)
		default:
			return 1 + r.Uint64N(512)
		}
	}
	var live []uint64
	next := uint64(1)
	for range n {
		switch k := r.IntN(10); {
		case k < 4 || len(live) == 0:
			fmt.Fprintf(&b, "m %d %d\n", next, size())
			live = append(live, next)
			next++
		case k == 4:
			fmt.Fprintf(&b, "c %d %d %d\n", next, 1+r.Uint64N(8), r.Uint64N(64))
			live = append(live, next)
			next++
		case k == 5:
			fmt.Fprintf(&b, "r 0 %d %d\n", next, size())
			live = append(live, next)
			next++
		case k < 8:
			i := r.IntN(len(live))
			fmt.Fprintf(&b, "r %d %d %d\n", live[i], next, size())
			live[i] = next
			next++
		default:
			i := r.IntN(len(live))
			fmt.Fprintf(&b, "f %d\n", live[i])
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
		}
	}
	return b.String()
}

// loadText reads a trace from text and moves it off the Go heap, as
// LoadTrace does with a file.
func loadText(t testing.TB, name, text string) *Trace {
	t.Helper()
	pt, err := pytrace.Read(strings.NewReader(text), name+".trace")
	require.NoError(t, err)
	tr, err := moveOffHeap(pt)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tr.Release()) })
	return tr
}

// A trace without ops is refused: its ns per op would be an empty loop's
// time over 1.
func TestReadTraceRefusesNoOps(t *testing.T) {
	path := filepath.Join(winetest.TempDir(t), "empty.trace")
	require.NoError(t, os.WriteFile(path, []byte("# pytrace 1\n# only comments\n"), 0o644))
	_, err := ReadTrace(path)
	require.ErrorContains(t, err, "empty.trace: no ops to replay")
	_, err = LoadTrace(path)
	require.ErrorContains(t, err, "no ops to replay")
	var out strings.Builder
	require.ErrorContains(t, Child(ChildArgs("replay", "freelist", path)[1:], &out), "no ops to replay")
	assert.Empty(t, out.String())
}

// measurableBackends is Backends without those this environment makes
// refuse to open (gopymalloc-api while a GOPYMALLOC* variable puts
// another allocator behind the package-level functions, as when the
// suite runs under GOPYMALLOC=debug), each named in the test's log. The
// tests that run every backend use it; TestAPIBackendRefusesOtherAllocators
// checks the refusal.
func measurableBackends(t *testing.T) []Backend {
	var out []Backend
	for _, b := range Backends {
		if err := CheckBackends([]Backend{b}); err != nil {
			t.Logf("%s left out: %v", b.Name, err)
			continue
		}
		out = append(out, b)
	}
	return out
}
