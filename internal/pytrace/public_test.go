package pytrace

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sharedDir is the shared directory beside the module (traces, fidelity
// files), relative to this package's directory, where go test runs.
var sharedDir = filepath.Join("..", "..", "..", "shared")

// publicPeaks is the table of peak live requested bytes in
// fidelity/README.md, measured by the C replayer on CPython's side; the
// headers do not carry it.
var publicPeaks = map[string]struct {
	op    int
	bytes uint64
}{
	"compileall": {1_071_462, 12_600_034},
	"json_tool":  {1_327_784, 33_612_860},
	"pydoc":      {1_427_021, 14_695_277},
	"test_re":    {2_862_557, 20_852_658},
}

// header holds the counts a trace's writer put in its comment header.
type header struct {
	ops, m, c, r, f, maxID, liveAtEnd int
	command                           string
}

// readHeader parses the header of a gzip'd trace with its own code, not
// with Read, so the two can be compared.
func readHeader(t *testing.T, path string) header {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	var h header
	found := 0
	sc := bufio.NewScanner(zr)
	for sc.Scan() && strings.HasPrefix(sc.Text(), "#") {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# ops: "):
			_, err = fmt.Sscanf(line, "# ops: %d m: %d c: %d r: %d f: %d", &h.ops, &h.m, &h.c, &h.r, &h.f)
			found++
		case strings.HasPrefix(line, "# max_id: "):
			_, err = fmt.Sscanf(line, "# max_id: %d", &h.maxID)
			found++
		case strings.HasPrefix(line, "# live_at_end: "):
			_, err = fmt.Sscanf(line, "# live_at_end: %d", &h.liveAtEnd)
			found++
		case strings.HasPrefix(line, "# command: "):
			h.command = strings.TrimPrefix(line, "# command: ")
		}
		require.NoError(t, err, line)
	}
	require.Equal(t, 3, found, "%s: header lacks ops, max_id or live_at_end", path)
	return h
}

func TestReadPublicTraces(t *testing.T) {
	dir := filepath.Join(sharedDir, "traces")
	paths, _ := filepath.Glob(filepath.Join(dir, "*.trace.gz"))
	if len(paths) == 0 {
		abs, _ := filepath.Abs(dir)
		t.Skipf("no public traces in %s (the shared directory beside the module); nothing to check", abs)
	}
	var total time.Duration
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".trace.gz")
		t.Run(name, func(t *testing.T) {
			h := readHeader(t, path)
			start := time.Now()
			tr, err := ReadFile(path)
			took := time.Since(start)
			total += took
			require.NoError(t, err)
			t.Logf("%s: %d ops, max ID %d, read in %v (%.0f ns/op)", name, len(tr.Ops), tr.MaxID,
				took.Round(time.Millisecond), float64(took.Nanoseconds())/float64(len(tr.Ops)))

			assert.Equal(t, name, tr.Name)
			assert.Equal(t, h.command, tr.Command)
			assert.Equal(t, h.ops, len(tr.Ops))
			assert.Equal(t, h.m, tr.Stats.Mallocs)
			assert.Equal(t, h.c, tr.Stats.Callocs)
			assert.Equal(t, h.r, tr.Stats.Reallocs)
			assert.Equal(t, h.f, tr.Stats.Frees)
			assert.Equal(t, uint32(h.maxID), tr.MaxID)
			assert.Equal(t, uint64(h.liveAtEnd), tr.Stats.LiveAtEnd)
			assert.Equal(t, []uint64{uint64(h.liveAtEnd)}, tr.LiveAfter([]int{len(tr.Ops)}))

			peak, ok := publicPeaks[name]
			if !ok {
				t.Logf("%s: not in the fidelity table; peak not checked", name)
				return
			}
			assert.Equal(t, peak.op, tr.Stats.PeakLiveBytesOp, "op of the peak")
			assert.Equal(t, peak.bytes, tr.Stats.PeakLiveBytes, "peak live bytes")

			// The fidelity points include the peak op and fit the trace.
			raw, err := os.ReadFile(filepath.Join(sharedDir, "fidelity", name+".points"))
			if err != nil {
				t.Logf("%s: no fidelity points: %v", name, err)
				return
			}
			points, err := tr.ParsePoints(strings.TrimSuffix(string(raw), "\n"))
			require.NoError(t, err)
			assert.Contains(t, points, peak.op)
			assert.Len(t, tr.LiveAfter(points), len(points))
		})
	}
	t.Logf("read %d traces in %v", len(paths), total.Round(time.Millisecond))
}
