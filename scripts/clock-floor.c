/*
 * clock-floor.c -- the least a recorder that timestamps every heap event can cost: an
 * LD_PRELOAD library whose malloc and free call the C library's, read the clock (unless built
 * with -DNOCLOCK) and store 16 or 32 bytes in a per-thread ring, and do nothing else (no stack,
 * no output). scripts/clock-floor builds and times it against native and perfshim.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <time.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);

static __thread __attribute__((tls_model("initial-exec"))) uint64_t ring[1u << 16];
static __thread __attribute__((tls_model("initial-exec"))) unsigned pos;

static inline uint64_t now(void)
{
#ifdef NOCLOCK
    return 0;
#else
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
#endif
}

__attribute__((visibility("default"))) void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    uint64_t *r = &ring[pos & 0xfff0u];
    r[0] = now();
    r[1] = (uint64_t)(uintptr_t)p;
    r[2] = n;
    pos += 4;
    return p;
}

__attribute__((visibility("default"))) void free(void *p)
{
    uint64_t *r = &ring[pos & 0xfff0u];
    r[0] = now();
    r[1] = (uint64_t)(uintptr_t)p;
    pos += 2;
    __libc_free(p);
}
