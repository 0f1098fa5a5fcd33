package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// openErrText is the system's own words for why path cannot be opened,
// for a test that checks a message naming a missing file: linux says
// "no such file or directory", windows "The system cannot find the file
// specified." (Wine: "File not found."), and "path" for "file" when a
// directory on the way is missing.
func openErrText(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err == nil {
		f.Close()
		t.Fatalf("openErrText: %s opens", path)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Fatalf("openErrText: opening %s: %v is not a *fs.PathError", path, err)
	}
	return pe.Err.Error()
}

// needPymalloc skips a test that counts pymalloc's blocks when pymalloc
// does not serve the OBJ domain (GOPYMALLOC=malloc or malloc_debug):
// the story and gc commands then report 0 blocks throughout, as
// sys.getallocatedblocks() does under PYTHONMALLOC=malloc, and there is
// nothing to check.
func needPymalloc(t *testing.T) {
	t.Helper()
	if name := pymalloc.AllocatorName(); !strings.HasPrefix(name, "pymalloc") {
		t.Skipf("counts pymalloc blocks, and GOPYMALLOC makes the allocator %s", name)
	}
}

// synthTrace writes a valid trace of about n ops with a fixed seed: a
// heap that grows to a peak at two thirds of the way and then shrinks,
// with sizes of every kind (0, small, above the threshold), callocs and
// reallocs, so that every structure of the heap is exercised and the
// picture has full, used and empty pools.
func synthTrace(n int) string {
	r := rand.New(rand.NewPCG(5, 8))
	var b strings.Builder
	b.WriteString("# pytrace 1\n# command: synthetic test trace\n")
	var live []uint32
	next := uint32(1)
	size := func() int {
		switch x := r.IntN(100); {
		case x < 2:
			return 0
		case x < 6:
			return 513 + r.IntN(4000)
		default:
			return 1 + r.IntN(200) + r.IntN(2)*r.IntN(312)
		}
	}
	for i := range n {
		growing := i < 2*n/3
		pFree := 35
		if !growing {
			pFree = 75
		}
		switch x := r.IntN(100); {
		case len(live) > 0 && x < pFree:
			j := r.IntN(len(live))
			fmt.Fprintf(&b, "f %d\n", live[j])
			live[j] = live[len(live)-1]
			live = live[:len(live)-1]
		case len(live) > 0 && x < pFree+5:
			j := r.IntN(len(live))
			fmt.Fprintf(&b, "r %d %d %d\n", live[j], next, size())
			live[j] = next
			next++
		case x < pFree+8:
			fmt.Fprintf(&b, "c %d %d %d\n", next, 1+r.IntN(8), 1+r.IntN(60))
			live = append(live, next)
			next++
		default:
			fmt.Fprintf(&b, "m %d %d\n", next, size())
			live = append(live, next)
			next++
		}
	}
	return b.String()
}

// synthTraceFile writes synthTrace(n) to a gzip'd file.
func synthTraceFile(t *testing.T, n int) string {
	t.Helper()
	return writeTrace(t, "synth.trace.gz", synthTrace(n))
}
