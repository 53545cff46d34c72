/*
 * sampled.h -- sampled mode (PERFSHIM_SAMPLE_BYTES=N > 0, issue 18): allocations are recorded
 * by Poisson sampling on bytes, as tcmalloc and jemalloc do, and releases of sampled blocks
 * only.
 *
 * Contract: sampled_on is set once by shim_init, before the shim is active, and never changes.
 * Every exported function of the malloc family (hooks_alloc.c) tests it first, before any
 * frame is set up (three instructions: compare, jump to the sampled twin sampled_<name>, which
 * has the same parameters and result, or jump to the full-mode hook ps_hook_<name>, unchanged);
 * the C++ new hooks test it after
 * hook_enter() and hand the real operator's result to sampled_alloc(); the delete hooks test
 * it before hook_enter() and call sampled_release() only when sampled_maybe() says the
 * pointer may have been sampled. Thread-safe; never allocates from the app's heap.
 *
 * Sampling: each thread counts down the bytes it allocates (tstate_t.sample_left), s + 1 for
 * an allocation of s bytes (so that a zero-size one can be sampled); when the count reaches 0
 * inside an allocation, it is sampled and the next countdown is drawn from an exponential
 * distribution of mean N. So an allocation of s bytes is sampled with probability
 * p(s) = 1 - exp(-(s + 1)/N), independently of the others (the process is memoryless), and
 * the analyzer's Horvitz-Thompson estimate of a site's allocations is the sum of 1/p(s) over
 * its samples, of its bytes the sum of s/p(s) (docs/internals.md "Sampled mode"). Until a
 * sample is due an allocation costs the hook's guard, the real call, one subtraction and a
 * branch: no clock, no stack, no record. A sampled allocation is recorded as in full mode
 * (its stack walked with libunwind, not cached) and its address entered into the sampled set:
 * a filter of 32768 bits (4 KiB, one bit load per release) over an open-addressing hash set
 * under a lock. A release whose bit is set looks the address up and records a FREE (or, for a
 * realloc, a REALLOC / FREE / ALLOC by which sides were sampled) only when it was sampled.
 * A failed allocation is never sampled. The live set and the exit leak scan are off (they
 * need every block); allocator time (ALLOC_COST) is not measured. A sampled allocation made
 * while a lock is held counts 1/p(s) allocations and s/p(s) bytes in the lock table
 * (locktab_note_alloc_n), so that allocations-while-held estimate the program's.
 */
#ifndef PERFSHIM_SAMPLED_H
#define PERFSHIM_SAMPLED_H

#include <stddef.h>
#include <stdint.h>

#include "perfshim/compiler.h"

struct tstate_s;

#define SAMPLED_FILTER_LOG2 15
extern int sampled_on;
extern uint64_t sampled_filter[(1u << SAMPLED_FILTER_LOG2) / 64];

static PS_ALWAYS_INLINE unsigned sampled_filter_bit(uint64_t p)
{
    return (unsigned)(((p >> 4) * 0x9e3779b97f4a7c15ull) >> (64 - SAMPLED_FILTER_LOG2));
}

/* 0: ptr was surely not sampled; 1: it may have been (look it up). */
static PS_ALWAYS_INLINE int sampled_maybe(const void *ptr)
{
    unsigned b = sampled_filter_bit((uint64_t)(uintptr_t)ptr);
    return (int)((__atomic_load_n(&sampled_filter[b >> 6], __ATOMIC_RELAXED) >> (b & 63)) & 1);
}

/* Called by shim_init after the options are read: N bytes (0: full mode), seed (0: random). */
void sampled_init(int mean_bytes, int seed);

/* After the real allocating call returned p for `size` bytes (align: 0 or the alignment),
 * with the hook's guard held (hook_enter returned st): counts down and records when a sample
 * is due; releases the guard (hook_leave) and leaves errno as it found it. Returns p.
 * ra: the hook's return address (PS_CALLER()). */
PS_NOINLINE void *sampled_alloc(struct tstate_s *st, uint8_t fn, void *p, uint64_t size,
                                uint64_t align, uintptr_t ra);
/* Before the real release of ptr (sampled_maybe(ptr) was 1): records the release when ptr was
 * sampled. stack_level as for shim_rec_free. No guard held; errno left alone. */
PS_NOINLINE PS_COLD void sampled_release(void *ptr, uint8_t fn, int stack_level, uintptr_t ra);
/* The malloc family's hooks in sampled mode (hooks_alloc.c calls them once sampled_on is
 * set): the same contract as the hooks. */
#define PS_SAMPLED_HOOKS(X)                                                                    \
    X(void *, malloc, (size_t size), (size))                                                   \
    X(void *, calloc, (size_t n, size_t m), (n, m))                                            \
    X(void *, valloc, (size_t size), (size))                                                   \
    X(void *, pvalloc, (size_t size), (size))                                                  \
    X(void *, memalign, (size_t align, size_t size), (align, size))                            \
    X(void *, aligned_alloc, (size_t align, size_t size), (align, size))                       \
    X(int, posix_memalign, (void **out, size_t align, size_t size), (out, align, size))        \
    X(void, free, (void *p), (p))                                                              \
    X(void *, realloc, (void *old, size_t size), (old, size))                                  \
    X(void *, reallocarray, (void *old, size_t n, size_t m), (old, n, m))
#define PS_X(ret, name, params, args) PS_NOINLINE ret sampled_##name params;
PS_SAMPLED_HOOKS(PS_X)
#undef PS_X

#endif /* PERFSHIM_SAMPLED_H */
