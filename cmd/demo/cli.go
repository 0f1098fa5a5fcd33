package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// cli is what every subcommand does with its command line: flags parsed
// without exiting, -h printing the subcommand's help on stdout, and a usage error
// printing what was wrong and the synopsis, not the whole help, so the
// message stays in view.
type cli struct {
	name     string // "stats"
	synopsis string // "demo stats [-trace FILE] ..."
	usage    func(io.Writer)
	stdout   io.Writer
	stderr   io.Writer
	fs       *flag.FlagSet
}

func newCLI(name, synopsis string, usage func(io.Writer), stdout, stderr io.Writer) *cli {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// flag's own message ("flag provided but not defined: -x") does not
	// say which command refused it: parse prints it through bad instead.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cli{name: name, synopsis: synopsis, usage: usage, stdout: stdout, stderr: stderr, fs: fs}
}

// parse parses args. When it returns done, the command is over with
// status code (help printed, or a usage error reported).
func (c *cli) parse(args []string) (code int, done bool) {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(c.stdout, "usage:\n")
			c.usage(c.stdout)
			return exitOK, true
		}
		return c.bad("%v", err), true
	}
	return exitOK, false
}

// bad reports a usage error and returns its exit status.
func (c *cli) bad(format string, a ...any) int {
	fmt.Fprintf(c.stderr, "demo %s: %s\n", c.name, fmt.Sprintf(format, a...))
	return c.synopsisOnly()
}

func (c *cli) synopsisOnly() int {
	fmt.Fprintf(c.stderr, "usage: %s\n(demo %s -h explains the flags)\n", c.synopsis, c.name)
	return exitUsage
}

// fail reports a failure of the work itself.
func (c *cli) fail(err error) int {
	fmt.Fprintf(c.stderr, "demo %s: %v\n", c.name, err)
	var u errUsage
	if errors.As(err, &u) {
		return exitUsage
	}
	return exitFail
}

// helpWidth is the most columns a line of help or usage takes: a
// terminal's 80.
const helpWidth = 80

// synopsisBreak goes between the lines of a synopsis too long for one:
// the continuations are indented deeper than the summaries the usages
// put under a synopsis (8 columns), and the first line still fits after
// "usage: ".
const synopsisBreak = "\n            "

// hanging returns text after head, its words wrapped so that no line is
// wider than helpWidth (in runes), the lines after the first indented as
// wide as head; a word too long for the room left gets a line of its own.
func hanging(head, text string) string {
	width := utf8.RuneCountInString
	indent := strings.Repeat(" ", width(head))
	var b strings.Builder
	line, fresh := head, true // fresh: no word on line yet
	for _, word := range strings.Fields(text) {
		switch {
		case fresh:
		case width(line)+1+width(word) > helpWidth:
			b.WriteString(line + "\n")
			line = indent
		default:
			line += " "
		}
		line += word
		fresh = false
	}
	return b.String() + line + "\n"
}

// flagGiven reports whether the flag name was on the command line, for a
// flag whose default cannot be told from a value given.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// noArgs refuses stray arguments, which are usually a flag put after them.
func (c *cli) noArgs() (int, bool) {
	if c.fs.NArg() > 0 {
		return c.bad("unexpected argument %q (flags only)", c.fs.Arg(0)), true
	}
	return exitOK, false
}
