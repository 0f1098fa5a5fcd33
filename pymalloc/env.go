package pymalloc

import (
	"fmt"
	"strings"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// GOPYMALLOC: PYTHONMALLOC for Go programs, read once, when the package is
// initialised.
//
//	value                   RAW                 MEM                 OBJ
//	unset, "", default      large-block         pymalloc            pymalloc
//	pymalloc                large-block         pymalloc            pymalloc
//	debug, pymalloc_debug   large-block+hooks   pymalloc+hooks      pymalloc+hooks
//	malloc                  large-block         large-block         large-block
//	malloc_debug            large-block+hooks   large-block+hooks   large-block+hooks
//
// "large-block" is the allocator that stands in for the C library's
// malloc (CPython's "malloc"); "hooks" are SetupDebugHooks'. Any other
// value stops the program at start-up, as CPython stops on an unknown
// PYTHONMALLOC.

// EnvVar is the environment variable that chooses the allocators at
// start-up.
const EnvVar = "GOPYMALLOC"

// envValues are the accepted values, as the error message lists them.
var envValues = []string{"pymalloc", "pymalloc_debug", "malloc", "malloc_debug", "debug", "default"}

// configure installs the allocators that value names (the domains hold
// the defaults when it is called).
func configure(value string) error {
	switch value {
	case "", "default", "pymalloc":
	case "debug", "pymalloc_debug":
		SetupDebugHooks()
	case "malloc", "malloc_debug":
		domains[DomainMem].Store(&holder{rawHeap})
		domains[DomainObj].Store(&holder{rawHeap})
		if value == "malloc_debug" {
			SetupDebugHooks()
		}
	default:
		return fmt.Errorf("Fatal error: pymalloc: %s=%q: unknown allocator; accepted values: %s, or unset",
			EnvVar, value, strings.Join(envValues, ", "))
	}
	return nil
}

// AllocatorName names the allocators the domains hold, as
// _testcapi.pymem_getallocatorsname() does: "pymalloc", "pymalloc_debug",
// "malloc" or "malloc_debug" (the GOPYMALLOC values), or "" for any other
// combination. While tracing is on the domains hold tracers, which match
// none of these: the name is "", where CPython raises RuntimeError
// ("cannot get allocators name").
func AllocatorName() string {
	var base [3]Allocator
	hooked := 0
	for d := range base {
		a, isHooked := belowHooks(domains[d].Load().a)
		base[d] = a
		if isHooked {
			hooked++
		}
	}
	suffix := ""
	switch hooked {
	case 0:
	case 3:
		suffix = "_debug"
	default:
		return ""
	}
	switch {
	case base[DomainRaw] != Allocator(rawHeap):
		return ""
	case base[DomainMem] == Allocator(defaultHeap) && base[DomainObj] == Allocator(defaultHeap):
		return "pymalloc" + suffix
	case base[DomainMem] == Allocator(rawHeap) && base[DomainObj] == Allocator(rawHeap):
		return "malloc" + suffix
	}
	return ""
}

// HugePagesEnvVar is the environment variable that puts the default heap's
// arenas on transparent huge pages, read once at start-up: "1" installs an
// obmalloc.HugePageArenas as the arena allocator (as
// SetArenaAllocator(&obmalloc.HugePageArenas{}) would), "0" or unset keeps
// one mmap per arena, anything else stops the program. It is this port's
// PYTHON_PYMALLOC_HUGEPAGES, CPython's run-time opt-in to the huge pages
// of a --with-pymalloc-hugepages build; where that build maps 2 MiB arenas
// from the kernel's reserved pool (MAP_HUGETLB), this only asks for
// transparent huge pages under 1 MiB arenas, which need no reserved pool
// and fall back to ordinary pages (docs/experiments.md).
const HugePagesEnvVar = "GOPYMALLOC_HUGEPAGES"

// arenasFromEnv returns the arena allocator that value of HugePagesEnvVar
// asks for.
func arenasFromEnv(value string) (ArenaAllocator, error) {
	switch value {
	case "", "0":
		return obmalloc.MmapArenas{}, nil
	case "1":
		return &obmalloc.HugePageArenas{}, nil
	}
	return nil, fmt.Errorf("Fatal error: pymalloc: %s=%q: want 1 (huge pages), 0 or unset", HugePagesEnvVar, value)
}

// ArenasEnvVar is the environment variable that chooses the default
// heap's arena policy, read once at start-up: "release" makes it unmap a
// wholly free arena as CPython 3.11 does (obmalloc.ReleaseArenas, which
// keeps one such arena for reuse), "keep" or unset keeps every arena, this
// port's default (obmalloc.KeepArenas), and anything else stops the
// program. Once the heap is sharded, each shard applies the policy to its
// own arenas.
const ArenasEnvVar = "GOPYMALLOC_ARENAS"

// policyFromEnv returns the arena policy that value of ArenasEnvVar asks
// for.
func policyFromEnv(value string) (obmalloc.ArenaPolicy, error) {
	switch value {
	case "", "keep":
		return obmalloc.KeepArenas, nil
	case "release":
		return obmalloc.ReleaseArenas, nil
	}
	return obmalloc.KeepArenas, fmt.Errorf("Fatal error: pymalloc: %s=%q: want keep, release or unset", ArenasEnvVar, value)
}
