package gcmodule

import (
	"testing"
	"unsafe"

	"github.com/gopymalloc/gopymalloc/pymalloc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failMalloc is _testcapi's set_nomemory hook (from pyfailmalloc): on
// every domain, the requests after the first start fail, up to stop
// (for ever when stop is 0); frees always go through.
type failMalloc struct {
	installed   bool
	prev        [3]pymalloc.Allocator
	start, stop int
	count       int
}

// fmDomain is one domain's hook.
type fmDomain struct {
	fm   *failMalloc
	next pymalloc.Allocator
}

func (f *failMalloc) fail() bool {
	f.count++
	return f.count > f.start && (f.stop <= 0 || f.count <= f.stop)
}

func (h fmDomain) Malloc(n uintptr) unsafe.Pointer {
	if h.fm.fail() {
		return nil
	}
	return h.next.Malloc(n)
}

func (h fmDomain) Calloc(nelem, elsize uintptr) unsafe.Pointer {
	if h.fm.fail() {
		return nil
	}
	return h.next.Calloc(nelem, elsize)
}

func (h fmDomain) Realloc(p unsafe.Pointer, n uintptr) unsafe.Pointer {
	if h.fm.fail() {
		return nil
	}
	return h.next.Realloc(p, n)
}

func (h fmDomain) Free(p unsafe.Pointer) { h.next.Free(p) }

var allDomains = [3]pymalloc.Domain{pymalloc.DomainRaw, pymalloc.DomainMem, pymalloc.DomainObj}

// set is set_nomemory(start, stop): it resets the count and installs
// the hooks unless they are installed.
func (f *failMalloc) set(start, stop int) {
	f.start, f.stop, f.count = start, stop, 0
	if f.installed {
		return
	}
	f.installed = true
	for i, d := range allDomains {
		f.prev[i] = pymalloc.GetAllocator(d)
		pymalloc.SetAllocator(d, fmDomain{f, f.prev[i]})
	}
}

// remove is remove_mem_hooks(): it puts the allocators back, once.
func (f *failMalloc) remove() {
	if !f.installed {
		return
	}
	f.installed = false
	for i, d := range allDomains {
		pymalloc.SetAllocator(d, f.prev[i])
	}
}

// TestSetNoMemory ports test_capi's test_set_nomemory: with every domain
// failing after start requests, making instances of a plain class fails
// at the first request past start, with the constructor's result for
// MemoryError (Nil), and the collector and the heap are usable once the
// hooks are removed; removing them twice in a row does nothing, set
// after a removal installs them again, and stop ends the failures.
// CPython counts 2 to 5 instances per 10 requests (its allocations
// around C() vary); an instance here takes exactly 2 requests (the
// object, then its values), so the count is 5 per 10; an instance whose
// values cannot be had gives its object back.
func TestSetNoMemory(t *testing.T) {
	e := newEnv(t)
	e.noLeak()
	before := [3]pymalloc.Allocator{}
	for i, d := range allDomains {
		before[i] = pymalloc.GetAllocator(d)
	}
	var fm failMalloc
	t.Cleanup(fm.remove)
	var made []Object
	var failedAt []int
	for outer := 1; outer <= 3; outer++ {
		start := 10 * outer
		for j := range 100 {
			if j == 0 {
				if outer != 3 {
					fm.set(start, 0)
				} else {
					fm.set(start, start+1)
				}
			}
			o := e.c.NewInstance(plainClass)
			if o == Nil {
				if outer != 3 {
					fm.remove()
				}
				failedAt = append(failedAt, j)
				fm.remove()
				break
			}
			made = append(made, o)
		}
	}
	assert.Equal(t, []int{5, 10, 15}, failedAt, "the instance made after start requests fails")
	for i, d := range allDomains {
		assert.Equal(t, before[i], pymalloc.GetAllocator(d), "the domains are back as they were")
	}
	// Start is even above, so the request that failed was always an
	// object's. With only request 2 failing, the values' request fails:
	// the instance is Nil and gives its object back (noLeak), and, stop
	// past, the next instance is made.
	fm.set(1, 2)
	assert.Equal(t, Nil, e.c.NewInstance(plainClass), "request 2 fails")
	o := e.c.NewInstance(plainClass)
	require.NotEqual(t, Nil, o, "requests after stop go through")
	assert.Equal(t, 4, fm.count)
	fm.remove()
	made = append(made, o)
	e.drop(made...)
	require.NoError(t, pymalloc.Check())
}
