package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress tells someone watching a terminal that long work (reading a
// trace of millions of ops, replaying it) is moving. It writes to stderr
// only, and only when stderr is a terminal, so stdout stays exactly the
// figures and a log or a test sees no progress lines. A nil *progress is
// silent, which keeps the call sites free of tests.
type progress struct {
	w     io.Writer
	task  string
	next  time.Time // no redraw before this: a line per 100 ms is plenty
	width int       // of the last line drawn, to blank it out
}

// progressEvery is how often the line is redrawn at most.
const progressEvery = 100 * time.Millisecond

// newProgress returns a reporter on stderr if stderr is a terminal, else
// nil. Character devices are what a terminal looks like to os.File.Stat on
// every platform the module builds for (a Windows console included); a
// pipe or a file is not one.
func newProgress(stderr io.Writer) *progress {
	f, ok := stderr.(*os.File)
	if !ok {
		return nil
	}
	info, err := f.Stat()
	if err != nil || info.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return &progress{w: f}
}

// start names the work that the next updates measure.
func (p *progress) start(task string) {
	if p == nil {
		return
	}
	p.task = task
	p.next = time.Time{}
	p.draw(task + " ...")
}

// update reports done units of total (bytes read, ops replayed).
func (p *progress) update(done, total int64) {
	if p == nil || total <= 0 {
		return
	}
	now := time.Now()
	if now.Before(p.next) {
		return
	}
	p.next = now.Add(progressEvery)
	p.draw(fmt.Sprintf("%s %3d%%", p.task, done*100/total))
}

// finish blanks the line, so that what the command prints next starts
// clean: the progress is gone once the work is done.
func (p *progress) finish() {
	if p == nil || p.width == 0 {
		return
	}
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
	p.width = 0
}

// draw overwrites the current line. Only a carriage return and spaces are
// used, no escape sequences, so that every terminal shows it the same.
func (p *progress) draw(s string) {
	pad := ""
	if n := p.width - len(s); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(p.w, "\r%s%s", s, pad)
	p.width = len(s)
}
