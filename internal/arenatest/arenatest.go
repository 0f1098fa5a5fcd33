// Package arenatest holds arena allocators for tests of the packages that
// map arenas (obmalloc, pymalloc).
package arenatest

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/mmap"
)

// HeadlessArenas maps every arena HeadBytes past a multiple of PoolSize,
// so that the arena is not pool-aligned, and unmaps the memory before the
// arena: code that reads the would-be pool header of an address in the
// arena's first, partial pool faults instead of reading garbage, as long
// as no later mapping (another arena, the Go runtime's) has taken that
// range, which this cannot prevent. A test that must see such a read
// refused whatever lies there puts a decoy header in a mapped head
// instead (pymalloc's decoyHeadArenas). On windows, where VirtualFree
// releases a whole reservation or nothing, the head stays mapped (and
// zero), so a read there finds zeros instead of faulting. It is safe for
// concurrent use.
type HeadlessArenas struct {
	PoolSize  uintptr // the heap's pool size, a multiple of the page size
	HeadBytes uintptr // offset of each arena past a pool boundary, a multiple of the page size below PoolSize

	mu   sync.Mutex
	maps map[uintptr]unsafe.Pointer // arena -> the whole mapping it lies in (windows)
}

// partialUnmap says whether Unmap can give back part of a mapping. On
// windows it releases the whole reservation whatever the size, so
// unmapping the head would unmap the arena too.
const partialUnmap = runtime.GOOS != "windows"

// Alloc maps size bytes as described above.
func (a *HeadlessArenas) Alloc(size uintptr) unsafe.Pointer {
	a.mu.Lock()
	defer a.mu.Unlock()
	span := size + 2*a.PoolSize
	m, err := mmap.Map(span)
	if err != nil {
		return nil
	}
	// base - start < PoolSize + HeadBytes < 2*PoolSize: the arena fits,
	// and what lies on either side of it is unmapped again.
	start := uintptr(m)
	base := (start+a.PoolSize-1)&^(a.PoolSize-1) + a.HeadBytes
	if !partialUnmap {
		if a.maps == nil {
			a.maps = make(map[uintptr]unsafe.Pointer)
		}
		a.maps[base] = m
		return unsafe.Add(m, base-start)
	}
	_ = mmap.Unmap(m, base-start)
	end := base + size
	_ = mmap.Unmap(unsafe.Add(m, end-start), start+span-end)
	return unsafe.Add(m, base-start)
}

// Free unmaps an arena (on windows, its whole mapping).
func (a *HeadlessArenas) Free(p unsafe.Pointer, size uintptr) {
	if partialUnmap {
		_ = mmap.Unmap(p, size)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	m, ok := a.maps[uintptr(p)]
	if !ok {
		panic(fmt.Sprintf("arenatest: HeadlessArenas.Free(%p, %d): not an arena of this allocator", p, size))
	}
	delete(a.maps, uintptr(p))
	_ = mmap.Unmap(m, size+2*a.PoolSize)
}
