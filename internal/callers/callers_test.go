package callers

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

func here() runtime.Frame {
	pc, file, line, _ := runtime.Caller(1)
	return runtime.Frame{PC: pc, File: file, Line: line, Function: runtime.FuncForPC(pc).Name()}
}

func TestInLayer(t *testing.T) {
	test := here() // a frame of this package's test file
	lib := test
	lib.File = lib.File[:len(lib.File)-len("_test.go")] + ".go" // the same directory, a library file
	other := runtime.Frame{File: "/elsewhere/prog.go", Function: "main.main"}

	assert.False(t, InLayer(lib), "nothing registered yet")
	RegisterLayer()
	RegisterLayer() // twice is once
	assert.Len(t, *dirs.Load(), 1)
	assert.True(t, InLayer(lib), "a library file of the registered package")
	assert.False(t, InLayer(test), "its tests are the program's")
	assert.False(t, InLayer(other))
}
