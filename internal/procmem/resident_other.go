//go:build !linux

package procmem

import (
	"errors"
	"unsafe"
)

// ResidentPages is only implemented on linux.
func ResidentPages(p unsafe.Pointer, size uintptr) ([]bool, error) {
	return nil, errors.ErrUnsupported
}
