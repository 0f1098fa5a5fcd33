package obmalloc

import (
	"errors"
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// The arena map records address ranges only, so it can be tested with
// arenas at made-up addresses: two arenas under different bottom nodes,
// one aligned and one not, so isUsed answers both from the cached node and
// by walking the tree. With 1 MiB arenas a bottom node spans 16 GiB, so
// the arenas are 64 GiB apart, above a 32-bit address space; with small
// arenas it spans 256 MiB (4 KiB arenas) or 1 GiB (32 KiB), and two nodes
// fit below 4 GiB, where a 32-bit system also walks the mid level. The
// walk read the mid node's entries 8 bytes apart whatever the word size:
// on a 32-bit system it missed every arena not under the cached node.
func TestArenaMapAcrossBottomNodes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		arenaBits uint
		a, b      uint64 // a aligned, b misaligned
	}{
		{"1 MiB arenas", 20, 0x7f10_0000_0000, 0x7f20_0000_0000 + 0x4000},
		{"4 KiB arenas", 12, 0x4000_0000, 0xc000_0000 + 0x800},
		{"32 KiB arenas", 15, 0x4000_0000, 0xc000_0000 + 0x4000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.b > uint64(^uintptr(0)) {
				t.Skip("the addresses are 64-bit ones")
			}
			m := newTestArenaMap(t, tc.arenaBits)

			size := uintptr(1) << tc.arenaBits
			a, b := uintptr(tc.a), uintptr(tc.b)
			require.NotEqual(t, a>>m.midShift, b>>m.midShift, "under different bottom nodes")
			for _, step := range []struct {
				base  uintptr
				other uintptr // the other arena, under another bottom node
			}{{a, b}, {b, a}} {
				require.True(t, m.mark(step.base, true))
				assert.Equal(t, step.base&m.hotMask, m.hotKey, "the last arena marked is cached")
				for _, base := range []uintptr{a, b} {
					if !m.isUsedRangeMarked(base) {
						continue
					}
					assert.True(t, m.isUsed(base), "%#x", base)
					assert.True(t, m.isUsed(base+size-1), "%#x", base+size-1)
					assert.False(t, m.isUsed(base-1), "%#x", base-1)
					assert.False(t, m.isUsed(base+size), "%#x", base+size)
				}
				assert.False(t, m.isUsed(step.other+3*size), "an address under the other node")
			}
			assert.Equal(t, 2, m.botCount)
			// Forgetting an arena leaves the cache valid: the node stays.
			require.True(t, m.mark(b, false))
			assert.False(t, m.isUsed(b))
			assert.True(t, m.isUsed(a))
		})
	}
}

// isUsedRangeMarked reports whether mark has recorded an arena at base
// (test helper: the leaf of base's slot says so).
func (m *arenaMap) isUsedRangeMarked(base uintptr) bool {
	l := m.leaf(base, false)
	return l != 0 && (*arenaCoverage)(ptr(l)).tailHi != 0
}

// When a node cannot be mapped, mark reports false and leaves the map as
// it was: newArena then gives the arena back, and an arena map that still
// claimed part of it would take whatever is mapped there later for pool
// memory. The misaligned arena is the last slot of one bottom node and
// the first of the next, so marking it maps a mid node and two bottom
// nodes; each case fails one of them.
func TestArenaMapMarkFailsCleanly(t *testing.T) {
	for _, arena := range []struct {
		name      string
		arenaBits uint
		node      uint64 // where a bottom node's range starts
	}{
		{"1 MiB arenas", 20, 0x7f14_0000_0000},
		{"4 KiB arenas", 12, 0x5000_0000},
	} {
		for _, failAt := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/node %d fails", arena.name, failAt), func(t *testing.T) {
				if arena.node > uint64(^uintptr(0)) {
					t.Skip("the addresses are 64-bit ones")
				}
				m := newTestArenaMap(t, arena.arenaBits)
				calls := 0
				mapNode = func(size uintptr) (unsafe.Pointer, error) {
					if calls++; calls == failAt {
						return nil, errors.New("no memory for the node")
					}
					return mmap.Map(size)
				}
				t.Cleanup(func() { mapNode = mmap.Map })

				size := uintptr(1) << arena.arenaBits
				base := uintptr(arena.node) - size + 0x800
				require.NotEqual(t, base>>m.midShift, (base+size)>>m.midShift, "the arena spans two bottom nodes")
				require.False(t, m.mark(base, true))
				for _, p := range []uintptr{base, base + size - 0x801, base + size - 1} {
					assert.False(t, m.isUsed(p), "%#x", p)
				}
				assert.Equal(t, failAt-1, m.midCount+m.botCount, "the nodes mapped before the failure are counted")
				assert.Len(t, m.nodes, failAt-1)

				// With memory again, the same arena is marked whole.
				mapNode = mmap.Map
				require.True(t, m.mark(base, true))
				for _, p := range []uintptr{base, base + size - 0x801, base + size - 1} {
					assert.True(t, m.isUsed(p), "%#x", p)
				}
				assert.False(t, m.isUsed(base-1))
				assert.False(t, m.isUsed(base+size))
				assert.Equal(t, 1, m.midCount)
				assert.Equal(t, 2, m.botCount)
			})
		}
	}
}

// newTestArenaMap returns an arena map for arenas of 2^arenaBits bytes on
// a root of its own; the root and every node it maps are unmapped when
// the test ends.
func newTestArenaMap(t *testing.T, arenaBits uint) *arenaMap {
	t.Helper()
	m := &arenaMap{}
	m.init(arenaBits)
	root, err := mmap.Map(m.rootBytes)
	require.NoError(t, err)
	m.root = uintptr(root)
	t.Cleanup(func() {
		for _, n := range m.nodes {
			_ = mmap.Unmap(ptr(n.addr), n.size)
		}
		_ = mmap.Unmap(root, m.rootBytes)
	})
	return m
}
