// Command gen writes package bench's generated replay loops to the file
// named by its argument (go generate runs it from bench/).
package main

import (
	"fmt"
	"os"

	"github.com/gopymalloc/gopymalloc/bench/internal/loopgen"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen OUTPUT.go")
		os.Exit(2)
	}
	src, err := loopgen.Source()
	if err == nil {
		err = os.WriteFile(os.Args[1], src, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
