package winetest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// wineRegistryKey reports whether HKLM\Software\Wine exists.
func wineRegistryKey(t *testing.T) bool {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `Software\Wine`, registry.QUERY_VALUE)
	if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
		return false
	}
	if err != nil {
		t.Fatalf("opening HKLM\\Software\\Wine: %v", err)
	}
	k.Close()
	return true
}

// Wine is recognised by its ntdll; a Wine prefix also has the registry
// key HKLM\Software\Wine, which no Windows has, and the two must agree.
func TestRunning(t *testing.T) {
	assert.Equal(t, wineRegistryKey(t), Running(), "Running agrees with the registry key HKLM\\Software\\Wine")
}
