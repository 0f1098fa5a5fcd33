package obmalloc

import (
	"math/bits"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
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
		{"alignment not a power of two", Config{Alignment: 24}, "Config.Alignment = 24: must be a power of two"},
		{"alignment too small", Config{Alignment: 4}, "Config.Alignment = 4"},
		{"threshold not a multiple", Config{Threshold: 500}, "Config.Threshold = 500: must be a non-zero multiple of Alignment (16)"},
		{"too many classes", Config{Alignment: 8, Threshold: 1024}, "Config.Threshold = 1024: gives 128 size classes"},
		{"pool not a power of two", Config{PoolSize: 10000}, "Config.PoolSize = 10000: must be a power of two"},
		{"pool too small", Config{PoolSize: 1024}, "Config.PoolSize = 1024: must hold the 48-byte pool header and two blocks"},
		{"arena not a power of two", Config{ArenaSize: 3 << 20}, "Config.ArenaSize = 3145728: must be a power of two"},
		{"arena of 2 GiB", Config{ArenaSize: 1 << 31}, "below 2 GiB"},
		{"arena of too few pools", Config{ArenaSize: 32 << 10}, "Config.ArenaSize = 32768: must hold at least four pools"},
		{"unknown policy", Config{Policy: 7}, "Config.Policy = 7"},
		{"huge pool (4*PoolSize overflows)", Config{Alignment: 256, Threshold: 256, PoolSize: 1 << (bits.UintSize - 2), ArenaSize: 64 << 10}, "must hold at least four pools"},
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
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
			assert.Nil(t, h)
			assert.Equal(t, err, newErr)
		})
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
