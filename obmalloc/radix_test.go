package obmalloc

import (
	"math/bits"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// The arena map records address ranges only, so it can be tested with
// arenas at made-up addresses: here two arenas 64 GiB apart, under
// different bottom nodes (each spans 16 GiB with 1 MiB arenas), one
// aligned and one not, so isUsed answers both from the cached node and
// by walking the tree.
func TestArenaMapAcrossBottomNodes(t *testing.T) {
	if bits.UintSize < 64 {
		t.Skip("the addresses are 64-bit ones")
	}
	var m arenaMap
	m.init(20)
	root, err := mmap.Map(m.rootBytes)
	require.NoError(t, err)
	m.root = uintptr(root)
	t.Cleanup(func() {
		for _, n := range m.nodes {
			_ = mmap.Unmap(ptr(n.addr), n.size)
		}
		_ = mmap.Unmap(root, m.rootBytes)
	})

	const mib = 1 << 20
	a64, b64 := uint64(0x7f10_0000_0000), uint64(0x7f20_0000_0000) // variables: no 32-bit overflow
	a := uintptr(a64)                                              // aligned
	b := uintptr(b64) + 0x4000                                     // 64 GiB further, misaligned
	for _, tc := range []struct {
		name  string
		base  uintptr
		other uintptr // the other arena, under another bottom node
	}{{"first", a, b}, {"second", b, a}} {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, m.mark(tc.base, true))
			assert.Equal(t, tc.base>>m.midShift, m.hotKey, "the last arena marked is cached")
			for _, base := range []uintptr{a, b} {
				if !m.isUsedRangeMarked(base) {
					continue
				}
				assert.True(t, m.isUsed(base), "%#x", base)
				assert.True(t, m.isUsed(base+mib-1), "%#x", base+mib-1)
				assert.False(t, m.isUsed(base-1), "%#x", base-1)
				assert.False(t, m.isUsed(base+mib), "%#x", base+mib)
			}
			assert.False(t, m.isUsed(tc.other+3*mib), "an address under the other node")
		})
	}
	assert.Equal(t, 2, m.botCount)
	// Forgetting an arena leaves the cache valid: the node stays.
	require.True(t, m.mark(b, false))
	assert.False(t, m.isUsed(b))
	assert.True(t, m.isUsed(a))
}

// isUsedRangeMarked reports whether mark has recorded an arena at base
// (test helper: the leaf of base's slot says so).
func (m *arenaMap) isUsedRangeMarked(base uintptr) bool {
	l := m.leaf(base, false)
	return l != 0 && (*arenaCoverage)(ptr(l)).tailHi != 0
}
