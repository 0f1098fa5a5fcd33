package pytrace

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/winetest"
)

// checkInvariants checks a returned trace against a plain map-based model
// written independently of the validator: kinds, dense IDs, liveness, the
// calloc table and every statistic.
func checkInvariants(t *testing.T, tr *Trace) {
	t.Helper()
	s := tr.Stats
	require.Equal(t, len(tr.Ops), s.Mallocs+s.Callocs+s.Reallocs+s.Frees, "op counts")
	require.Equal(t, uint64(tr.MaxID), uint64(s.Mallocs+s.Callocs+s.Reallocs), "MaxID")
	require.Len(t, tr.Callocs, s.Callocs)

	// Plain ifs in the loop, not require: the fuzzer's minimizer runs this
	// thousands of times on inputs of thousands of ops.
	live := map[uint32]uint64{} // ID -> requested size
	var maxID uint32
	var bytes, peakBytes, peakBlocks uint64
	peakOp, ncal := 0, 0
	count := map[Kind]int{}
	for i, o := range tr.Ops {
		n := i + 1
		count[o.Kind()]++
		if o.Size() >= 1<<62 {
			t.Fatalf("op %d: size %d over 62 bits", n, o.Size())
		}
		switch o.Kind() {
		case Free:
			if o.Size() != 0 || o.Old() != 0 {
				t.Fatalf("op %d: free with size %d, old %d", n, o.Size(), o.Old())
			}
			if o.ID() > maxID {
				t.Fatalf("op %d frees ID %d, past the largest %d", n, o.ID(), maxID)
			}
			size, ok := live[o.ID()]
			if !ok {
				t.Fatalf("op %d frees dead ID %d", n, o.ID())
			}
			delete(live, o.ID())
			bytes -= size
			continue
		case Realloc:
			if o.Old() != 0 {
				if o.Old() > maxID {
					t.Fatalf("op %d reallocs ID %d, past the largest %d", n, o.Old(), maxID)
				}
				size, ok := live[o.Old()]
				if !ok {
					t.Fatalf("op %d reallocs dead ID %d", n, o.Old())
				}
				delete(live, o.Old())
				bytes -= size
			}
		case Calloc:
			if o.Old() != uint32(ncal) {
				t.Fatalf("op %d: calloc index %d, want %d", n, o.Old(), ncal)
			}
			if a := tr.Callocs[ncal]; a.Nelem*a.Elsize != o.Size() {
				t.Fatalf("op %d: calloc(%d, %d) has size %d", n, a.Nelem, a.Elsize, o.Size())
			}
			ncal++
		case Malloc:
			if o.Old() != 0 {
				t.Fatalf("op %d: malloc with old %d", n, o.Old())
			}
		}
		if o.ID() != maxID+1 {
			t.Fatalf("op %d creates ID %d, want %d (dense)", n, o.ID(), maxID+1)
		}
		maxID = o.ID()
		live[o.ID()] = o.Size()
		bytes += o.Size()
		if bytes > peakBytes {
			peakBytes, peakOp = bytes, n
		}
		peakBlocks = max(peakBlocks, uint64(len(live)))
	}
	assert.Equal(t, tr.MaxID, maxID)
	assert.Equal(t, Stats{
		Mallocs: count[Malloc], Callocs: count[Calloc], Reallocs: count[Realloc], Frees: count[Free],
		PeakLiveBytes: peakBytes, PeakLiveBytesOp: peakOp, PeakLiveBlocks: peakBlocks,
		LiveAtEnd: uint64(len(live)), LiveBytesAtEnd: bytes,
	}, s)
	if n := len(tr.Ops); n > 0 {
		assert.Equal(t, []uint64{0, s.LiveAtEnd}, tr.LiveAfter([]int{0, n}))
	}
}

func FuzzRead(f *testing.F) {
	for _, seed := range []string{
		formatExample,
		"",
		"# command: python3 -m test test_re\nm 1 0\nm 2 512\nm 3 513\nf 2\nr 3 4 0\nc 5 3 8\nr 0 6 16\nf 6\n",
		"m 1 4611686018427387903\nf 1\nm 2 4611686018427387903\n",
		"m 1 1\nf 1\nf 1\n",
		"m 1 01\n",
		"m 1 1\r\n",
		"c 1 4294967296 4294967296\n",
		"r 1 1 1\n",
		"m 1 1\nm 3 1\n",
		"m 1 1",
		"m 1  1\n",
		"\n",
		"# " + strings.Repeat("x", 40) + "\nm 1 2\n",
		"# ops: 99999999999 m: 1 c: 9999999999\n# max_id: 9223372036854775807\nc 1 2 3\n",
		"# command: " + strings.Repeat("y", 30) + "\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Go's minimizer takes time quadratic in the input's length, and
		// a run spent most of its time minimizing inputs of kilobytes.
		// Every check here is local to a few lines (the bitset's word
		// boundaries come at 64 IDs), so 1 KB is plenty.
		if len(data) > 1<<10 {
			return
		}
		// The 16-byte buffer sends long lines through longLine as well;
		// Read's own 1 MB buffer would make each run slow to allocate.
		for _, size := range []int{16, 4096} {
			tr, err := read(bytes.NewReader(data), "fuzz", size)
			if err != nil {
				require.Nil(t, tr)
				require.True(t, strings.HasPrefix(err.Error(), "fuzz:"), err.Error())
				continue
			}
			require.NotNil(t, tr)
			checkInvariants(t, tr)
		}
	})
}

// FuzzReadFile feeds arbitrary bytes to ReadFile as a gzip'd trace (the
// form of the shared traces): a corrupt, truncated or lying stream must
// give an error naming the file, never a panic or a partial trace.
func FuzzReadFile(f *testing.F) {
	var whole bytes.Buffer
	zw := gzip.NewWriter(&whole)
	_, _ = zw.Write([]byte(formatExample))
	_ = zw.Close()
	gz := whole.Bytes()
	badCRC := bytes.Clone(gz)
	badCRC[len(badCRC)-6] ^= 0xff
	for _, seed := range [][]byte{gz, gz[:len(gz)/2], gz[:10], badCRC, {}, []byte("m 1 1\n"), append(bytes.Clone(gz), gz...)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<12 {
			return
		}
		path := filepath.Join(winetest.TempDir(t), "fuzz.trace.gz")
		require.NoError(t, os.WriteFile(path, data, 0o600))
		tr, err := ReadFile(path)
		if err != nil {
			require.Nil(t, tr)
			require.True(t, strings.HasPrefix(err.Error(), path), err.Error())
			return
		}
		checkInvariants(t, tr)
	})
}
