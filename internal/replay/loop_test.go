package replay

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// huge is a request no allocator can serve: 2^61 + 3 GiB bytes, which
// the large allocator cannot map on a 64-bit system, and whose low 32
// bits, all a 32-bit uintptr keeps, are 3 GiB, above PY_SSIZE_T_MAX
// there, so Malloc refuses it.
const huge = "2305843012434919424"

// TestLoopCountsNilResults: replayOps counts every allocation that returns
// nil, whichever call made it, leaves its slot nil, and goes on; a later
// free of such an ID does nothing, with and without touching.
func TestLoopCountsNilResults(t *testing.T) {
	tests := []struct {
		name  string
		trace string
		fails int
		nil   []uint32 // slots that must stay nil
		live  []uint32 // slots that must hold a block
	}{
		{"none", "m 1 24\nc 2 3 8\nr 1 3 40\n", 0, nil, []uint32{2, 3}},
		{"malloc", "m 1 " + huge + "\nm 2 16\nf 1\n", 1, []uint32{1}, []uint32{2}},
		{"calloc", "c 1 1 " + huge + "\nm 2 16\nf 1\n", 1, []uint32{1}, []uint32{2}},
		{"realloc of NULL", "r 0 1 " + huge + "\nm 2 16\nf 1\n", 1, []uint32{1}, []uint32{2}},
		{"realloc of a block", "m 1 16\nr 1 2 " + huge + "\nm 3 16\nf 2\n", 1, []uint32{2}, []uint32{1, 3}},
		{"several", "m 1 " + huge + "\nc 2 1 " + huge + "\nr 0 3 " + huge + "\nm 4 600\n", 3, []uint32{1, 2, 3}, []uint32{4}},
	}
	for _, tt := range tests {
		for _, touch := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/touch=%v", tt.name, touch), func(t *testing.T) {
				tr := readTrace(t, "nil", tt.trace)
				h, table := newLoopHeap(t, tr)
				assert.Equal(t, tt.fails, replayOps(h, tr.Callocs, table, tr.Ops, touch))
				for _, id := range tt.nil {
					assert.Nil(t, *table.slot(id), "slot %d", id)
				}
				for _, id := range tt.live {
					assert.NotNil(t, *table.slot(id), "slot %d", id)
				}
			})
		}
	}
}

// TestLoopTouches: with touching on, replayOps writes 1 to the first and
// last byte of every new block, whichever call made it, and with it off
// it writes nothing (the blocks are virgin pool memory, or cleared by
// calloc, so they read 0). A block of 0 bytes is never touched.
func TestLoopTouches(t *testing.T) {
	tr := readTrace(t, "touch", "m 1 24\nc 2 3 8\nr 0 3 40\nm 4 16\nr 4 5 200\nm 6 0\n")
	sizes := map[uint32]uintptr{1: 24, 2: 24, 3: 40, 5: 200}
	for _, touch := range []bool{true, false} {
		t.Run(fmt.Sprintf("touch=%v", touch), func(t *testing.T) {
			h, table := newLoopHeap(t, tr)
			require.Zero(t, replayOps(h, tr.Callocs, table, tr.Ops, touch))
			want := byte(0)
			if touch {
				want = 1
			}
			for id, n := range sizes {
				p := *table.slot(id)
				require.NotNil(t, p, "block %d", id)
				b := unsafe.Slice((*byte)(p), n)
				assert.Equal(t, want, b[0], "first byte of block %d", id)
				assert.Equal(t, want, b[n-1], "last byte of block %d", id)
				assert.Zero(t, b[1], "second byte of block %d", id)
			}
			assert.NotNil(t, *table.slot(6), "malloc(0) gives a block")
		})
	}
}

// newLoopHeap gives a test of replayOps a new heap and an ID table for
// tr, released when the test ends (Close frees what is left, the large
// blocks too: the heap made its own large allocator).
func newLoopHeap(t *testing.T, tr *pytrace.Trace) (*obmalloc.Heap, idTable) {
	t.Helper()
	h, err := obmalloc.New(obmalloc.Config{})
	require.NoError(t, err)
	table, err := newIDTable(tr.MaxID)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, table.release())
		assert.NoError(t, h.Close())
	})
	return h, table
}
