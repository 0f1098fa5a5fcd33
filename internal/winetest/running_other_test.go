//go:build !windows

package winetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRunning(t *testing.T) {
	assert.False(t, Running(), "only a Windows program can run under Wine")
}
