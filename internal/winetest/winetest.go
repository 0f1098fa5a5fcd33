// Package winetest helps tests that run as Windows binaries under Wine
// (.ci/wine): it tells whether the process runs under Wine, and makes
// temporary directories that Wine can remove.
package winetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Running reports whether this process is a Windows program running
// under Wine: its ntdll exports wine_get_version, which no Windows ntdll
// does. It is false on every other system.
func Running() bool { return running() }

// TempDir returns a new directory for t that is removed when t ends, as
// t.TempDir does. Under Wine the directory is made and removed here
// instead: Go's os.RemoveAll, which t.TempDir's clean-up calls, deletes
// the entries of a directory with NtSetInformationFile's class
// FileDispositionInformationEx, for which Wine 8.0 returns
// STATUS_NOT_IMPLEMENTED, and Go takes that for a failure ("Invalid
// function"), so every test that made a temporary directory failed.
// os.Remove (DeleteFileW, RemoveDirectoryW) works under Wine.
func TempDir(t testing.TB) string {
	t.Helper()
	if !Running() {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", tempPattern(t.Name()))
	if err != nil {
		t.Fatalf("winetest.TempDir: %v", err)
	}
	t.Cleanup(func() {
		if err := removeTree(dir); err != nil {
			t.Errorf("winetest.TempDir: removing %s: %v", dir, err)
		}
	})
	return dir
}

// tempPattern turns a test's name into a directory name pattern: the
// subtests' slashes and any other character that is not a letter or a
// digit become underscores.
func tempPattern(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, name)
	const most = 64 // keeps paths short, which Windows asks of them
	if len(name) > most {
		name = name[:most]
	}
	return name + "*"
}

// removeTree removes dir and everything in it with os.Remove alone,
// children before their parents.
func removeTree(dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, path)
		return nil
	})
	if err != nil {
		return err
	}
	// WalkDir lists a directory before its contents.
	for _, p := range slices.Backward(paths) {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}
