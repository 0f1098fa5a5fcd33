package winetest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// makeTree fills dir with files and a nested directory.
func makeTree(t *testing.T, dir string) {
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	for _, f := range []string{"f", filepath.Join("a", "g"), filepath.Join("a", "b", "h")} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644))
	}
}

// The directory is there during the test and gone, contents and all,
// after it.
func TestTempDir(t *testing.T) {
	var dir string
	t.Run("sub/test", func(t *testing.T) {
		dir = TempDir(t)
		info, err := os.Stat(dir)
		require.NoError(t, err)
		assert.True(t, info.IsDir())
		makeTree(t, dir)
	})
	_, err := os.Stat(dir)
	assert.True(t, errors.Is(err, fs.ErrNotExist), "%s is removed: %v", dir, err)
}

func TestRemoveTree(t *testing.T) {
	dir, err := os.MkdirTemp("", "removetree")
	require.NoError(t, err)
	makeTree(t, dir)
	require.NoError(t, removeTree(dir))
	_, err = os.Stat(dir)
	assert.True(t, errors.Is(err, fs.ErrNotExist), "%s is removed: %v", dir, err)
	assert.ErrorIs(t, removeTree(dir), fs.ErrNotExist, "a missing directory is an error")
}

func TestTempPattern(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"TestX", "TestX*"},
		{"TestX/sub_case#01", "TestX_sub_case_01*"},
		{"Test/ü", "Test__*"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64) + "*"},
	} {
		assert.Equal(t, tc.want, tempPattern(tc.name), "%q", tc.name)
	}
}
