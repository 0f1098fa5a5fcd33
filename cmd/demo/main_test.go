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
		{"help", []string{"help"}},
		{"-h", []string{"-h"}},
		{"--help", []string{"--help"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runDemo(tc.args...)
			assert.Equal(t, exitOK, code)
			assert.Empty(t, stderr)
			for _, s := range subcommands() {
				assert.Contains(t, stdout, "  "+s.synopsis+"\n", "every subcommand is listed")
			}
			assert.Contains(t, stdout, `the story (the same as "demo story")`)
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

// Every subcommand answers -h with its own usage on stdout, and a bad flag
// with the synopsis on stderr and status 2.
func TestSubcommandHelpAndBadFlag(t *testing.T) {
	for _, s := range subcommands() {
		t.Run(s.name, func(t *testing.T) {
			code, stdout, stderr := runDemo(s.name, "-h")
			assert.Equal(t, exitOK, code)
			assert.Empty(t, stderr)
			assert.Contains(t, stdout, s.synopsis)

			code, stdout, stderr = runDemo(s.name, "-no-such-flag")
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, "-no-such-flag")
			assert.Contains(t, stderr, "usage: "+s.synopsis)
		})
	}
}
