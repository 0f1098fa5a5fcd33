package bench

// Figures from elsewhere: the C reference replayers' ns per op on the
// public traces, as ../shared/cpython-replay/README.md quotes them
// (median of 9 runs on this machine kind). They were not measured by this
// package; the chart shows them apart and says so. The command reruns the
// same replayers beside the Go backends (-c-replayer) for figures
// measured here.

// ReferenceSource says where the reference figures come from.
const ReferenceSource = "cpython-replay/README.md (median of 9 runs on this machine kind)"

// ReferenceAllocators are the C allocators of the reference figures, in
// the order of RefTrace.NsPerOp.
var ReferenceAllocators = [4]string{"CPython pymalloc", "glibc", "mimalloc", "jemalloc"}

// RefTrace is one trace's reference figures.
type RefTrace struct {
	Trace   string
	NsPerOp [4]float64
}

// Reference are the figures, per public trace.
var Reference = []RefTrace{
	{"compileall", [4]float64{9.8, 15.6, 8.4, 11.8}},
	{"json_tool", [4]float64{8.5, 19.1, 7.6, 10.1}},
	{"pydoc", [4]float64{10.2, 16.8, 9.1, 11.6}},
	{"test_re", [4]float64{9.8, 14.5, 10.2, 11.4}},
}

// referenceFor returns the reference figures of trace.
func referenceFor(trace string) (RefTrace, bool) {
	for _, r := range Reference {
		if r.Trace == trace {
			return r, true
		}
	}
	return RefTrace{}, false
}
