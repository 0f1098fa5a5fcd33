package bench

import (
	"errors"
	"strconv"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/internal/workload"
	"github.com/gopymalloc/gopymalloc/mmap"
)

// closeFails is the free list with a Close that fails.
type closeFails struct{ *freeList }

func (c closeFails) Close() error {
	return errors.Join(c.freeList.Close(), errors.New("munmap refused"))
}

// A backend that cannot open or close its instance fails the churn and
// bulk runs with that error: testing.Benchmark would hand back a zero
// result, which used to become a record of 0 ns per op.
func TestWorkloadRunsReportFailures(t *testing.T) {
	noOpen := offHeapEntry("no-open", "", func() (*freeList, error) { return nil, errors.New("no arena today") })
	noClose := offHeapEntry("no-close", "", func() (closeFails, error) { return closeFails{new(freeList)}, nil })
	for _, tc := range []struct {
		name string
		run  func(Backend) (Record, error)
		b    Backend
		want string
	}{
		{"churn/open", RunChurn, noOpen, "churn no-open: opening an instance: no arena today"},
		{"bulk/open", RunBulk, noOpen, "bulk no-open: opening an instance: no arena today"},
		{"churn/close", RunChurn, noClose, "churn no-close: closing the instance: munmap refused"},
		{"bulk/close", RunBulk, noClose, "bulk no-close: closing the instance: munmap refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := tc.run(tc.b)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, rec.Keys(), "no record beside the error")
		})
	}
}

// bumpInstance hands out consecutive pieces of memory made beforehand,
// going round when it reaches the end: an allocator that itself allocates
// nothing on the Go heap. Churn frees its blocks oldest first, so a ring
// of twice the window's most bytes never hands out a piece of a live
// block, and the test holds 10 MB rather than one piece per pair (517 MB).
type bumpInstance struct {
	mem  []byte
	next *int
}

func (b bumpInstance) Malloc(n uintptr) unsafe.Pointer {
	n = max(n, 1)
	if *b.next+int(n) > len(b.mem) {
		*b.next = 0
	}
	p := unsafe.Pointer(&b.mem[*b.next])
	*b.next += int(n)
	return p
}
func (bumpInstance) Free(unsafe.Pointer) {}
func (bumpInstance) Close() error        { return nil }

// The churn memory run's measured work allocates nothing on the Go heap
// of its own, so the RSS growth it reports is the allocator's. It used to
// make its 80 KB table of live sizes inside the measurement.
func TestChurnWorkAllocatesNothing(t *testing.T) {
	sizes := workload.Sizes(1<<16, 1, 512)
	held := make([]uintptr, workload.ChurnWindow)
	live := make([]unsafe.Pointer, workload.ChurnWindow)
	mem := make([]byte, 2*(workload.ChurnWindow+1)*512)
	inst := bumpInstance{mem: mem, next: new(int)}
	var a Instance = inst // boxed here, not in the measured call
	work := churnWork("bump", sizes, held)
	var requested uint64
	var err error
	allocs := testing.AllocsPerRun(1, func() {
		*inst.next = 0
		requested, err = work(a, live)
	})
	require.NoError(t, err)
	assert.Zero(t, allocs, "Go heap allocations in the measured work")
	var want uint64
	for i := range workload.ChurnWindow {
		// The window at the end: slot s last got the size of the last
		// pair that used it.
		last := churnMemoryPairs - workload.ChurnWindow + i
		want += uint64(sizes[last&(1<<16-1)])
	}
	assert.Equal(t, want, requested, "the bytes the window holds at the end")
}

func TestCheckBenchtime(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"1s", true}, {"100ms", true}, {"100x", true}, {"1x", true},
		{"0s", false}, {"-1s", false}, {"0x", false}, {"-5x", false},
		{"x", false}, {"1.5x", false}, {"bogus", false}, {"", false},
	} {
		err := CheckBenchtime(tc.in)
		if tc.ok {
			assert.NoError(t, err, "%q", tc.in)
		} else {
			assert.ErrorContains(t, err, strconv.Quote(tc.in), "%q", tc.in)
		}
	}
}

// The RSS figures of a memory run: where /proc/self/status is missing
// (every system but linux) the readings are -1, and the record says
// nothing of the growth rather than a growth of 0.
func TestSetResidentFigures(t *testing.T) {
	for _, tc := range []struct {
		name            string
		rss0, rss1, hwm int64
		requested       uint64
		want            string
	}{
		{"linux", 1000, 3048, 4000, 1 << 20, "rss_growth_kb=2048 resident_per_requested=2.000 rss_peak_kb=4000"},
		{"pages went back", 3000, 2000, 4000, 1 << 20, "rss_growth_kb=-1000 resident_per_requested=-0.977 rss_peak_kb=4000"},
		{"no /proc", -1, -1, -1, 1 << 20, "rss_peak_kb=-1"},
		{"no reading before", -1, 2000, 4000, 1 << 20, "rss_peak_kb=4000"},
		{"no reading after", 1000, -1, 4000, 1 << 20, "rss_peak_kb=4000"},
		{"nothing requested", 1000, 1000, 4000, 0, "rss_growth_kb=0 rss_peak_kb=4000"},
		// -1 is the missing reading; 0 is a reading.
		{"readings of 0", 0, 0, 0, 1 << 20, "rss_growth_kb=0 resident_per_requested=0.000 rss_peak_kb=0"},
	} {
		var r Record
		setResidentFigures(&r, tc.rss0, tc.rss1, tc.hwm, tc.requested)
		assert.Equal(t, tc.want, r.String(), tc.name)
	}
}

// measureMemory reads RSS before the work and after it: a work that maps
// and touches 32 MiB shows a growth of most of that, not a loss.
func TestMeasureMemoryGrowth(t *testing.T) {
	b, ok := Lookup("gopymalloc")
	require.True(t, ok)
	const size = 32 << 20
	var m unsafe.Pointer
	r, err := measureMemory("test", b, 0, "ns", 1, func(Instance, []unsafe.Pointer) (uint64, error) {
		var err error
		if m, err = mmap.Map(size); err != nil {
			return 0, err
		}
		for i := uintptr(0); i < size; i += 4096 {
			*(*byte)(unsafe.Add(m, i)) = 1
		}
		return size, nil
	})
	require.NoError(t, err)
	require.NoError(t, mmap.Unmap(m, size))
	if r.Get("rss_growth_kb") == "" {
		t.Skip("no RSS readings on this system")
	}
	growth, err := strconv.ParseInt(r.Get("rss_growth_kb"), 10, 64)
	require.NoError(t, err)
	assert.Greater(t, growth, int64(size/1024/2), "KiB")
	ratio, ok := r.Float("resident_per_requested")
	require.True(t, ok)
	assert.Greater(t, ratio, 0.5)
}
