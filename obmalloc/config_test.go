package obmalloc

import (
	"fmt"
	"math/bits"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// Validate's messages, each in full: a rule of two fields names both,
// the one the caller set first, and marks a field left 0 as the default.
func TestConfigValidate(t *testing.T) {
	const def = " (left 0: the default)"
	page := mmap.PageSize()
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string // "" when valid
	}{
		{"zero value is CPython 3.11", Config{}, ""},
		{"python 3.9 layout", Config{PoolSize: 4 << 10, ArenaSize: 256 << 10}, ""},
		{"8-byte alignment, 64 classes", Config{Alignment: 8}, ""},
		{"threshold 256", Config{Threshold: 256}, ""},
		{"release policy", Config{Policy: ReleaseArenas}, ""},
		{"alignment not a power of two", Config{Alignment: 24},
			"obmalloc: Config.Alignment = 24: must be a power of two from 8 to 512 bytes"},
		{"alignment too small", Config{Alignment: 4},
			"obmalloc: Config.Alignment = 4: must be a power of two from 8 to 512 bytes"},
		{"threshold not a multiple of the default alignment", Config{Threshold: 500},
			"obmalloc: Config.Threshold = 500 with Config.Alignment = 16" + def + ": Threshold must be a non-zero multiple of Alignment"},
		{"alignment above the default threshold", Config{Alignment: 512, Threshold: 256},
			"obmalloc: Config.Threshold = 256 with Config.Alignment = 512: Threshold must be a non-zero multiple of Alignment"},
		{"too many classes", Config{Alignment: 8, Threshold: 1024},
			"obmalloc: Config.Threshold = 1024 with Config.Alignment = 8: Threshold/Alignment gives 128 size classes; at most 64 are allowed"},
		{"too many classes at the default alignment", Config{Threshold: 2048},
			"obmalloc: Config.Threshold = 2048 with Config.Alignment = 16" + def + ": Threshold/Alignment gives 128 size classes; at most 64 are allowed"},
		{"pool not a power of two", Config{PoolSize: 10000},
			"obmalloc: Config.PoolSize = 10000: must be a power of two"},
		{"pool too small for the default threshold", Config{PoolSize: 1024},
			"obmalloc: Config.PoolSize = 1024 with Config.Threshold = 512" + def + ": PoolSize must hold the pool header (48 bytes at this Alignment) and two blocks of Threshold bytes: 1072 bytes in all"},
		{"threshold too large for the default pool", Config{Alignment: 512, Threshold: 8192},
			"obmalloc: Config.Threshold = 8192 with Config.PoolSize = 16384" + def + ": PoolSize must hold the pool header (512 bytes at this Alignment) and two blocks of Threshold bytes: 16896 bytes in all"},
		{"arena not a power of two", Config{ArenaSize: 3 << 20},
			"obmalloc: Config.ArenaSize = 3145728: must be a power of two below 2 GiB"},
		{"arena of 2 GiB", Config{ArenaSize: 1 << 31},
			"obmalloc: Config.ArenaSize = 2147483648: must be a power of two below 2 GiB"},
		{"arena of too few default pools", Config{ArenaSize: 32 << 10},
			"obmalloc: Config.ArenaSize = 32768 with Config.PoolSize = 16384" + def + ": ArenaSize must hold at least four pools of PoolSize"},
		{"pool too large for the default arena", Config{PoolSize: 1 << 30},
			"obmalloc: Config.PoolSize = 1073741824 with Config.ArenaSize = 1048576" + def + ": ArenaSize must hold at least four pools of PoolSize"},
		{"pool too large for the arena, both set", Config{PoolSize: 64 << 10, ArenaSize: 128 << 10},
			"obmalloc: Config.PoolSize = 65536 with Config.ArenaSize = 131072: ArenaSize must hold at least four pools of PoolSize"},
		{"arena below the page size", Config{Alignment: 8, Threshold: 8, PoolSize: 64, ArenaSize: 256},
			fmt.Sprintf("obmalloc: Config.ArenaSize = 256: must be at least the page size (%d)", page)},
		{"unknown policy", Config{Policy: 7},
			"obmalloc: Config.Policy = 7: must be KeepArenas or ReleaseArenas"},
		{"huge pool (4*PoolSize overflows)", Config{Alignment: 256, Threshold: 256, PoolSize: 1 << (bits.UintSize - 2), ArenaSize: 64 << 10},
			fmt.Sprintf("obmalloc: Config.PoolSize = %d with Config.ArenaSize = 65536: ArenaSize must hold at least four pools of PoolSize", uint64(1)<<(bits.UintSize-2))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			h, newErr := New(tc.cfg)
			if tc.err == "" {
				require.NoError(t, err)
				require.NoError(t, newErr)
				require.NoError(t, h.Close())
				return
			}
			require.EqualError(t, err, tc.err)
			assert.Nil(t, h)
			assert.Equal(t, err, newErr)
		})
	}
}

// The four-pools rule once overflowed (ArenaSize < 4*PoolSize) for the
// largest powers of two, which then passed; each is refused, by that
// rule, whatever ArenaSize.
func TestConfigRefusesHugePools(t *testing.T) {
	for shift := bits.UintSize - 3; shift < bits.UintSize; shift++ {
		for _, arena := range []uintptr{64 << 10, 1 << 30} {
			cfg := Config{Alignment: 256, Threshold: 256, PoolSize: 1 << shift, ArenaSize: arena}
			assert.ErrorContains(t, cfg.Validate(), "ArenaSize must hold at least four pools of PoolSize", "PoolSize 1<<%d, ArenaSize %d", shift, arena)
		}
	}
}

func TestParseArenaPolicy(t *testing.T) {
	for _, p := range []ArenaPolicy{KeepArenas, ReleaseArenas} {
		got, err := ParseArenaPolicy(p.String())
		require.NoError(t, err)
		assert.Equal(t, p, got)
	}
	_, err := ParseArenaPolicy("never")
	assert.ErrorContains(t, err, `unknown arena policy "never"`)
}

// Each layout an experiment may choose works under random load.
func TestLayouts(t *testing.T) {
	for name, cfg := range map[string]Config{
		"3.11":          {},
		"3.9 arenas":    {PoolSize: 4 << 10, ArenaSize: 256 << 10},
		"8-byte align":  {Alignment: 8},
		"threshold 256": {Threshold: 256},
		"release":       {Policy: ReleaseArenas},
		"tiny":          {Alignment: 8, Threshold: 64, PoolSize: 1 << 10, ArenaSize: 64 << 10, Policy: ReleaseArenas},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHeap(t, cfg)
			runRandom(t, h, 20000, 1000, 42)
		})
	}
}
