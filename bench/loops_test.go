package bench

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/bench/internal/loopgen"
)

// loops_gen.go must be what the generator writes now: run `go generate`
// in bench/ after changing the template or the list of loops.
func TestLoopsGenerated(t *testing.T) {
	want, err := loopgen.Source()
	require.NoError(t, err)
	got, err := os.ReadFile("loops_gen.go")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "loops_gen.go is stale: run go generate in bench/")
	// One loop per backend type: gopymalloc-huge and gopymalloc-prefault
	// are gopymalloc's type (heapBackend) on other arenas, so they share
	// that loop.
	assert.Len(t, loopgen.Loops, len(Backends)-2, "one generated loop per backend type")
}
