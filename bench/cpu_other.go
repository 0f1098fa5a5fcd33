//go:build !unix

package bench

import "time"

// cpuTime is not measured off unix.
func cpuTime() time.Duration { return -1 }
