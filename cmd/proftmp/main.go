package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/gopymalloc/gopymalloc/internal/pytrace"
	"github.com/gopymalloc/gopymalloc/internal/replay"
)

func main() {
	t, err := pytrace.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	f, _ := os.Create("/tmp/replay.prof")
	pprof.StartCPUProfile(f)
	for i := 0; i < 20; i++ {
		r, err := replay.Run(t, replay.Options{})
		if err != nil {
			panic(err)
		}
		if i%5 == 0 {
			fmt.Println(r)
		}
	}
	pprof.StopCPUProfile()
}
