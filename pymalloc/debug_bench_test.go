package pymalloc

import (
	"testing"

	"github.com/gopymalloc/gopymalloc/internal/workload"
)

// What the debug hooks and tracing cost on the churn workload through the
// package-level API (compare with BenchmarkChurn, the plain API):
//
//	go test -run '^$' -bench 'Churn(DebugHooks|Tracing|TracingStopped)?$' -count 6 ./pymalloc

func BenchmarkChurnDebugHooks(b *testing.B) {
	withDebugHooks(b)
	workload.Churn(b, objDomain{})
	FlushQuarantine()
}

func BenchmarkChurnTracing(b *testing.B) {
	withTracing(b, 1)
	workload.Churn(b, objDomain{})
}

// Tracing started and stopped again leaves nothing on the path.
func BenchmarkChurnTracingStopped(b *testing.B) {
	if err := StartTracing(1); err != nil {
		b.Fatal(err)
	}
	StopTracing()
	workload.Churn(b, objDomain{})
}
