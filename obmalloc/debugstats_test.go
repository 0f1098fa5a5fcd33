package obmalloc

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/arenatest"
)

// Golden: CPython 3.11.7's own dumps, parsed into Stats and written back,
// come out byte for byte.
func TestDebugMallocStatsGolden(t *testing.T) {
	for _, name := range []string{"cpython-3.11.7-startup.txt", "cpython-3.11.7-compileall-end.txt"} {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile("testdata/" + name)
			require.NoError(t, err)
			s, err := ParseDebugMallocStats(bytes.NewReader(want))
			require.NoError(t, err)
			var got bytes.Buffer
			require.NoError(t, s.WriteDebugMallocStats(&got))
			assert.Equal(t, string(want), got.String())
		})
	}
}

// An empty heap prints what CPython's first PYTHONMALLOCSTATS dump prints:
// no arena, an empty table, and only the radix root's cost. The root is
// 2^15 words: 262,144 bytes as on 64-bit CPython, 131,072 on a 32-bit
// system, where the port keeps the 64-bit tree (docs/fidelity.md).
func TestDebugMallocStatsEmptyHeap(t *testing.T) {
	h := newHeap(t, Config{})
	var got bytes.Buffer
	require.NoError(t, h.WriteDebugMallocStats(&got))
	root := map[uintptr]string{8: "262,144", 4: "131,072"}[ptrSize]
	require.NotEmpty(t, root, "a word of %d bytes", ptrSize)
	assert.Equal(t, strings.ReplaceAll(`Small block threshold = 512, in 32 size classes.

class   size   num pools   blocks in use  avail blocks
-----   ----   ---------   -------------  ------------

# arenas allocated total           =                    0
# arenas reclaimed                 =                    0
# arenas highwater mark            =                    0
# arenas allocated current         =                    0
0 arenas * 1048576 bytes/arena     =                    0

# bytes in allocated blocks        =                    0
# bytes in available blocks        =                    0
0 unused pools * 16384 bytes       =                    0
# bytes lost to pool headers       =                    0
# bytes lost to quantization       =                    0
# bytes lost to arena alignment    =                    0
Total                              =                    0

arena map counts
# arena map mid nodes              =                    0
# arena map bot nodes              =                    0

# bytes lost to arena map root     =                 ROOT
# bytes lost to arena map mid      =                    0
# bytes lost to arena map bot      =                    0
Total                              =                 ROOT
`, "   ROOT", root), got.String())
}

// The rows follow from the requests alone: 1000 blocks of 16 bytes fill
// 1000 of the 1021 slots of one pool; 100 of 512 bytes need 4 pools of 31.
func TestDebugMallocStatsRows(t *testing.T) {
	h := newHeap(t, Config{})
	for i := 0; i < 1000; i++ {
		h.Malloc(16)
	}
	for i := 0; i < 100; i++ {
		h.Malloc(500)
	}
	h.Malloc(0) // large allocator: not in the table
	var got bytes.Buffer
	require.NoError(t, h.WriteDebugMallocStats(&got))
	assert.Contains(t, got.String(), "-----   ----   ---------   -------------  ------------\n"+
		"    0     16           1            1000            21\n"+
		"   31    512           4             100            24\n\n")
	s := h.Stats()
	assert.Equal(t, uintptr(1000*16+100*512), s.BytesInAllocatedBlocks)
	assert.Equal(t, 5*uintptr(48), s.BytesLostToPoolHeaders)
	assert.Equal(t, 4*uintptr(464), s.BytesLostToQuantization)
	assert.Equal(t, 1, s.ArenasCurrent)
	assert.Equal(t, 1101, s.AllocatedBlocks())
	parsed, err := ParseDebugMallocStats(&got)
	require.NoError(t, err)
	parsed.RawAllocatedBlocks = s.RawAllocatedBlocks // not part of the dump
	assert.Equal(t, s, parsed)
}

func TestParseDebugMallocStatsErrors(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"Small block threshold = x", "line 1: bad header"},
		{"Small block threshold = 512, in 32 size classes.\n-----\n   99     16  1 1 1\n", "line 3: bad size-class row"},
		{"# arenas allocated total = lots\n", "line 1: not a label = value line"},
		{"# unheard of = 3\n", `line 1: unknown label "# unheard of"`},
		{"Small block threshold = 512, in 32 size classes.\n", "ends before"},
	} {
		_, err := ParseDebugMallocStats(strings.NewReader(tc.in))
		assert.ErrorContains(t, err, tc.err, tc.in)
	}
}

// Stats of two heaps add up to the stats of both: blocks, bytes, arenas,
// and the identity that the byte lines sum to the arenas' bytes.
func TestStatsAdd(t *testing.T) {
	// a's arenas are not pool-aligned, and b has unmapped some: every
	// figure of the sum has something to add.
	a := newHeap(t, Config{Arenas: &arenatest.HeadlessArenas{PoolSize: DefaultPoolSize, HeadBytes: 4096}})
	b := newHeap(t, Config{Policy: ReleaseArenas})
	var ps []unsafe.Pointer
	for b.narenasCurrentlyAllocated < 3 {
		ps = append(ps, b.Malloc(512))
	}
	for _, p := range ps {
		b.Free(p)
	}
	for i := range 3000 {
		a.Malloc(uintptr(1 + i%512))
		if i%3 == 0 {
			b.Malloc(uintptr(1 + i%100))
		}
	}
	b.Malloc(4000) // a large block
	sa, sb := a.Stats(), b.Stats()
	var sum Stats
	sum.Add(sa)
	sum.Add(sb)
	assert.Equal(t, sa.AllocatedBlocks()+sb.AllocatedBlocks(), sum.AllocatedBlocks())
	assert.Equal(t, sa.ArenaBytes()+sb.ArenaBytes(), sum.ArenaBytes())
	assert.Equal(t, sum.ArenaBytes(), sum.BytesInAllocatedBlocks+sum.BytesInAvailableBlocks+
		uintptr(sum.UnusedPools)*sum.PoolSize+sum.BytesLostToPoolHeaders+
		sum.BytesLostToQuantization+sum.BytesLostToArenaAlignment)
	for i, c := range sum.Classes {
		assert.Equal(t, ClassStats{Class: i, Size: sa.Classes[i].Size,
			Pools:       sa.Classes[i].Pools + sb.Classes[i].Pools,
			BlocksInUse: sa.Classes[i].BlocksInUse + sb.Classes[i].BlocksInUse,
			AvailBlocks: sa.Classes[i].AvailBlocks + sb.Classes[i].AvailBlocks}, c, "class %d", i)
	}
	// Every count and byte figure adds up; the layout's figures (sizes of
	// a pool, an arena, a radix node) are the heaps' own.
	layoutFields := map[string]bool{"Threshold": true, "PoolSize": true, "ArenaSize": true, "ArenaMapMidBytes": true, "ArenaMapBotBytes": true}
	va, vb, vs := reflect.ValueOf(sa), reflect.ValueOf(sb), reflect.ValueOf(sum)
	for i := range vs.NumField() {
		name := vs.Type().Field(i).Name
		if name == "Classes" {
			continue
		}
		a, b, got := figure(va.Field(i)), figure(vb.Field(i)), figure(vs.Field(i))
		if layoutFields[name] {
			assert.Equal(t, a, got, name)
			continue
		}
		require.Positive(t, a+b, "%s: the heaps give it something to add", name)
		assert.Equal(t, a+b, got, name)
	}
	assert.Equal(t, sa.Classes[1].Pools, a.Stats().Classes[1].Pools, "Add copies the first Stats' rows, never aliases them")
}

// figure reads an int or uintptr field of Stats.
func figure(v reflect.Value) uint64 {
	if v.CanInt() {
		return uint64(v.Int())
	}
	return v.Uint()
}
