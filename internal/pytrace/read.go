package pytrace

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// bufSize is Read's line buffer. Op lines are under 70 bytes; the size only
// sets how rarely the reader goes back to the decompressor.
const bufSize = 1 << 20

var (
	errNoNewline = errors.New("last line does not end with a newline")
	errCR        = errors.New(`line ends with "\r" (CRLF line ending?); lines end with "\n" alone`)
)

// commandPrefix starts the header line whose rest is Trace.Command.
const commandPrefix = "# command: "

// Read parses and validates a whole trace from r, which yields the
// uncompressed text. name (normally the file's path) starts every error
// message, followed by the 1-based line number: "test_re.trace.gz:1234:
// free of ID 17, which is not live ...". Read returns either the complete
// trace or an error, never both.
func Read(r io.Reader, name string) (*Trace, error) {
	return read(r, name, bufSize)
}

// read is Read with a chosen buffer size, so tests can make lines longer
// than the buffer.
func read(r io.Reader, name string, size int) (*Trace, error) {
	t := &Trace{Name: traceName(name)}
	c := newValidator(t)
	br := bufio.NewReaderSize(r, size)
	haveCommand := false
	var v [3]uint64
	for lineno := 1; ; lineno++ {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			line, err = longLine(br, line, !haveCommand)
		}
		switch {
		case err == io.EOF && len(line) == 0:
			c.finish()
			return t, nil
		case err == io.EOF:
			return nil, fmt.Errorf("%s:%d: %w", name, lineno, errNoNewline)
		case err != nil:
			return nil, fmt.Errorf("%s:%d: %w", name, lineno, err)
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			return nil, fmt.Errorf("%s:%d: empty line", name, lineno)
		}
		if line[len(line)-1] == '\r' {
			return nil, fmt.Errorf("%s:%d: %w", name, lineno, errCR)
		}
		if line[0] == '#' {
			if !haveCommand && bytes.HasPrefix(line, []byte(commandPrefix)) {
				t.Command = string(line[len(commandPrefix):])
				haveCommand = true
			} else {
				c.hints.note(line)
			}
			continue
		}
		k, err := parseOp(line, &v)
		if err == nil {
			err = c.apply(k, &v)
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, lineno, err)
		}
	}
}

// longLine finishes a line that did not fit in the reader's buffer; first
// is the part already read. Only a comment can be that long: it is skipped,
// and returned whole only if it may be the command line (keep). Anything
// else is refused without reading on, so a garbage file cannot make the
// reader hold a huge line. The result ends in '\n' like ReadSlice's.
func longLine(br *bufio.Reader, first []byte, keep bool) ([]byte, error) {
	if first[0] != '#' {
		return nil, fmt.Errorf("line longer than %d bytes", len(first))
	}
	keep = keep && bytes.HasPrefix(first, []byte(commandPrefix))
	var whole []byte
	if keep {
		whole = append(whole, first...)
	}
	prev := first[len(first)-1] // the last byte before part
	for {
		part, err := br.ReadSlice('\n')
		if keep {
			whole = append(whole, part...)
		}
		switch {
		case err == bufio.ErrBufferFull:
			prev = part[len(part)-1]
			continue
		case err == io.EOF:
			return nil, errNoNewline
		case err != nil:
			return nil, err
		case keep:
			return whole, nil
		}
		// A stand-in for the skipped comment that keeps the byte before
		// the '\n', for the caller's "\r" check.
		if len(part) > 1 {
			prev = part[len(part)-2]
		}
		return []byte{'#', prev, '\n'}, nil
	}
}

// ReadFile reads the trace at path: gzip'd if the name ends in ".gz", plain
// text otherwise. Errors start with path.
func ReadFile(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := Text(f, path)
	if err != nil {
		return nil, err
	}
	return Read(r, path)
}

// Text returns the trace text that the file read by r holds: r's bytes
// decompressed when they start with gzip's magic number, else r's bytes
// themselves, whatever the file's name, as zlib's gzopen in CPython's
// replayer reads both (an empty file is an empty plain trace). A corrupt
// or truncated gzip stream surfaces later, as a read error at the line
// where it is found; the checksum is checked at the end.
func Text(r io.Reader, path string) (io.Reader, error) {
	// Without a buffer of its own the decompressor reads 4 KB at a time.
	br := bufio.NewReaderSize(r, 1<<16)
	if magic, _ := br.Peek(2); len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return zr, nil
}

// traceName strips the directory and the usual suffixes off a file name.
func traceName(name string) string {
	if name == "" {
		return ""
	}
	base := filepath.Base(name)
	for _, suffix := range []string{".trace.gz", ".gz", ".trace"} {
		if s, ok := strings.CutSuffix(base, suffix); ok {
			return s
		}
	}
	return base
}
