package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/internal/winetest"
	"github.com/gopymalloc/gopymalloc/internal/workload"
)

// checkChurn checks a churn trace op by op against a model of
// workload.Churn's window: the mallocs that fill it, then per pair the free
// of the block in slot i%ChurnWindow and the malloc that replaces it.
func checkChurn(t *testing.T, tr *pytrace.Trace, pairs int) {
	t.Helper()
	const window = workload.ChurnWindow
	sizes := workload.Sizes(1<<16, 1, 512)
	require.Len(t, tr.Ops, window+2*pairs)
	assert.Equal(t, window+pairs, tr.Stats.Mallocs)
	assert.Equal(t, pairs, tr.Stats.Frees)
	assert.Zero(t, tr.Stats.Callocs+tr.Stats.Reallocs)
	// Churn frees its window after timing stops; the trace leaves it live.
	assert.Equal(t, uint64(window), tr.Stats.PeakLiveBlocks)
	assert.Equal(t, uint64(window), tr.Stats.LiveAtEnd)
	assert.Equal(t, uint32(window+pairs), tr.MaxID)

	live := make([]uint32, window)
	for i := range window {
		op := tr.Ops[i]
		require.Equal(t, pytrace.Malloc, op.Kind(), "op %d", i+1)
		require.Equal(t, uint32(i+1), op.ID(), "op %d", i+1)
		require.Equal(t, uint64(sizes[i]), op.Size(), "op %d", i+1)
		live[i] = op.ID()
	}
	for i := range pairs {
		f, m := tr.Ops[window+2*i], tr.Ops[window+2*i+1]
		slot := i % window
		require.Equal(t, pytrace.Free, f.Kind(), "pair %d", i)
		require.Equal(t, live[slot], f.ID(), "pair %d frees slot %d's block", i, slot)
		require.Equal(t, pytrace.Malloc, m.Kind(), "pair %d", i)
		require.Equal(t, uint32(window+i+1), m.ID(), "pair %d", i)
		require.Equal(t, uint64(sizes[i&(1<<16-1)]), m.Size(), "pair %d", i)
		live[slot] = m.ID()
	}
}

// checkBulk checks one round of workload.Bulk: blocks mallocs with its
// sizes, then every block freed in allocation order.
func checkBulk(t *testing.T, tr *pytrace.Trace, blocks int) {
	t.Helper()
	sizes := workload.Sizes(blocks, 16, 256)
	require.Len(t, tr.Ops, 2*blocks)
	assert.Equal(t, blocks, tr.Stats.Mallocs)
	assert.Equal(t, blocks, tr.Stats.Frees)
	assert.Zero(t, tr.Stats.Callocs+tr.Stats.Reallocs)
	assert.Zero(t, tr.Stats.LiveAtEnd)
	assert.Equal(t, uint64(blocks), tr.Stats.PeakLiveBlocks)
	assert.Equal(t, uint32(blocks), tr.MaxID)
	for i := range blocks {
		m, f := tr.Ops[i], tr.Ops[blocks+i]
		require.Equal(t, pytrace.Malloc, m.Kind(), "op %d", i+1)
		require.Equal(t, uint32(i+1), m.ID(), "op %d", i+1)
		require.Equal(t, uint64(sizes[i]), m.Size(), "op %d", i+1)
		require.Equal(t, pytrace.Free, f.Kind(), "op %d", blocks+i+1)
		require.Equal(t, uint32(i+1), f.ID(), "op %d", blocks+i+1)
	}
}

// headerLines returns the leading comment lines of a trace's text.
func headerLines(t *testing.T, r io.Reader) []string {
	t.Helper()
	var lines []string
	sc := bufio.NewScanner(r)
	for sc.Scan() && strings.HasPrefix(sc.Text(), "#") {
		lines = append(lines, sc.Text())
	}
	require.NoError(t, sc.Err())
	return lines
}

// gunzip returns the text of a gzip'd file, checking that it is a single
// gzip member as FORMAT.md requires.
func gunzip(t *testing.T, path string) io.Reader {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	br := bytes.NewReader(data) // a ByteReader, so gzip reads no further than it must
	zr, err := gzip.NewReader(br)
	require.NoError(t, err)
	zr.Multistream(false)
	text, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.ErrorIs(t, zr.Reset(br), io.EOF, "more after the first gzip member")
	return bytes.NewReader(text)
}

// The whole command, as the C replayers' users run it, on a short churn.
func TestTraceChurnCommand(t *testing.T) {
	dir := winetest.TempDir(t)
	path := filepath.Join(dir, "churn.trace.gz")
	code, stdout, stderr := runCmd("trace", "churn", "-pairs", "1000", "-o", path)
	require.Equal(t, exitOK, code, stderr)
	assert.Empty(t, stdout)
	assert.Empty(t, stderr)

	tr, err := pytrace.ReadFile(path) // validates as it reads
	require.NoError(t, err)
	assert.Equal(t, "cmpalloc trace churn -pairs 1000", tr.Command)
	checkChurn(t, tr, 1000)
	assert.Equal(t, []string{
		"# pytrace 1",
		"# command: cmpalloc trace churn -pairs 1000",
		"# note: synthetic: the allocator core's churn workload, internal/workload",
		"# ops: 12000 m: 11000 c: 0 r: 0 f: 1000",
		"# max_id: 11000",
	}, headerLines(t, gunzip(t, path)))

	// The same arguments give the same bytes, flags before the name too.
	again := filepath.Join(dir, "again.trace.gz")
	code, _, stderr = runCmd("trace", "-pairs", "1000", "-o", again, "churn")
	require.Equal(t, exitOK, code, stderr)
	a, err := os.ReadFile(path)
	require.NoError(t, err)
	b, err := os.ReadFile(again)
	require.NoError(t, err)
	assert.Equal(t, a, b)
}

// More pairs than the window has slots, so frees come round to blocks that
// pairs made; in memory, without gzip, to stay quick.
func TestTraceChurnWraps(t *testing.T) {
	const pairs = 2*workload.ChurnWindow + 500
	var buf bytes.Buffer
	require.NoError(t, writeChurn(&buf, pairs))
	tr, err := pytrace.Read(&buf, "churn")
	require.NoError(t, err)
	checkChurn(t, tr, pairs)
}

// One round of bulk, through the function the command calls with
// BulkBlocks: the full round (2,000,000 ops) takes seconds to write, read
// and check, and fewer blocks exercise the same code (Sizes' first n values
// are the same for any n).
func TestTraceBulk(t *testing.T) {
	const blocks = 5000
	var buf bytes.Buffer
	require.NoError(t, writeBulk(&buf, blocks))
	assert.Equal(t, []string{
		"# pytrace 1",
		"# command: cmpalloc trace bulk",
		"# note: synthetic: the allocator core's bulk workload, internal/workload",
		"# ops: 10000 m: 5000 c: 0 r: 0 f: 5000",
		"# max_id: 5000",
	}, headerLines(t, bytes.NewReader(buf.Bytes())))
	tr, err := pytrace.Read(&buf, "bulk")
	require.NoError(t, err)
	assert.Equal(t, "cmpalloc trace bulk", tr.Command)
	checkBulk(t, tr, blocks)
}

func TestTraceUsage(t *testing.T) {
	out := filepath.Join(winetest.TempDir(t), "x.trace.gz")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no workload", []string{"trace", "-o", out}, "no workload"},
		{"nothing", []string{"trace"}, "no workload"},
		{"unknown workload", []string{"trace", "gc", "-o", out}, `unknown workload "gc"`},
		{"missing -o", []string{"trace", "churn"}, "-o FILE.trace.gz is required"},
		{"not gzip", []string{"trace", "churn", "-o", "x.trace"}, "must end in .gz"},
		{"zero pairs", []string{"trace", "churn", "-pairs", "0", "-o", out}, "-pairs must be at least 1"},
		{"negative pairs", []string{"trace", "churn", "-pairs", "-5", "-o", out}, "-pairs must be at least 1"},
		{"pairs for bulk", []string{"trace", "bulk", "-pairs", "10", "-o", out}, "-pairs applies to churn only"},
		{"extra argument", []string{"trace", "churn", "-o", out, "bulk"}, "unexpected arguments"},
		{"bad flag", []string{"trace", "churn", "-rounds", "3", "-o", out}, "-rounds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(tc.args...)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, stderr, tc.want)
			assert.NoFileExists(t, out)
		})
	}
}

func TestTraceWriteErrors(t *testing.T) {
	dir := winetest.TempDir(t)

	// A file that cannot be created: exit 1, and the message names it.
	bad := filepath.Join(dir, "no", "such", "dir.trace.gz")
	code, _, stderr := runCmd("trace", "churn", "-pairs", "1", "-o", bad)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, stderr, bad)

	// A failure after the file exists leaves no partial file behind.
	path := filepath.Join(dir, "partial.trace.gz")
	boom := errors.New("boom")
	err := writeTraceFile(path, func(w io.Writer) error {
		_, err := w.Write([]byte("# pytrace 1\nm 1 8\n"))
		return errors.Join(err, boom)
	})
	require.ErrorIs(t, err, boom)
	assert.NoFileExists(t, path)
}
