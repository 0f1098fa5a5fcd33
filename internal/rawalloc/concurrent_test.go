package rawalloc

import (
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConcurrentUse(t *testing.T) {
	const (
		workers = 8
		ops     = 4000
	)
	h := newTestHeap(t, nil)
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			type block struct {
				p    unsafe.Pointer
				n    uintptr
				seed byte
			}
			var live []block
			size := func() uintptr {
				switch r := rng.IntN(100); {
				case r < 2:
					return uintptr(256*kib + rng.UintN(768*kib)) // big
				case r < 10:
					return uintptr(rng.UintN(513))
				default:
					return uintptr(513 + rng.UintN(32*kib))
				}
			}
			for i := range ops {
				switch op := rng.IntN(10); {
				case op < 4 || len(live) == 0:
					b := block{n: size(), seed: byte(rng.Uint32())}
					if rng.IntN(2) == 0 {
						b.p = h.Malloc(b.n)
					} else {
						b.p = h.Calloc(1, b.n)
						if !allZero(b.p, b.n) {
							errs <- "calloc returned dirty memory"
							return
						}
					}
					fill(b.p, b.n, b.seed)
					live = append(live, b)
				case op < 8:
					k := rng.IntN(len(live))
					b := live[k]
					if verify(b.p, b.n, b.seed) >= 0 {
						errs <- "block contents changed before free"
						return
					}
					h.Free(b.p)
					live[k] = live[len(live)-1]
					live = live[:len(live)-1]
				default:
					k := rng.IntN(len(live))
					b := live[k]
					n := size()
					q := h.Realloc(b.p, n)
					if verify(q, min(n, b.n), b.seed) >= 0 {
						errs <- "realloc lost contents"
						return
					}
					b.p, b.n = q, n
					fill(b.p, b.n, b.seed)
					live[k] = b
				}
				if i%1000 == 0 && h.Check() != nil {
					errs <- "Check failed during the run: " + h.Check().Error()
					return
				}
			}
			for _, b := range live {
				if verify(b.p, b.n, b.seed) >= 0 {
					errs <- "block contents changed"
					return
				}
				h.Free(b.p)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	require.NoError(t, h.Check())
	s := h.Stats()
	assert.Zero(t, s.LiveBlocks)
	assert.Zero(t, s.LiveBytes)
}
