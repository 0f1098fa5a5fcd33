// arenashim: an LD_PRELOAD library for CPython's pymalloc replayer
// (replay-pymalloc) that maps each of pymalloc's arenas at an address
// chosen in advance, so that TestArenaLinesAgainstCPython (placement_test.go)
// can put the Go heap's arenas at the same addresses and compare the arena
// lines of the two dumps. It is built by that test, never by go build:
//
//	cc -shared -fPIC -o arenashim.so arenashim.c -ldl
//
// The k-th arena mapped (k counts from 1 and never goes back, so an arena
// mapped after another was unmapped gets a new place) goes to
//
//	ARENASHIM_BASE + (k-1) * 2 MiB + skew(k)
//
// where skew(k) is ARENASHIM_SKEW bytes, or, with ARENASHIM_SKEW=mix, 0 or
// 4096 by a fixed hash of k (mix_hash below, which the test repeats). The
// 2 MiB stride leaves room for a skew below 1 MiB. If that place is taken,
// the replayer aborts with a message rather than run with an arena
// elsewhere. Without ARENASHIM_BASE the library changes nothing.
//
// An arena mapping is an mmap of exactly 1 MiB of anonymous memory at no
// particular address, called from libpython. The caller test matters: the
// replayer's own loader maps its arrays with mmap too, and one of them can
// be 1 MiB long; those mappings, like everything else, pass through.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define ARENA_SIZE ((size_t)1 << 20)
#define STRIDE ((uintptr_t)2 << 20)

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);

static mmap_fn next_mmap;
static int configured;   // the environment has been read
static uintptr_t base;   // 0: do nothing
static uintptr_t skew;   // bytes past base + (k-1)*STRIDE
static int mixed;        // skew by mixHash instead
static unsigned long k;  // arenas placed so far

// mix_hash decides whether the k-th arena of the mixed placement is moved
// one page past its slot: bit 7 of a multiplicative hash of k, which gives
// an irregular run of both kinds.
static int mix_hash(unsigned long n) {
    uint32_t h = (uint32_t)n * 2654435761u;
    return (h >> 7) & 1;
}

static void configure(void) {
    const char *b = getenv("ARENASHIM_BASE");
    const char *s = getenv("ARENASHIM_SKEW");
    configured = 1;
    if (b == NULL)
        return;
    base = (uintptr_t)strtoull(b, NULL, 0);
    if (s != NULL && strcmp(s, "mix") == 0)
        mixed = 1;
    else if (s != NULL)
        skew = (uintptr_t)strtoull(s, NULL, 0);
}

// from_libpython reports whether the return address ret lies in libpython.
static int from_libpython(void *ret) {
    Dl_info info;
    return dladdr(ret, &info) != 0 && info.dli_fname != NULL &&
           strstr(info.dli_fname, "libpython") != NULL;
}

static void *place(void *addr, size_t len, int prot, int flags, int fd, off_t off, void *caller) {
    if (next_mmap == NULL)
        next_mmap = (mmap_fn)dlsym(RTLD_NEXT, "mmap");
    if (!configured)
        configure();
    if (base == 0 || addr != NULL || len != ARENA_SIZE || fd != -1 ||
        (flags & MAP_ANONYMOUS) == 0 || !from_libpython(caller))
        return next_mmap(addr, len, prot, flags, fd, off);
    k++;
    uintptr_t at = base + (k - 1) * STRIDE + (mixed ? (mix_hash(k) ? 4096 : 0) : skew);
    void *p = next_mmap((void *)at, len, prot, flags | MAP_FIXED_NOREPLACE, fd, off);
    if (p != (void *)at) {
        // Taken already, or a kernel older than 4.17, which reads
        // MAP_FIXED_NOREPLACE as a hint and maps elsewhere. Either way
        // pymalloc would carry on with an arena elsewhere, or with none,
        // and the test would fail for the wrong reason: stop here, saying
        // why.
        char msg[160];
        int n = snprintf(msg, sizeof msg, "arenashim: arena %lu: mmap at %#lx gave %p (%s)\n",
                         k, (unsigned long)at, p, strerror(errno));
        if (n > 0)
            write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
        abort();
    }
    return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return place(addr, len, prot, flags, fd, off, __builtin_return_address(0));
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return place(addr, len, prot, flags, fd, off, __builtin_return_address(0));
}
