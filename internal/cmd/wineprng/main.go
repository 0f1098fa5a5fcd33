// Command wineprng writes bcryptprimitives.dll for a Wine prefix whose
// Wine lacks it (Wine 8.0, Debian bookworm's), so that Go's Windows
// binaries start there: since Go 1.22 the runtime loads ProcessPrng from
// that DLL at start-up and stops with "fatal error: bcryptprimitives.dll
// not found" when it cannot. The DLL holds no code, only an export
// table whose one entry, ProcessPrng, forwards to
// advapi32.SystemFunction036 (RtlGenRandom), which Wine has had for
// long. Both fill a buffer with random bytes and return nonzero on
// success; the length argument is a SIZE_T in ProcessPrng and a ULONG in
// RtlGenRandom, which the Go runtime's requests (a few bytes at a time)
// never exceed. It is a test shim for .ci/wine, never for a real
// Windows, which has its own DLL.
//
// Usage: go run ./internal/cmd/wineprng OUTPUT.dll
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: wineprng OUTPUT.dll")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], forwarderDLL(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "wineprng:", err)
		os.Exit(1)
	}
}
