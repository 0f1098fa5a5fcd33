package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// RunGC refuses what measures nothing or writes outside a block: a
// goheap block of 0 bytes is the runtime's shared zero-size object, whose
// first byte RunGC used to write.
func TestRunGCRefusesBadOptions(t *testing.T) {
	good := GCOptions{Blocks: 10, Size: 64, Collections: 1}
	for _, tc := range []struct {
		name string
		edit func(*GCOptions)
		want string
	}{
		{"negative blocks", func(o *GCOptions) { o.Blocks = -1 }, "-blocks -1: want 0 or more"},
		{"zero size", func(o *GCOptions) { o.Size = 0 }, "-size 0: want 1 or more bytes"},
		{"no collections", func(o *GCOptions) { o.Collections = 0 }, "-collections 0: want 1 or more"},
		{"negative warm-up", func(o *GCOptions) { o.WarmUp = -time.Second }, "-warmup -1s: want 0 or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.edit(&o)
			_, err := RunGC("goheap", o)
			assert.ErrorContains(t, err, tc.want)
		})
	}
	rec, err := RunGC("goheap", good)
	assert.NoError(t, err)
	assert.Equal(t, "10", rec.Get("blocks"))
	assert.NoError(t, DefaultGCOptions.Check())
}
