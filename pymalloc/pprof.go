package pymalloc

import "runtime/pprof"

// The live blocks as a runtime/pprof profile: while tracing is on (see
// StartTracing), every traced block is an entry of the profile named
// LiveProfileName, with the stack that allocated it, and leaves it when it
// is freed. Like any profile it is written by pprof.Lookup(name).WriteTo,
// served by net/http/pprof at /debug/pprof/gopymalloc.live, and read by
//
//	go tool pprof -top prog live.pb.gz
//
// which shows, function by function, how many blocks of memory outside
// the Go heap each call stack holds: the Go heap profile cannot, since
// this memory is not the Go runtime's. A custom profile counts entries,
// not bytes; Snapshot.Statistics has the bytes.

// LiveProfileName is the name of the profile of live traced blocks.
const LiveProfileName = "gopymalloc.live"

var liveProfile = pprof.NewProfile(LiveProfileName)

// LiveProfile returns the profile of the blocks live and traced now (it is
// empty while tracing is off).
func LiveProfile() *pprof.Profile { return liveProfile }
