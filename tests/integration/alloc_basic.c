/*
 * alloc_basic -- every function of the malloc family, called from named functions a known
 * number of times with known sizes; the trace must hold exactly that, with stacks whose first
 * frame resolves to the named function, and every free matched to its allocation.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"

#define N_MALLOC 1000
#define N_CALLOC 100
#define N_ALIGNED 10
#define N_LEAK 7

__attribute__((noinline)) void *site_malloc_48(void) { return malloc(48); }
__attribute__((noinline)) void *site_calloc_10x24(void) { return calloc(10, 24); }
__attribute__((noinline)) void *site_posix_memalign(void)
{
    void *p = NULL;
    return posix_memalign(&p, 64, 100) == 0 ? p : NULL;
}
__attribute__((noinline)) void *site_aligned_alloc(void) { return aligned_alloc(256, 512); }
__attribute__((noinline)) void *site_memalign(void) { return memalign(128, 200); }
__attribute__((noinline)) void *site_valloc(void) { return valloc(300); }
__attribute__((noinline)) void *site_pvalloc(void) { return pvalloc(100); }
__attribute__((noinline)) void *site_reallocarray(void) { return reallocarray(NULL, 10, 8); }
__attribute__((noinline)) void *site_realloc_grow(void *p, size_t n) { return realloc(p, n); }
__attribute__((noinline)) void *site_leak(void) { return malloc(1000); }
__attribute__((noinline)) void site_free(void *p) { free(p); }

static void *volatile sink;

static void run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    static void *keep[N_MALLOC];
    for (int i = 0; i < N_MALLOC; i++)
        keep[i] = site_malloc_48();
    for (int i = 0; i < N_MALLOC; i++)
        site_free(keep[i]);
    for (int i = 0; i < N_CALLOC; i++)
        site_free(site_calloc_10x24());
    void *(*aligned[])(void) = {site_posix_memalign, site_aligned_alloc, site_memalign};
    for (size_t k = 0; k < 3; k++)
        for (int i = 0; i < N_ALIGNED; i++)
            site_free(aligned[k]());
    for (int i = 0; i < 5; i++) {
        site_free(site_valloc());
        site_free(site_pvalloc());
        site_free(site_reallocarray());
    }
    /* a growth chain: 16, 32, ..., 4096 (9 reallocs; the first from NULL acts as malloc) */
    void *p = NULL;
    for (size_t n = 16; n <= 4096; n *= 2)
        p = site_realloc_grow(p, n);
    site_free(p);
    for (int i = 0; i < N_LEAK; i++)
        sink = site_leak();
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    int status = harness_record(path, NULL, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "workload failed: status %d\n", status);
        return 1;
    }
    trace_t t;
    if (trace_load(path, &t) != 0)
        return 1;
    int fails = 0;
#define CHECK(c)                                                                               \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);             \
            fails++;                                                                           \
        }                                                                                      \
    } while (0)
#define SITE(fn, kind, afn, n, bytes)                                                          \
    do {                                                                                       \
        uint64_t b_, n_ = trace_count_site(&t, fn, kind, afn, &b_);                            \
        if (n_ != (uint64_t)(n) || b_ != (uint64_t)(bytes)) {                                  \
            fprintf(stderr, "%s: %" PRIu64 " events, %" PRIu64 " bytes; expected %" PRIu64    \
                    " and %" PRIu64 "\n", fn, n_, b_, (uint64_t)(n), (uint64_t)(bytes));       \
            fails++;                                                                           \
        }                                                                                      \
    } while (0)
    CHECK(t.have_end);
    CHECK(t.index_status == 0 && t.decode_error == 0);
    CHECK(t.end.dropped == 0);
    CHECK(t.end.events == t.chunk_events);
    CHECK(t.modmaps >= 1 && t.nmods >= 3);
    CHECK(t.rss_samples >= 1);
    SITE("site_malloc_48", EV_ALLOC, PS_FN_MALLOC, N_MALLOC, N_MALLOC * 48);
    SITE("site_calloc_10x24", EV_ALLOC, PS_FN_CALLOC, N_CALLOC, N_CALLOC * 240);
    SITE("site_posix_memalign", EV_ALLOC, PS_FN_POSIX_MEMALIGN, N_ALIGNED, N_ALIGNED * 100);
    SITE("site_aligned_alloc", EV_ALLOC, PS_FN_ALIGNED_ALLOC, N_ALIGNED, N_ALIGNED * 512);
    SITE("site_memalign", EV_ALLOC, PS_FN_MEMALIGN, N_ALIGNED, N_ALIGNED * 200);
    SITE("site_valloc", EV_ALLOC, PS_FN_VALLOC, 5, 5 * 300);
    SITE("site_pvalloc", EV_ALLOC, PS_FN_PVALLOC, 5, 5 * 100);
    SITE("site_reallocarray", EV_REALLOC_ALLOC, PS_FN_REALLOCARRAY, 5, 5 * 80);
    SITE("site_realloc_grow", EV_REALLOC_ALLOC, PS_FN_REALLOC, 9, 16 + 32 + 64 + 128 + 256 + 512 + 1024 + 2048 + 4096);
    SITE("site_realloc_grow", EV_REALLOC_FREE, PS_FN_REALLOC, 8, 0);
    SITE("site_leak", EV_ALLOC, PS_FN_MALLOC, N_LEAK, N_LEAK * 1000);
    SITE("site_malloc_48", EV_ALLOC, 0, N_MALLOC, N_MALLOC * 48); /* no other fn from there */
    /* alignment is recorded as asked */
    size_t aligned_ok = 0;
    for (size_t i = 0; i < t.nev; i++) {
        const ev_t *e = &t.ev[i];
        if (e->fn == PS_FN_POSIX_MEMALIGN && e->align == 64 && e->ptr % 64 == 0)
            aligned_ok++;
        if (e->fn == PS_FN_VALLOC && e->align == (uint64_t)sysconf(_SC_PAGESIZE))
            aligned_ok++;
    }
    CHECK(aligned_ok == N_ALIGNED + 5);
    /* every free matches an allocation; the leaks are still live at the end */
    replay_t r;
    trace_replay(&t, &r);
    CHECK(r.unmatched_frees == 0);
    CHECK(r.double_allocs == 0);
    CHECK(r.live_end >= N_LEAK);
    CHECK(r.allocs >= N_MALLOC + N_CALLOC + 3 * N_ALIGNED + 15 + 9 + N_LEAK);
    /* the main thread started, was named, and exited */
    hthread_t *main_th = trace_thread(&t, t.threads[0].tid);
    CHECK(t.nthreads >= 1 && main_th->started == 1);
    fprintf(stderr, "alloc_basic: %zu events, %" PRIu64 " stacks, %" PRIu64 " chunks, %s\n", t.nev,
            t.end.stacks, t.chunks, fails ? "FAIL" : "ok");
    trace_free(&t);
    if (!fails)
        unlink(path);
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
