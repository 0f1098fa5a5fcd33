package main

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
			assert.Contains(t, stderr, "demo "+s.name+": flag provided but not defined: -no-such-flag\n",
				"the message names the subcommand that refused the flag")
			assert.Contains(t, stderr, "usage: "+s.synopsis)
		})
	}
}

// flag's own errors (a flag without its value, a value of the wrong type)
// name the subcommand too, as the demo's own usage errors do.
func TestFlagErrorsNameTheSubcommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"gc", "-n", "abc"}, `demo gc: invalid value "abc" for flag -n: parse error`},
		{[]string{"heapmap", "-o"}, "demo heapmap: flag needs an argument: -o"},
		{[]string{"replay", "-repeat", "x", "t.gz"}, `demo replay: invalid value "x" for flag -repeat: parse error`},
		{[]string{"story", "-chapter="}, `demo story: invalid value "" for flag -chapter: parse error`},
	} {
		code, stdout, stderr := runDemo(tc.args...)
		assert.Equal(t, exitUsage, code, "%v", tc.args)
		assert.Empty(t, stdout, "%v", tc.args)
		assert.True(t, strings.HasPrefix(stderr, tc.want+"\n"), "%v: %q", tc.args, stderr)
	}
}

// "demo help NAME" is "demo NAME -h"; anything else after help is a usage
// error that names it, not a general usage that ignores it.
func TestHelpSubcommand(t *testing.T) {
	for _, s := range subcommands() {
		code, stdout, stderr := runDemo("help", s.name)
		assert.Equal(t, exitOK, code, s.name)
		assert.Empty(t, stderr, s.name)
		_, want, _ := runDemo(s.name, "-h")
		assert.Equal(t, want, stdout, s.name)
	}
	for _, args := range [][]string{{"help", "frobnicate"}, {"help", "gc", "extra"}, {"-h", "gc"}} {
		code, stdout, stderr := runDemo(args...)
		assert.Equal(t, exitUsage, code, "%v", args)
		assert.Empty(t, stdout, "%v", args)
		assert.Contains(t, stderr, `demo: "`+strings.Join(args, " ")+`": want demo help or demo help SUBCOMMAND`, "%v", args)
	}
}

// A flag that the rest of the command line would make the command ignore
// is refused, naming both.
func TestIgnoredFlagsRefused(t *testing.T) {
	trace := writeTrace(t, "one.trace.gz", "# pytrace 1\nm 1 56\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"story", "-chapter", "1", "-objects", "5"}, "-objects 5 with -chapter 1: -objects sizes chapter 4 only"},
		{[]string{"stats", "-trace", trace, "-objects", "5"}, "-objects 5 with -trace " + trace + ": -objects sizes the built-in workload"},
		{[]string{"heapmap", "-trace", trace, "-objects", "100000"}, "-objects 100000 with -trace " + trace},
		{[]string{"experiment", "-arenas", "keep", "-layout", "arenas=release", trace}, "-arenas keep: every -layout names its own arenas=, so it applies to none"},
	} {
		code, stdout, stderr := runDemo(tc.args...)
		assert.Equal(t, exitUsage, code, "%v", tc.args)
		assert.Empty(t, stdout, "%v", tc.args)
		assert.Contains(t, stderr, tc.want, "%v", tc.args)
	}
	// Where the flag is used, it is taken.
	for _, args := range [][]string{
		{"story", "-chapter", "4", "-objects", "5"},
		{"experiment", "-arenas", "keep", "-layout", "arenas=release", "-layout", "3.9", trace},
	} {
		code, _, stderr := runDemo(args...)
		assert.Equal(t, exitOK, code, "%v: %s", args, stderr)
	}
}

// Every line of the help and usage output fits a terminal of 80 columns:
// the demo's usage, each subcommand's -h, and the synopsis a usage error
// prints.
func TestHelpFitsEightyColumns(t *testing.T) {
	outputs := map[string]string{}
	_, outputs["demo -h"], _ = runDemo("-h")
	_, _, outputs["demo (unknown subcommand)"] = runDemo("frobnicate")
	for _, s := range subcommands() {
		_, outputs["demo "+s.name+" -h"], _ = runDemo(s.name, "-h")
		_, _, outputs["demo "+s.name+" -no-such-flag"] = runDemo(s.name, "-no-such-flag")
	}
	for name, out := range outputs {
		require.NotEmpty(t, out, name)
		for i, line := range strings.Split(out, "\n") {
			assert.LessOrEqual(t, utf8.RuneCountInString(line), 80, "%s, line %d: %q", name, i+1, line)
		}
	}
}

// A synopsis too long for one line goes on in lines indented deeper than
// the 8 columns of the summaries under it, so that each subcommand's
// usage still reads as one synopsis and its flags.
func TestSynopsisContinuations(t *testing.T) {
	for name, synopsis := range map[string]string{
		"replay":     replaySynopsis,
		"experiment": experimentSynopsis,
		"heapSource": heapSourceSynopsis,
	} {
		lines := strings.Split(synopsis, "\n")
		require.Greater(t, len(lines), 1, "%s: a synopsis in several lines", name)
		for _, l := range lines[1:] {
			indent := len(l) - len(strings.TrimLeft(l, " "))
			assert.Greater(t, indent, 8, "%s: %q", name, l)
		}
	}
}

func TestHanging(t *testing.T) {
	long := strings.Repeat("x", 90)
	head := strings.Repeat(" ", 30) + "name  "
	pad := strings.Repeat(" ", len(head))
	for _, tc := range []struct {
		name, head, text, want string
	}{
		{"fits", "  a ", "one two", "  a one two\n"},
		{"spaces collapse", "  a ", " one \n two ", "  a one two\n"},
		{"no text", "  a ", "", "  a \n"},
		{"wraps under the text", head, strings.Repeat("word ", 12),
			head + strings.TrimSpace(strings.Repeat("word ", 9)) + "\n" + pad + strings.TrimSpace(strings.Repeat("word ", 3)) + "\n"},
		{"a word wider than the room", "  a ", "one " + long + " two", "  a one\n    " + long + "\n    two\n"},
		// 80 runes, 123 bytes: one line.
		{"runes, not bytes", head, strings.Repeat("é", 40) + " ééé", head + strings.Repeat("é", 40) + " ééé\n"},
		// 81 with the space before the last word: it goes to a line of
		// its own.
		{"one column too wide", head, strings.Repeat("é", 40) + " éééé", head + strings.Repeat("é", 40) + "\n" + pad + "éééé\n"},
		// The continuation is indented as wide as the head in runes.
		{"a head of runes", "  é ", strings.Repeat("x", 70) + " " + strings.Repeat("y", 10), "  é " + strings.Repeat("x", 70) + "\n    " + strings.Repeat("y", 10) + "\n"},
	} {
		assert.Equal(t, tc.want, hanging(tc.head, tc.text), tc.name)
	}
}
