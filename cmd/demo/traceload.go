package main

import (
	"io"
	"os"
	"path/filepath"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
)

// loadTrace is pytrace.ReadFile with progress: the public traces take
// about half a second each to decompress and validate, long enough to
// wonder whether anything is happening. The progress is the share of the
// compressed file read so far, which is known before the end, unlike the
// number of ops. Errors are ReadFile's, starting with the path.
func loadTrace(path string, p *progress) (*pytrace.Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var size int64
	if info, err := f.Stat(); err == nil {
		size = info.Size()
	}
	p.start("reading " + filepath.Base(path))
	defer p.finish()
	r, err := pytrace.Text(&countingReader{r: f, total: size, p: p}, path)
	if err != nil {
		return nil, err
	}
	return pytrace.Read(r, path)
}

// countingReader reports how much of a file has been read.
type countingReader struct {
	r     io.Reader
	done  int64
	total int64
	p     *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.done += int64(n)
	c.p.update(c.done, c.total)
	return n, err
}
