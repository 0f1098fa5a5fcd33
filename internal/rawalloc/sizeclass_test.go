package rawalloc

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassTable(t *testing.T) {
	require.Equal(t, 52, numClasses)
	assert.Equal(t, uintptr(16), classBytes[0])
	assert.Equal(t, uintptr(128), classBytes[linearClasses-1])
	assert.Equal(t, uintptr(160), classBytes[linearClasses])
	assert.Equal(t, uintptr(229376), classBytes[numClasses-2])
	assert.Equal(t, uintptr(maxClassBytes), classBytes[numClasses-1])
	for c := range numClasses {
		assert.Zero(t, classBytes[c]%alignBytes, "class %d", c)
		if c > 0 {
			assert.Greater(t, classBytes[c], classBytes[c-1], "class %d", c)
		}
		assert.Equal(t, c, classOf(classBytes[c]), "capacity of class %d", c)
		assert.Less(t, int(classBytes[c]&classMask), 256)
	}
}

func TestClassOfEveryRequest(t *testing.T) {
	// Every request up to the largest class gets the tightest class, and
	// the rounding wastes at most a quarter of requests above 128 bytes.
	for n := uintptr(0); n <= maxClassBytes; n++ {
		c := classOf(n)
		if c < 0 || c >= numClasses {
			t.Fatalf("classOf(%d) = %d, out of range", n, c)
		}
		capacity := classBytes[c]
		if capacity < max(n, 1) || (c > 0 && classBytes[c-1] >= n) {
			t.Fatalf("classOf(%d) = %d (%d bytes), not the tightest class", n, c, capacity)
		}
		if n > linearMaxBytes && 4*(capacity-n) >= n {
			t.Fatalf("classOf(%d) wastes %d bytes", n, capacity-n)
		}
	}
}

func TestClassAtMost(t *testing.T) {
	tests := []struct {
		n    uintptr
		want int
	}{
		{0, -1},
		{15, -1},
		{16, 0},
		{31, 0},
		{32, 1},
		{159, linearClasses - 1},
		{160, linearClasses},
		{maxClassBytes - 1, numClasses - 2},
		{maxClassBytes, numClasses - 1},
		{4 * maxClassBytes, numClasses - 1},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, classAtMost(tt.n), "classAtMost(%d)", tt.n)
	}
}
