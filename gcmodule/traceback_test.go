package gcmodule

import (
	"path"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/pymalloc"
)

// line returns the line it is called from.
func line() int {
	_, _, l, _ := runtime.Caller(1)
	return l
}

// tracemalloc's test_get_object_traceback for objects: the traceback of
// an object is the program's frames that made it, a container's found
// behind its GC head, and gcmodule's own frames (the constructor, alloc,
// objMalloc) are not in it.
func TestObjectTraceback(t *testing.T) {
	c := NewCollector()
	t.Cleanup(func() { c.Close() })
	before := c.NewList()
	require.NoError(t, pymalloc.StartTracing(5))
	t.Cleanup(pymalloc.StopTracing)

	here := "github.com/gopymalloc/gopymalloc/gcmodule.TestObjectTraceback"
	for _, tc := range []struct {
		name string
		make func() (Object, int)
		gc   bool
	}{
		{"list (a container)", func() (Object, int) { return c.NewList(Nil, Nil), line() }, true},
		{"dict (a container)", func() (Object, int) { return c.NewDict(), line() }, true},
		{"int (an atom)", func() (Object, int) { return c.NewInt(12345), line() }, false},
		{"str (an atom)", func() (Object, int) { return c.NewStr("tracemalloc"), line() }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, at := tc.make()
			defer c.Decref(o)
			tb := c.ObjectTraceback(o)
			require.NotEmpty(t, tb)
			assert.True(t, strings.HasPrefix(tb[0].Function, here+".func"), "the first frame is the program's call, not %s", tb[0].Function)
			assert.Equal(t, "traceback_test.go", path.Base(tb[0].File))
			assert.Equal(t, at, tb[0].Line)
			for _, f := range tb {
				assert.NotContains(t, f.Function, "gcmodule.(*Collector)", "no frame of gcmodule itself")
			}
			if tc.gc {
				assert.Nil(t, pymalloc.BlockTraceback(unsafe.Add(nil, uintptr(o))), "a container's block starts at its GC head, not at the handle")
			}
		})
	}
	assert.Nil(t, c.ObjectTraceback(before), "made before tracing")
	requireUsage(t, "gcmodule: ObjectTraceback(0x8): not an object: this collector never allocated an object at that address", func() { c.ObjectTraceback(Object(8)) })
}
