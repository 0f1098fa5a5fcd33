// Package pytrace reads and validates allocation traces: the exact sequence
// of malloc, calloc, realloc and free calls that a real CPython 3.11 program
// made to its object and memory allocators (both served by pymalloc). The
// port replays such a trace through its own pymalloc and through other
// allocators, and compares its statistics with the ones CPython printed for
// the same trace, so the reader must hand over a trace that is known to be
// consistent before any replay starts.
//
// The format ("pytrace 1", specified in traces/FORMAT.md beside DESIGN.md) is
// gzip'd ASCII text with one call per line: "m ID SIZE", "c ID NELEM ELSIZE",
// "r OLDID NEWID SIZE" (OLDID 0 is realloc(NULL, SIZE)) and "f ID", decimal
// numbers without sign or leading zeros, single spaces, every line ending in
// '\n'. Lines starting with '#' are comments (the writer puts a header there).
// Each m, c and r line creates the next block ID (1, 2, 3, ...), so a
// replayer can keep its blocks in an array indexed by ID; f and r name only
// live blocks. Read checks all of this, line by line, and reports the first
// violation with the file name and line number; it never returns a partial
// trace, so a replayer may index by ID without checking anything itself.
//
// An Op is 16 bytes: two uint32 IDs and a uint64 whose low 62 bits hold the
// size and whose top 2 bits hold the Kind, the same layout as the C
// replayer's op_t. The public traces have about 4 million ops, so a trace
// takes about 64 MB in one flat, pointer-free slice: the garbage collector
// never scans it, and the replay loop walks it sequentially, so the time
// measured is the allocator's and not the loader's. Calloc's two arguments
// do not fit there and go to Trace.Callocs, which the op indexes.
package pytrace
