package arenatest

import (
	"runtime"
	"runtime/debug"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var sink byte // a read stored here is not optimised away

// An arena from HeadlessArenas starts HeadBytes past a pool boundary and
// is mapped and writable from its first byte to its last. With
// SetPanicOnFault a touch of unmapped memory panics instead of crashing
// the test binary.
func TestHeadlessArenas(t *testing.T) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	const pool, head, size = 16 << 10, 4 << 10, 1 << 20
	a := &HeadlessArenas{PoolSize: pool, HeadBytes: head}
	var arenas []unsafe.Pointer
	for range 3 { // several, so that a later mapping could land on an earlier arena
		p := a.Alloc(size)
		require.NotNil(t, p)
		assert.Equal(t, uintptr(head), uintptr(p)%pool, "HeadBytes past a pool boundary")
		arenas = append(arenas, p)
	}
	for i, p := range arenas {
		b := unsafe.Slice((*byte)(p), size)
		assert.NotPanics(t, func() {
			b[0], b[size-1] = 1, 2
		}, "arena %d's first and last bytes are mapped", i)
	}
	if runtime.GOOS != "windows" {
		// The head is unmapped again (where no later mapping took it).
		assert.Panics(t, func() { sink = *(*byte)(unsafe.Add(arenas[0], -1)) }, "the byte before the arena faults")
	}
	for _, p := range arenas {
		a.Free(p, size)
	}
}
