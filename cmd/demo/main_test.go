package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

// runDemo runs the command with args and returns its exit status and
// outputs.
func runDemo(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no arguments", nil},
		{"help", []string{"help"}},
		{"-h", []string{"-h"}},
		{"--help", []string{"--help"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runDemo(tc.args...)
			assert.Equal(t, exitOK, code)
			assert.Empty(t, stderr)
			assert.Contains(t, stdout, "The story of Python's memory management will live here")
			assert.Contains(t, stdout, "for now: replay")
			assert.Contains(t, stdout, replaySynopsis)
			assert.Contains(t, stdout, "-arenas POLICY")
		})
	}
}

func TestUnknownSubcommand(t *testing.T) {
	code, stdout, stderr := runDemo("frobnicate", "x")
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, `unknown subcommand "frobnicate"`)
	assert.Contains(t, stderr, replaySynopsis, "the usage goes with the error")
}
