package pytrace

// Trace is a whole validated trace held in memory.
type Trace struct {
	// Name is the file's base name without ".trace.gz", ".gz" or ".trace"
	// (e.g. "test_re"), for reports.
	Name string
	// Ops are the calls in file order; op number n (counted from 1, as in
	// the fidelity files) is Ops[n-1].
	Ops []Op
	// Callocs holds the arguments of every Calloc op, in order; Op.Old
	// indexes it.
	Callocs []CallocArgs
	// MaxID is the largest block ID, which, IDs being dense, is also the
	// number of Malloc, Calloc and Realloc ops: a replayer needs MaxID+1
	// slots to index blocks by ID.
	MaxID uint32
	// Command is the text after the first "# command: " header line, or "".
	Command string
	// Stats are computed while validating, so they cost no second pass.
	Stats Stats
}

// Stats describe a trace. "Live bytes" are requested sizes, not what any
// allocator hands out: they are the same for every allocator replaying the
// trace, and they are what the fidelity files chose their points by.
type Stats struct {
	// Ops of each kind.
	Mallocs, Callocs, Reallocs, Frees int
	// PeakLiveBytes is the largest sum, after any op, of the requested sizes
	// of the live blocks (blocks of 0 bytes and over 512 bytes included, the
	// ones pymalloc passes to the C library).
	PeakLiveBytes uint64
	// PeakLiveBytesOp is the first op (counted from 1) after which
	// PeakLiveBytes is reached; 0 if it is 0.
	PeakLiveBytesOp int
	// PeakLiveBlocks is the largest number of live blocks after any op.
	PeakLiveBlocks uint64
	// LiveAtEnd and LiveBytesAtEnd count the blocks the program never freed
	// and their requested bytes.
	LiveAtEnd      uint64
	LiveBytesAtEnd uint64
}
