package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

func TestParseLayout(t *testing.T) {
	for s, want := range map[string]obmalloc.Config{
		"3.11": {},
		"3.10": {},
		"3.9":  {PoolSize: 4096, ArenaSize: 256 << 10},
		"3.8":  {PoolSize: 4096, ArenaSize: 256 << 10},
		"3.7":  {Alignment: 8, PoolSize: 4096, ArenaSize: 256 << 10},
		"align=8,threshold=256,pool=4k,arena=256K": {Alignment: 8, Threshold: 256, PoolSize: 4096, ArenaSize: 256 << 10},
		"arena=2m,arenas=release":                  {ArenaSize: 2 << 20, Policy: obmalloc.ReleaseArenas},
		"threshold=1024,align=32":                  {Threshold: 1024, Alignment: 32},
	} {
		l, err := parseLayout(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, l.cfg, s)
		assert.Equal(t, s, l.name)
	}
	for s, want := range map[string]string{
		"3.2":                                `unknown layout "3.2"`,
		"pool":                               `unknown layout "pool"`,
		"size=4k":                            `unknown key "size"`,
		"pool=four":                          `pool="four": want a positive number`,
		"pool=0":                             `want a positive number`,
		"arenas=maybe":                       `arenas="maybe": want keep or release`,
		"pool=3000":                          "Config.PoolSize = 3000: must be a power of two",
		"align=4":                            "Config.Alignment = 4",
		"threshold=2048":                     "Config.Threshold = 2048 with Config.Alignment = 16 (left 0: the default): Threshold/Alignment gives 128 size classes",
		"align=8,align=16":                   "key align given twice (align=8, then align=16)",
		"pool=4k,arena=256k,pool=4k":         "key pool given twice (pool=4k, then pool=4k)",
		"arenas=keep,align=8,arenas=release": "key arenas given twice (arenas=keep, then arenas=release)",
	} {
		_, err := parseLayout(s)
		require.Error(t, err, s)
		assert.Contains(t, err.Error(), want, s)
	}
}

// A layout that gives a key twice is a usage error of the command that
// took it, named with its flag.
func TestLayoutRepeatedKeyCommands(t *testing.T) {
	trace := writeTrace(t, "one.trace.gz", "# pytrace 1\nm 1 56\n")
	for _, args := range [][]string{
		{"stats", "-layout", "align=8,align=16"},
		{"heapmap", "-layout", "align=8,align=16"},
		{"experiment", "-layout", "3.11", "-layout", "align=8,align=16", trace},
	} {
		code, stdout, stderr := runDemo(args...)
		assert.Equal(t, exitUsage, code, "%v", args)
		assert.Empty(t, stdout, "%v", args)
		assert.Contains(t, stderr, "-layout", "%v", args)
		assert.Contains(t, stderr, `layout "align=8,align=16": key align given twice (align=8, then align=16)`, "%v", args)
	}
}

func TestDescribe(t *testing.T) {
	l, err := parseLayout("3.9")
	require.NoError(t, err)
	h, err := obmalloc.New(l.cfg)
	require.NoError(t, err)
	defer h.Close()
	assert.Equal(t, "4 KiB pools, 256 KiB arenas, 16-byte alignment, threshold 512 (32 classes), arenas keep", describe(h.Config()))
	assert.Equal(t, "100 B", sizeName(100))
	assert.Equal(t, "1 MiB", sizeName(1<<20))
}
