package bench

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
