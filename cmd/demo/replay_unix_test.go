//go:build unix

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// signalWriter is a buffer that closes first when it is first written to.
type signalWriter struct {
	bytes.Buffer
	once  sync.Once
	first chan struct{}
}

func (w *signalWriter) Write(b []byte) (int, error) {
	w.once.Do(func() { close(w.first) })
	return w.Buffer.Write(b)
}

// A trace that reads differently when it is read again for its replay
// than when it was checked is a failure of the work (status 1), not a
// usage error: the command line was good. A named pipe gives a good
// trace to the check and, once the first trace's result is out (every
// trace has been checked by then), a malformed one to the second read.
func TestReplayTraceChangedSinceChecked(t *testing.T) {
	good := writeTrace(t, "small.trace.gz", goodTrace)
	fifo := filepath.Join(t.TempDir(), "changing.trace")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	out := &signalWriter{first: make(chan struct{})}
	go func() {
		// Each open waits for the replay's; line 3 of the second frees a
		// block never allocated.
		for i, content := range []string{goodTrace, "# pytrace 1\nm 1 10\nf 2\n"} {
			if i == 1 {
				<-out.first
			}
			f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			_, _ = f.WriteString(content)
			_ = f.Close()
		}
	}()
	var errOut bytes.Buffer
	code := run([]string{"replay", good, fifo}, out, &errOut)
	assert.Equal(t, exitFail, code)
	assert.True(t, strings.HasPrefix(errOut.String(), "demo replay: "+fifo+":3: "), "%q", errOut.String())
	assert.NotContains(t, errOut.String(), "usage:")
	assert.Equal(t, 1, strings.Count(out.String(), "backend=gopymalloc"), "the first trace was replayed: %s", out.String())
}
