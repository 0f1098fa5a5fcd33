package pytrace

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/winetest"
)

const formatExample = FormatExample

func TestReadFormatExample(t *testing.T) {
	tr, err := Read(strings.NewReader(formatExample), "example.trace.gz")
	require.NoError(t, err)
	assert.Equal(t, "example", tr.Name)
	assert.Equal(t, []Op{
		makeOp(Malloc, 1, 0, 56),
		makeOp(Calloc, 2, 0, 48),
		makeOp(Realloc, 3, 0, 16),
		makeOp(Realloc, 4, 1, 120),
		makeOp(Free, 3, 0, 0),
		makeOp(Malloc, 5, 0, 0),
		makeOp(Free, 2, 0, 0),
	}, tr.Ops)
	assert.Equal(t, []CallocArgs{{Nelem: 1, Elsize: 48}}, tr.Callocs)
	assert.Equal(t, uint32(5), tr.MaxID)
	assert.Equal(t, "", tr.Command)
	// live bytes after each op: 56, 104, 120, 184 (56 gives way to 120),
	// 168, 168, 120; live blocks: 1, 2, 3, 3, 2, 3, 2.
	assert.Equal(t, Stats{
		Mallocs: 2, Callocs: 1, Reallocs: 2, Frees: 2,
		PeakLiveBytes: 184, PeakLiveBytesOp: 4,
		PeakLiveBlocks: 3,
		LiveAtEnd:      2, LiveBytesAtEnd: 120,
	}, tr.Stats)
	assert.Equal(t, []uint64{1, 2, 3, 3, 2, 3, 2}, tr.LiveAfter([]int{1, 2, 3, 4, 5, 6, 7}))
	assert.Equal(t, []uint64{0, 3, 2}, tr.LiveAfter([]int{0, 4, 7}))

	// Accessors.
	r := tr.Ops[3]
	assert.Equal(t, Realloc, r.Kind())
	assert.Equal(t, uint32(4), r.ID())
	assert.Equal(t, uint32(1), r.Old())
	assert.Equal(t, uint64(120), r.Size())
}

func TestReadValid(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		ops   []Op
		cmd   string
		stats Stats
	}{
		{name: "empty input", in: ""},
		{name: "comments only", in: "# pytrace 1\n#\n"},
		{
			name:  "command, first one wins",
			in:    "# command: python3 -m x\n# command: other\nm 1 0\n",
			ops:   []Op{makeOp(Malloc, 1, 0, 0)},
			cmd:   "python3 -m x",
			stats: Stats{Mallocs: 1, PeakLiveBlocks: 1, LiveAtEnd: 1},
		},
		{
			name: "empty command",
			in:   "# command: \n",
			cmd:  "",
		},
		{
			name: "comment between ops",
			in:   "m 1 10\n# note\nf 1\n",
			ops:  []Op{makeOp(Malloc, 1, 0, 10), makeOp(Free, 1, 0, 0)},
			stats: Stats{Mallocs: 1, Frees: 1, PeakLiveBytes: 10, PeakLiveBytesOp: 1,
				PeakLiveBlocks: 1},
		},
		{
			name: "zero numbers",
			in:   "c 1 0 0\nr 0 2 0\n",
			ops:  []Op{makeOp(Calloc, 1, 0, 0), makeOp(Realloc, 2, 0, 0)},
			stats: Stats{Callocs: 1, Reallocs: 1, PeakLiveBlocks: 2,
				LiveAtEnd: 2},
		},
		{
			name: "largest size",
			in:   "m 1 4611686018427387903\nf 1\n",
			ops:  []Op{makeOp(Malloc, 1, 0, 1<<62-1), makeOp(Free, 1, 0, 0)},
			stats: Stats{Mallocs: 1, Frees: 1, PeakLiveBytes: 1<<62 - 1,
				PeakLiveBytesOp: 1, PeakLiveBlocks: 1},
		},
		{
			name: "calloc product is the size",
			in:   "c 1 2147483648 2147483647\n",
			ops:  []Op{makeOp(Calloc, 1, 0, 1<<62-1<<31)},
			stats: Stats{Callocs: 1, PeakLiveBytes: 1<<62 - 1<<31, PeakLiveBytesOp: 1,
				PeakLiveBlocks: 1, LiveAtEnd: 1, LiveBytesAtEnd: 1<<62 - 1<<31},
		},
		{
			name: "peak op is the first to reach the peak",
			in:   "m 1 8\nf 1\nm 2 8\nm 3 0\n",
			ops: []Op{makeOp(Malloc, 1, 0, 8), makeOp(Free, 1, 0, 0),
				makeOp(Malloc, 2, 0, 8), makeOp(Malloc, 3, 0, 0)},
			stats: Stats{Mallocs: 3, Frees: 1, PeakLiveBytes: 8, PeakLiveBytesOp: 1,
				PeakLiveBlocks: 2, LiveAtEnd: 2, LiveBytesAtEnd: 8},
		},
		{
			name: "realloc shrinking",
			in:   "m 1 100\nr 1 2 10\n",
			ops:  []Op{makeOp(Malloc, 1, 0, 100), makeOp(Realloc, 2, 1, 10)},
			stats: Stats{Mallocs: 1, Reallocs: 1, PeakLiveBytes: 100, PeakLiveBytesOp: 1,
				PeakLiveBlocks: 1, LiveAtEnd: 1, LiveBytesAtEnd: 10},
		},
		{
			name: "many IDs cross bitset words",
			in:   manyMallocs(130) + "f 64\nf 65\nf 128\nm 131 2\n",
			stats: Stats{Mallocs: 131, Frees: 3, PeakLiveBytes: 130, PeakLiveBytesOp: 130,
				PeakLiveBlocks: 130, LiveAtEnd: 128, LiveBytesAtEnd: 129},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := Read(strings.NewReader(tc.in), "x")
			require.NoError(t, err)
			if tc.ops != nil {
				assert.Equal(t, tc.ops, tr.Ops)
			}
			assert.Equal(t, tc.cmd, tr.Command)
			assert.Equal(t, tc.stats, tr.Stats)
			checkInvariants(t, tr)
		})
	}
}

// manyMallocs returns n lines "m ID 1" for IDs 1..n.
func manyMallocs(n int) string {
	var b strings.Builder
	for id := 1; id <= n; id++ {
		b.WriteString("m ")
		b.WriteString(strconv.Itoa(id))
		b.WriteString(" 1\n")
	}
	return b.String()
}

func TestReadInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line string // "name:line:" prefix expected
		want string // part of the message naming the fault
	}{
		{"empty line", "m 1 1\n\nf 1\n", "x.trace:2:", "empty line"},
		{"no final newline", "m 1 1\nf 1", "x.trace:2:", "does not end with a newline"},
		{"no newline, comment", "# hi", "x.trace:1:", "does not end with a newline"},
		{"CRLF", "m 1 1\r\n", "x.trace:1:", `"\r"`},
		{"CRLF comment", "# a\r\nm 1 2\r\n", "x.trace:1:", `"\r"`},
		{"unknown op", "x 1 1\n", "x.trace:1:", `unknown op "x"`},
		{"upper case op", "M 1 1\n", "x.trace:1:", `unknown op "M"`},
		{"long op name", "mm 1 1\n", "x.trace:1:", `unknown op "mm"`},
		{"op alone", "m\n", "x.trace:1:", "too few fields: m takes 2 numbers, found 0"},
		{"missing size", "m 1\n", "x.trace:1:", "too few fields: m takes 2 numbers, found 1"},
		{"missing calloc field", "c 1 2\n", "x.trace:1:", "too few fields: c takes 3"},
		{"missing realloc field", "r 0 1\n", "x.trace:1:", "too few fields: r takes 3"},
		{"extra field", "m 1 1 1\n", "x.trace:1:", "too many fields: m takes 2"},
		{"extra free field", "m 1 1\nf 1 1\n", "x.trace:2:", "too many fields: f takes 1"},
		{"trailing space", "m 1 1 \n", "x.trace:1:", "ends with a space"},
		{"trailing space mid", "m 1 \n", "x.trace:1:", "ends with a space"},
		{"two spaces", "m 1  1\n", "x.trace:1:", "two spaces"},
		{"two spaces after op", "m  1 1\n", "x.trace:1:", "two spaces"},
		{"tab", "m 1\t1\n", "x.trace:1:", `"1\t1" is not an unsigned decimal number`},
		{"leading zero", "m 01 1\n", "x.trace:1:", `"01" has a leading zero`},
		{"leading zeros in size", "m 1 007\n", "x.trace:1:", `"007" has a leading zero`},
		{"double zero", "m 1 00\n", "x.trace:1:", `"00" has a leading zero`},
		{"plus sign", "m 1 +1\n", "x.trace:1:", `"+1" is not an unsigned decimal`},
		{"minus sign", "m 1 -1\n", "x.trace:1:", `"-1" is not an unsigned decimal`},
		{"letters", "m 1 12a\n", "x.trace:1:", `"12a" is not an unsigned decimal`},
		{"hex", "m 1 0x10\n", "x.trace:1:", `"0x10" is not an unsigned decimal`},
		{"uint64 overflow", "m 1 18446744073709551616\n", "x.trace:1:", `"18446744073709551616" does not fit in 64 bits`},
		{"huge number", "m 1 99999999999999999999999\n", "x.trace:1:", "does not fit in 64 bits"},
		{"size over 62 bits", "m 1 4611686018427387904\n", "x.trace:1:", "size 4611686018427387904 does not fit in 62 bits"},
		{"max uint64 size", "m 1 18446744073709551615\n", "x.trace:1:", "does not fit in 62 bits"},
		{"realloc size over 62 bits", "r 0 1 4611686018427387904\n", "x.trace:1:", "does not fit in 62 bits"},
		{"calloc overflow", "c 1 4294967296 4294967296\n", "x.trace:1:", "calloc(4294967296, 4294967296): nelem*elsize overflows 64 bits"},
		{"calloc over 62 bits", "c 1 2 2305843009213693952\n", "x.trace:1:", "does not fit in 62 bits"},
		{"live bytes overflow", "m 1 4611686018427387903\nm 2 4611686018427387903\nm 3 4611686018427387903\nm 4 4611686018427387903\nm 5 4611686018427387903\n",
			"x.trace:5:", "live bytes overflow 64 bits"},
		{"first ID not 1", "m 2 1\n", "x.trace:1:", "new block ID 2, want 1"},
		{"ID 0 malloc", "m 0 1\n", "x.trace:1:", "new block with ID 0"},
		{"ID 0 calloc", "c 0 1 1\n", "x.trace:1:", "new block with ID 0"},
		{"ID 0 realloc", "r 0 0 1\n", "x.trace:1:", "new block with ID 0"},
		{"ID gap", "m 1 1\nm 3 1\n", "x.trace:2:", "new block ID 3, want 2"},
		{"ID reused", "m 1 1\nf 1\nm 1 1\n", "x.trace:3:", "new block ID 1, want 2"},
		{"ID over 32 bits", "m 4294967296 1\n", "x.trace:1:", "new block ID 4294967296 is over 2^32-1"},
		{"realloc new ID gap", "m 1 1\nr 1 3 1\n", "x.trace:2:", "new block ID 3, want 2"},
		{"free of ID 0", "m 1 1\nf 0\n", "x.trace:2:", "free of ID 0"},
		{"free never allocated", "m 1 1\nf 2\n", "x.trace:2:", "free of ID 2, which was never allocated"},
		{"free before anything", "f 1\n", "x.trace:1:", "free of ID 1, which was never allocated"},
		{"free huge ID", "m 1 1\nf 18446744073709551615\n", "x.trace:2:", "free of ID 18446744073709551615, which was never allocated"},
		{"double free", "m 1 1\nf 1\nf 1\n", "x.trace:3:", "free of ID 1, which is not live"},
		{"free after realloc", "m 1 1\nr 1 2 5\nf 1\n", "x.trace:3:", "free of ID 1, which is not live"},
		{"realloc of freed", "m 1 1\nf 1\nr 1 2 5\n", "x.trace:3:", "realloc of ID 1, which is not live"},
		{"realloc of itself", "m 1 1\nr 2 2 5\n", "x.trace:2:", "realloc of ID 2, which was never allocated"},
		{"realloc never allocated", "m 1 1\nr 7 2 5\n", "x.trace:2:", "realloc of ID 7, which was never allocated"},
		{"realloc twice", "m 1 1\nr 1 2 5\nr 1 3 5\n", "x.trace:3:", "realloc of ID 1, which is not live"},
		{"line numbers count comments", "# a\n# b\nm 1 1\n# c\nf 2\n", "x.trace:5:", "free of ID 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := Read(strings.NewReader(tc.in), "x.trace")
			require.Error(t, err)
			assert.Nil(t, tr, "no partial trace")
			assert.True(t, strings.HasPrefix(err.Error(), tc.line+" "), "%q should start with %q", err, tc.line)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestReadDocExampleMessage(t *testing.T) {
	in := manyMallocs(17) + "f 17\nf 17\n"
	_, err := Read(strings.NewReader(in), "test_re.trace.gz")
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "test_re.trace.gz:19: free of ID 17, which is not live"), err.Error())
}

// errReader fails after its data, like a truncated gzip stream.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadIOError(t *testing.T) {
	_, err := Read(&errReader{data: []byte("m 1 1\nf 1\nm 2"), err: assert.AnError}, "x")
	require.Error(t, err)
	assert.ErrorIs(t, err, assert.AnError)
	assert.True(t, strings.HasPrefix(err.Error(), "x:3: "), err.Error())
}

// Lines longer than the reader's buffer: comments are skipped (and a long
// command kept whole); a long op line is refused.
func TestReadLongLines(t *testing.T) {
	long := strings.Repeat("y", 100)
	tr, err := read(strings.NewReader("# "+long+"\n# command: "+long+"\nm 1 5\n# "+long+"\n"), "x", 16)
	require.NoError(t, err)
	assert.Equal(t, long, tr.Command)
	assert.Len(t, tr.Ops, 1)

	tr, err = read(strings.NewReader("# command: a\n# command: "+long+"\n"), "x", 16)
	require.NoError(t, err)
	assert.Equal(t, "a", tr.Command)

	_, err = read(strings.NewReader("m 1 5\nm 2 "+long+"\n"), "x", 16)
	require.ErrorContains(t, err, "x:2: line longer than 16 bytes")

	_, err = read(strings.NewReader("# "+long), "x", 16)
	require.ErrorContains(t, err, "x:1: last line does not end with a newline")

	_, err = read(&errReader{data: []byte("# " + long), err: assert.AnError}, "x", 16)
	require.ErrorIs(t, err, assert.AnError)
}

func TestReadFile(t *testing.T) {
	dir := winetest.TempDir(t)
	plain := filepath.Join(dir, "ex.trace")
	require.NoError(t, os.WriteFile(plain, []byte(formatExample), 0o644))
	tr, err := ReadFile(plain)
	require.NoError(t, err)
	assert.Equal(t, "ex", tr.Name)
	assert.Len(t, tr.Ops, 7)

	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, err = zw.Write([]byte(formatExample))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	gz := filepath.Join(dir, "ex.trace.gz")
	require.NoError(t, os.WriteFile(gz, z.Bytes(), 0o644))
	tr, err = ReadFile(gz)
	require.NoError(t, err)
	assert.Equal(t, "ex", tr.Name)
	assert.Len(t, tr.Ops, 7)

	// Truncated gzip: an error naming the file, no trace.
	cut := filepath.Join(dir, "cut.trace.gz")
	require.NoError(t, os.WriteFile(cut, z.Bytes()[:z.Len()-4], 0o644))
	tr, err = ReadFile(cut)
	require.Error(t, err)
	assert.Nil(t, tr)
	assert.Contains(t, err.Error(), cut+":")

	// The content decides, not the name, as with zlib's gzopen: plain text
	// named .gz, gzip named otherwise, and an empty file (no ops).
	named := filepath.Join(dir, "plain.gz")
	require.NoError(t, os.WriteFile(named, []byte(formatExample), 0o644))
	tr, err = ReadFile(named)
	require.NoError(t, err)
	assert.Len(t, tr.Ops, 7)
	named = filepath.Join(dir, "zipped.trace")
	require.NoError(t, os.WriteFile(named, z.Bytes(), 0o644))
	tr, err = ReadFile(named)
	require.NoError(t, err)
	assert.Len(t, tr.Ops, 7)
	empty := filepath.Join(dir, "empty.trace.gz")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	tr, err = ReadFile(empty)
	require.NoError(t, err)
	assert.Empty(t, tr.Ops)

	// A gzip header cut short.
	bad := filepath.Join(dir, "bad.gz")
	require.NoError(t, os.WriteFile(bad, z.Bytes()[:5], 0o644))
	_, err = ReadFile(bad)
	require.ErrorContains(t, err, bad+": ")

	_, err = ReadFile(filepath.Join(dir, "missing.trace.gz"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestTraceName(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "",
		"test_re.trace.gz":                "test_re",
		"/a/b/json_tool.trace.gz":         "json_tool",
		"x.gz":                            "x",
		"x.trace":                         "x",
		"x.txt":                           "x.txt",
		"../../shared/traces/pydoc.trace": "pydoc",
	} {
		assert.Equal(t, want, traceName(in), in)
	}
}

func TestKindString(t *testing.T) {
	assert.Equal(t, "m", Malloc.String())
	assert.Equal(t, "c", Calloc.String())
	assert.Equal(t, "r", Realloc.String())
	assert.Equal(t, "f", Free.String())
	assert.Equal(t, "Kind(7)", Kind(7).String())
}

// The header's counts are capacity hints only: a lying header changes
// nothing in the trace, and cannot cause a huge allocation.
func TestReadHints(t *testing.T) {
	body := manyMallocs(hintAfter+10) + "f 3\n"
	honest, err := Read(strings.NewReader(body), "x")
	require.NoError(t, err)
	for _, header := range []string{
		"# ops: 1 m: 1 c: 1\n# max_id: 1\n",
		"# ops: 1000000000000 m: 0 c: 1000000000000\n# max_id: 1000000000000\n",
		"# ops: -5\n# max_id: -2\n",
		"# ops: x\n# max_id: 9223372036854775807\n",
	} {
		tr, err := Read(strings.NewReader(header+body), "x")
		require.NoError(t, err)
		assert.Equal(t, honest.Ops, tr.Ops)
		assert.Equal(t, honest.Stats, tr.Stats)
		assert.LessOrEqual(t, cap(tr.Ops), hintFactor*(hintAfter+11))
	}
	// An honest header sizes the ops exactly.
	tr, err := Read(strings.NewReader(fmt.Sprintf("# ops: %d m: %d c: 0\n", hintAfter+11, hintAfter+10)+body), "x")
	require.NoError(t, err)
	assert.Equal(t, hintAfter+11, cap(tr.Ops))
}
