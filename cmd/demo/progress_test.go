package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/winetest"
)

func TestProgressOnlyOnATerminal(t *testing.T) {
	assert.Nil(t, newProgress(&bytes.Buffer{}), "not a file")
	f, err := os.Create(filepath.Join(winetest.TempDir(t), "log"))
	require.NoError(t, err)
	defer f.Close()
	assert.Nil(t, newProgress(f), "a regular file is not a terminal")
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	assert.Nil(t, newProgress(w), "nor is a pipe")

	var p *progress // silent: every method is safe on nil
	p.start("x")
	p.update(1, 2)
	p.finish()
}

func TestProgressDrawsAndClears(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf}
	p.start("reading t.gz")
	p.update(50, 200)
	p.update(60, 200) // within 100 ms of the last: not drawn
	p.finish()
	out := buf.String()
	assert.Equal(t, "\rreading t.gz ...\rreading t.gz  25%\r"+strings.Repeat(" ", 17)+"\r", out)
	p.update(1, 0) // nothing to measure against: nothing drawn
	assert.Equal(t, out, buf.String())

	p.start("a longer task")
	p.next = time.Time{}
	p.draw("short")
	assert.Equal(t, "\ra longer task ...\rshort            ", strings.TrimPrefix(buf.String(), out), "a shorter line blanks the rest of the longer one")
}
