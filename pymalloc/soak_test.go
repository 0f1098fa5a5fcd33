package pymalloc

import (
	"flag"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// A randomized soak of the package-level API: several goroutines, every
// function of the three domains and the typed helpers, each block checked
// for its contents before it is freed, under three set-ups (plain, debug
// hooks, debug hooks with tracing). Bounded in CI; -soak runs each set-up
// for the given time:
//
//	go test ./pymalloc -run TestSoak -soak 5m -v

var soak = flag.Duration("soak", 0, "run TestSoak for this long per set-up instead of a fixed number of ops")

type soakBlock struct {
	p   unsafe.Pointer
	n   uintptr
	f   int // index in families; -1 for a typed slice
	pat byte
}

func (b soakBlock) bytes() []byte { return unsafe.Slice((*byte)(b.p), b.n) }

func soakWorker(t *testing.T, seed uint64, deadline time.Time, ops int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var live []soakBlock
	check := func(b soakBlock) {
		for _, c := range b.bytes() {
			if c != b.pat {
				t.Errorf("block %p of %d bytes: contents changed", b.p, b.n)
				return
			}
		}
	}
	fillB := func(b soakBlock) {
		s := b.bytes()
		for i := range s {
			s[i] = b.pat
		}
	}
	release := func(b soakBlock) {
		check(b)
		if b.f < 0 {
			FreeSlice(unsafe.Slice((*uint64)(b.p), b.n/8))
		} else {
			families[b.f].free(b.p)
		}
	}
	size := func() uintptr {
		if rng.IntN(20) == 0 {
			return uintptr(513 + rng.IntN(100000))
		}
		return uintptr(rng.IntN(513))
	}
	for i := 0; ; i++ {
		if ops > 0 && i >= ops || ops == 0 && i%1024 == 0 && time.Now().After(deadline) {
			break
		}
		switch r := rng.IntN(12); {
		case r < 5 || len(live) == 0:
			f := rng.IntN(3)
			n := size()
			b := soakBlock{n: n, f: f, pat: byte(rng.Uint32())}
			switch rng.IntN(4) {
			case 0:
				b.p = families[f].calloc(1, n)
			case 1:
				b.p = families[f].realloc(nil, n)
			case 2:
				s := MakeSlice[uint64](int(n / 8))
				b.p, b.n, b.f = unsafe.Pointer(unsafe.SliceData(s[:cap(s)])), uintptr(len(s))*8, -1
			default:
				b.p = families[f].malloc(n)
			}
			if b.p == nil {
				t.Errorf("allocation of %d bytes failed", n)
				return
			}
			fillB(b)
			live = append(live, b)
		case r < 7:
			j := rng.IntN(len(live))
			b := live[j]
			if b.f < 0 {
				continue
			}
			check(b)
			n := size()
			q := families[b.f].realloc(b.p, n)
			if q == nil {
				t.Errorf("realloc to %d bytes failed", n)
				return
			}
			nb := soakBlock{q, min(n, b.n), b.f, b.pat}
			check(nb)
			nb.n = n
			fillB(nb)
			live[j] = nb
		default:
			j := rng.IntN(len(live))
			release(live[j])
			live[j] = live[len(live)-1]
			live = live[:len(live)-1]
		}
	}
	for _, b := range live {
		release(b)
	}
}

func TestSoak(t *testing.T) {
	ops := 15000
	if *soak > 0 {
		ops = 0
	}
	for _, setup := range []string{"plain", "debug hooks", "debug hooks and tracing"} {
		t.Run(setup, func(t *testing.T) {
			if setup != "plain" {
				withDebugHooks(t)
			}
			if setup == "debug hooks and tracing" {
				withTracing(t, 3)
			}
			before, rawBefore := AllocatedBlocks(), rawHeap.Stats().LiveBlocks
			deadline := time.Now().Add(*soak)
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					soakWorker(t, uint64(g)+1, deadline, ops)
				}()
			}
			wg.Wait()
			FlushQuarantine()
			require.NoError(t, Check())
			require.NoError(t, rawHeap.Check())
			require.Equal(t, before, AllocatedBlocks(), "zero balance of blocks in the default heap")
			require.Equal(t, rawBefore, rawHeap.Stats().LiveBlocks, "and in the large-block allocator")
			if IsTracing() {
				cur, _ := TracedMemory()
				require.Zero(t, cur)
			}
		})
	}
}
