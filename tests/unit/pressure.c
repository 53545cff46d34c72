/*
 * tests/unit/pressure.c -- the allocation-pressure analysis (analyzer/analyses/pressure.c) on
 * a synthetic trace whose every count is known: the rate windows (1000 ns each: 40 over a
 * 39,999 ns span), their allocations, bytes, releases, bytes that died young, live maximum
 * (carried through windows without events) and RSS; the peak windows' order (ties: the
 * earlier); realloc growth chains (two interleaved chains of one thread, a chain begun by
 * realloc(NULL), steps, bytes copied, final size); temporary and within K (K = 8 and 1) with
 * realloc counting as an allocation; same-size cycles; a cross-thread free (flagged, and the
 * same trace without the header flag: from the replay's allocating thread, the same count);
 * an unmatched free that counts nothing;
 * LOCK_ALLOC records adding up by (stack, lock, lock site), the lock most often held; the
 * peak's owner. Also pressure_window's clamping and pressure_peaks on their own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyses/analysis.h"
#include "analyses/pressure.h"
#include "perfshim/errors.h"
#include "synth.h"
#include "test.h"

static char path_x[4200], path_nox[4200];

static void cleanup(void)
{
    unlink(path_x);
    unlink(path_nox);
}

static void lock_alloc(synth_buf_t *b, uint32_t stack, uint64_t lock, uint32_t lock_stack,
                       uint64_t count, uint64_t bytes)
{
    ps_rec_lock_alloc_t r = {synth_hdr(PS_REC_LOCK_ALLOC, PS_LOCK_MUTEX, sizeof r),
                             stack, 9700, lock, lock_stack, 11, count, bytes};
    synth_put(b, &r, sizeof r);
}

static void make_trace(char *path, size_t n, bool cross_flag)
{
    synth_buf_t f = {0}, a = {0}, t = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 10, 1000, "/x", "x", 2);
    if (cross_flag) {
        uint32_t flags;
        memcpy(&flags, f.p + offsetof(ps_file_header_t, flags), sizeof flags);
        flags |= PS_FILE_F_CROSS_FREES;
        memcpy(f.p + offsetof(ps_file_header_t, flags), &flags, sizeof flags);
    }
    static const uint64_t ips[] = {0x401000, 0x402000};
    for (uint32_t id = 1; id <= 6; id++)
        synth_stack(&a, id, 2, ips);
    synth_thread(&a, PS_REC_THREAD_START, 10, 1001, "main");
    /* window 0: churn at stack 1, 3 pairs of 100 B, then one of 50 B (no cycle: the size
     * released last there was 100) */
    for (uint64_t i = 0; i < 3; i++) {
        synth_alloc(&a, PS_FN_MALLOC, 1, 1100 + 200 * i, 0x100, 100, 0);
        synth_free(&a, 1200 + 200 * i, 0x100);
    }
    synth_alloc(&a, PS_FN_MALLOC, 1, 1700, 0x100, 50, 0);
    synth_free(&a, 1800, 0x100);
    /* window 5: two growth chains at stack 2, interleaved */
    synth_realloc(&a, 2, 6100, 6100, 0, 0x500, 16);          /* realloc(NULL): no step */
    synth_realloc(&a, 2, 6200, 6210, 0x500, 0x500, 32);      /* chain 1, in place: 16 */
    synth_realloc(&a, 2, 6300, 6310, 0x500, 0x600, 64);      /* moved: 32 */
    synth_alloc(&a, PS_FN_MALLOC, 3, 6400, 0x700, 10, 0);    /* chain 2's block */
    synth_realloc(&a, 2, 6500, 6510, 0x700, 0x800, 20);      /* chain 2: 10 */
    synth_realloc(&a, 2, 6600, 6610, 0x600, 0x900, 128);     /* chain 1 again: 64 */
    synth_free(&a, 6700, 0x900);
    synth_free(&a, 6800, 0x800);
    /* window 7: the peak's big block; window 8: a block another thread frees */
    synth_alloc(&a, PS_FN_MALLOC, 3, 8000, 0xa00, 5000, 0);
    synth_rss(&a, 8500, 1u << 20, 0);
    synth_alloc(&a, PS_FN_MALLOC, 3, 9000, 0xb00, 8, 0);
    synth_free(&a, 9600, 0xc00); /* never allocated: an invalid free, nothing here */
    synth_alloc(&a, PS_FN_MALLOC, 4, 12000, 0xd00, 7, 0); /* lives exactly T: short-lived */
    synth_free(&a, 22000, 0xd00);
    /* window 30: site 6's cycles, first thread 11's (below), then this thread's */
    synth_alloc(&a, PS_FN_MALLOC, 6, 31500, 0xe00, 4, 0);
    synth_free(&a, 31510, 0xe00);
    synth_alloc(&a, PS_FN_MALLOC, 6, 31520, 0xe00, 4, 0); /* a cycle of this thread */
    synth_free(&a, 31530, 0xe00);
    synth_free(&a, 40000, 0xa00);
    ps_rec_end_t end = {.ts = 40999};
    synth_end(&a, &end);
    ps_chunk_header_t h = {.tid = 10, .seq = 0, .nevents = 27, .t_first = 1001, .t_last = 40999};
    synth_chunk(&f, &a, &h, 1);
    synth_thread(&t, PS_REC_THREAD_START, 11, 9001, "other");
    ps_rec_free_t fr = {synth_hdr(PS_REC_FREE, PS_FN_FREE | PS_FREE_F_CROSS_THREAD, sizeof fr),
                        0, 9500, 0xb00};
    synth_put(&t, &fr, sizeof fr);
    lock_alloc(&t, 1, 0xa1, 5, 3, 300);
    lock_alloc(&t, 1, 0xa2, 6, 2, 200);
    lock_alloc(&t, 1, 0xa1, 5, 2, 200); /* the thread's second emission: adds up */
    synth_alloc(&t, PS_FN_MALLOC, 6, 31000, 0xf00, 4, 0);
    synth_free(&t, 31010, 0xf00);
    synth_alloc(&t, PS_FN_MALLOC, 6, 31020, 0xf00, 4, 0); /* a cycle of thread 11 */
    synth_free(&t, 31030, 0xf00);
    ps_chunk_header_t ht = {.tid = 11, .seq = 0, .nevents = 8, .t_first = 9001, .t_last = 31030};
    synth_chunk(&f, &t, &ht, 1);
    const char *tmp = getenv("TMPDIR");
    snprintf(path, n, "%s/pspressure.%d.%d.trace", tmp && *tmp ? tmp : "/tmp", (int)getpid(),
             (int)cross_flag);
    synth_save(&f, path);
    synth_buf_free(&f);
    synth_buf_free(&a);
    synth_buf_free(&t);
}

static void load(replay_t *rp, bool cross_flag, unsigned k)
{
    if (!path_x[0]) {
        make_trace(path_x, sizeof path_x, true);
        make_trace(path_nox, sizeof path_nox, false);
        atexit(cleanup);
    }
    char err[512];
    analysis_params_t pa = {10000, k}; /* T = 10 us */
    if (analyses_load_params(cross_flag ? path_x : path_nox, ANALYSIS_PRESSURE | ANALYSIS_LOCKS,
                             &pa, rp, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(99);
    }
}

static const pressure_site_t *site(const pressure_t *P, uint32_t id)
{
    for (size_t i = 0; i < P->nsites; i++)
        if (P->sites[i].stack_id == id)
            return &P->sites[i];
    return NULL;
}

TEST(windows_and_rates)
{
    replay_t rp;
    load(&rp, true, 8);
    const pressure_t *P = rp.pressure;
    assert_true(P != NULL);
    expect_u64_eq(P->window_ns, 1000);
    assert_u64_eq(P->nwindows, 40);
    expect_u64_eq(P->duration_ns, 39999);
    static const struct {
        size_t w;
        uint64_t allocs, bytes, releases, young, live_max, rss;
    } want[] = {
        {0, 4, 350, 4, 350, 100, 0},     {1, 0, 0, 0, 0, 0, 0},
        {5, 6, 270, 6, 270, 148, 0},     {6, 0, 0, 0, 0, 0, 0},
        {7, 1, 5000, 0, 0, 5000, 1 << 20}, {8, 1, 8, 1, 8, 5008, 0},
        {11, 1, 7, 0, 0, 5007, 0},       {20, 0, 0, 0, 0, 5007, 0},
        {21, 0, 0, 1, 7, 5007, 0},       {30, 4, 16, 4, 16, 5004, 0},
        {39, 0, 0, 1, 0, 5000, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const pressure_window_t *w = &P->windows[want[i].w];
        expect_u64_eq(w->allocations, want[i].allocs);
        expect_u64_eq(w->bytes, want[i].bytes);
        expect_u64_eq(w->releases, want[i].releases);
        expect_u64_eq(w->bytes_died_young, want[i].young);
        expect_u64_eq(w->live_bytes_max, want[i].live_max);
        expect_u64_eq(w->rss_bytes, want[i].rss);
        expect_u64_eq(w->recorder_bytes, 0);
    }
    expect_true(!P->have_recorder_bytes);
    assert_u64_eq(P->npeak_windows, 4);
    expect_u64_eq(P->peak_windows[0], 5);
    expect_u64_eq(P->peak_windows[1], 0);
    expect_u64_eq(P->peak_windows[2], 30); /* ties: the earlier first */
    expect_u64_eq(P->peak_windows[3], 7);
    expect_u64_eq(P->peak_window, 5);
    expect_u64_eq(P->allocations, 17);
    expect_u64_eq(P->bytes, 5651);
    expect_u64_eq(P->releases, 17);
    expect_u64_eq(P->short_lived, 16); /* all but the 5000 B block; 7 B lived exactly T */
    expect_u64_eq(P->short_lived_bytes, 651);
    analyses_free(&rp, NULL, NULL);
}

TEST(chains_cycles_temporary)
{
    replay_t rp;
    load(&rp, true, 8);
    const pressure_t *P = rp.pressure;
    const pressure_site_t *s1 = site(P, 1), *s2 = site(P, 2), *s3 = site(P, 3);
    assert_true(s1 && s2 && s3);
    expect_u64_eq(P->short_ns, 10000);
    expect_u64_eq(P->k, 8);
    expect_u64_eq(s2->realloc_steps, 4);
    expect_u64_eq(s2->realloc_chains, 2);
    expect_u64_eq(s2->realloc_bytes_copied, 16 + 32 + 10 + 64);
    expect_u64_eq(s2->realloc_final_max, 128);
    expect_u64_eq(P->realloc_steps, 4);
    expect_u64_eq(P->realloc_chains, 2);
    expect_u64_eq(P->realloc_bytes_copied, 122);
    expect_u64_eq(s1->realloc_steps, 0);
    expect_u64_eq(s1->same_size_cycles, 2);
    expect_u64_eq(site(P, 6)->same_size_cycles, 2); /* one per thread */
    expect_u64_eq(P->same_size_cycles, 4);
    expect_u64_eq(s1->temporary, 4);
    expect_u64_eq(s2->temporary, 3); /* 16 and 32 (released by the next realloc), 128 */
    expect_u64_eq(s3->temporary, 2); /* 10 (its realloc), 8 (freed by the other thread) */
    expect_u64_eq(P->temporary, 14);
    expect_u64_eq(P->within_k, 17);
    expect_u64_eq(s1->size_min, 50);
    expect_u64_eq(s1->size_max, 100);
    expect_u64_eq(s2->size_min, 16);
    expect_u64_eq(s2->size_max, 128);
    expect_u64_eq(s2->allocations, 5);
    expect_u64_eq(s3->allocations, 3);
    expect_u64_eq(s3->short_lived, 2); /* the 5000 B block lived 32 us > T */
    expect_u64_eq(s3->lifetimes.n, 3);
    expect_u64_eq(s3->lifetimes.max, 32000);
    analyses_free(&rp, NULL, NULL);
    load(&rp, true, 1);
    P = rp.pressure;
    expect_u64_eq(P->within_k, 15); /* + the 20 B block (one allocation after it) */
    expect_u64_eq(P->temporary, 14);
    analyses_free(&rp, NULL, NULL);
}

TEST(cross_thread_locks_peak)
{
    replay_t rp;
    load(&rp, true, 8);
    const pressure_t *P = rp.pressure;
    const pressure_site_t *s1 = site(P, 1), *s3 = site(P, 3);
    assert_true(s1 && s3);
    expect_true(P->have_cross_thread);
    expect_u64_eq(P->cross_thread_frees, 1);
    expect_u64_eq(s3->cross_thread_frees, 1);
    expect_u64_eq(s1->cross_thread_frees, 0);
    expect_true(P->have_under_lock);
    expect_u64_eq(s1->under_lock, 7);
    expect_u64_eq(s1->under_lock_bytes, 700);
    expect_u64_eq(s1->under_lock_lock, 0xa1);
    expect_u64_eq(s1->under_lock_site, 5);
    expect_u64_eq(P->under_lock, 7);
    expect_u64_eq(P->under_lock_bytes, 700);
    expect_u64_eq(s3->under_lock, 0);
    expect_u64_eq(P->peak_bytes, 5008);
    expect_u64_eq(P->peak_time_ns, 8000);
    expect_u64_eq(s3->peak_bytes, 5008);
    expect_u64_eq(s1->peak_bytes, 0);
    expect_u64_eq(rp.invalid_frees, 1); /* the replay saw it; pressure counted nothing */
    analyses_free(&rp, NULL, NULL);
    /* no header flag: the flag in the record ignored, the replay's allocating thread says */
    load(&rp, false, 8);
    P = rp.pressure;
    expect_true(P->have_cross_thread);
    expect_u64_eq(P->cross_thread_frees, 1);
    expect_u64_eq(site(P, 3)->cross_thread_frees, 1);
    expect_u64_eq(P->temporary, 14); /* its allocating thread is still found */
    analyses_free(&rp, NULL, NULL);
}

TEST(window_and_peaks_alone)
{
    pressure_window_t w[6] = {{.allocations = 2}, {.allocations = 7}, {.allocations = 0},
                              {.allocations = 7}, {.allocations = 1}, {.allocations = 9}};
    pressure_t p = {.window_ns = 100, .windows = w, .nwindows = 6};
    expect_u64_eq(pressure_window(&p, 1000, 900), 0);
    expect_u64_eq(pressure_window(&p, 1000, 1000), 0);
    expect_u64_eq(pressure_window(&p, 1000, 1099), 0);
    expect_u64_eq(pressure_window(&p, 1000, 1100), 1);
    expect_u64_eq(pressure_window(&p, 1000, 1599), 5);
    expect_u64_eq(pressure_window(&p, 1000, 99999), 5);
    pressure_peaks(&p);
    assert_u64_eq(p.npeak_windows, 4);
    expect_u64_eq(p.peak_windows[0], 5);
    expect_u64_eq(p.peak_windows[1], 1);
    expect_u64_eq(p.peak_windows[2], 3);
    expect_u64_eq(p.peak_windows[3], 0);
    expect_u64_eq(p.peak_window, 5);
    pressure_window_t z[2] = {{0}, {0}};
    pressure_t q = {.window_ns = 100, .windows = z, .nwindows = 2};
    pressure_peaks(&q);
    expect_u64_eq(q.npeak_windows, 0); /* windows without allocations are never peaks */
}

/* A block of events that opens with releases of no live block (a trace whose first events
 * free what it never saw allocated, as a clock-guardless recording's can): nothing counted
 * for them, and the allocations after them counted as usual. The fast run must not start
 * before an event has named a site (it read a NULL site entry and crashed). */
/* Saves the synthetic trace f (its chunk made of a) as pspressure.PID.NAME.trace, frees both
 * buffers, and loads it with the pressure analysis alone (window 10000 ns, K 8) into rp. */
static void load_synth(synth_buf_t *f, synth_buf_t *a, const char *name, replay_t *rp)
{
    const char *tmp = getenv("TMPDIR");
    char path[4200];
    snprintf(path, sizeof path, "%s/pspressure.%d.%s.trace", tmp && *tmp ? tmp : "/tmp",
             (int)getpid(), name);
    synth_save(f, path);
    synth_buf_free(f);
    synth_buf_free(a);
    char err[512];
    analysis_params_t pa = {10000, 8};
    int rc = analyses_load_params(path, ANALYSIS_PRESSURE, &pa, rp, NULL, err, sizeof err);
    unlink(path);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        exit(99);
    }
}

TEST(unmatched_releases_first)
{
    synth_buf_t f = {0}, a = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 10, 1000, "/x", "x", 2);
    static const uint64_t ips[] = {0x401000, 0x402000};
    synth_stack(&a, 1, 2, ips);
    synth_thread(&a, PS_REC_THREAD_START, 10, 1001, "main");
    synth_free(&a, 1100, 0x9000); /* never allocated */
    synth_free(&a, 1110, 0x9100);
    synth_free(&a, 1120, 0x9200);
    for (uint64_t i = 0; i < 40; i++) {
        synth_alloc(&a, PS_FN_MALLOC, 1, 1200 + 20 * i, 0x100, 100, 0);
        synth_free(&a, 1210 + 20 * i, 0x100);
    }
    ps_rec_end_t end = {.ts = 3000};
    synth_end(&a, &end);
    ps_chunk_header_t h = {.tid = 10, .seq = 0, .nevents = 83, .t_first = 1001, .t_last = 3000};
    synth_chunk(&f, &a, &h, 1);
    replay_t rp;
    load_synth(&f, &a, "unmatched", &rp);
    const pressure_t *P = rp.pressure;
    assert_true(P != NULL);
    const pressure_site_t *s = site(P, 1);
    assert_true(s != NULL);
    expect_u64_eq(s->allocations, 40);
    expect_u64_eq(s->releases, 40);
    expect_u64_eq(s->short_lived, 40);
    analyses_free(&rp, NULL, NULL);
}

/* One thread whose allocations alternate three sites, as kvstore's node, key and value do (the
 * fast run's copies that go on across sites): 300 rounds, each a malloc at stack 1 (100 B),
 * 2 (200 B), 3 (300 B), 10 ns apart, then their frees from the latest (stack 3's release
 * right after its allocation: one site twice, where a run is tried; it stops at stack 2, and
 * the run goes across sites from then on). Every count known: each
 * site 300 allocations and releases of its size, all short-lived (50 ns or less), a same-size
 * cycle at each allocation but the first (its thread released that size there last), every
 * release within K = 8 allocations of its block, and stack 3's temporary (no allocation of
 * the thread between it and its release; stacks 1 and 2 had the later ones'). */
TEST(alternating_sites)
{
    synth_buf_t f = {0}, a = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 10, 1000, "/x", "x", 2);
    static const uint64_t ips[] = {0x401000, 0x402000};
    for (uint32_t id = 1; id <= 3; id++)
        synth_stack(&a, id, 2, ips);
    synth_thread(&a, PS_REC_THREAD_START, 10, 1001, "main");
    const uint64_t rounds = 300;
    for (uint64_t i = 0; i < rounds; i++) {
        const uint64_t t0 = 1100 + 60 * i;
        for (uint32_t id = 1; id <= 3; id++)
            synth_alloc(&a, PS_FN_MALLOC, id, t0 + 10 * (id - 1), 0x1000 * id, 100 * id, 0);
        for (uint32_t id = 3; id >= 1; id--) /* (3 first: two events of one site, a run) */
            synth_free(&a, t0 + 60 - 10 * id, 0x1000 * id);
    }
    ps_rec_end_t end = {.ts = 1100 + 60 * rounds};
    synth_end(&a, &end);
    ps_chunk_header_t h = {.tid = 10, .seq = 0, .nevents = (uint32_t)(6 * rounds + 2),
                           .t_first = 1001, .t_last = end.ts};
    synth_chunk(&f, &a, &h, 1);
    replay_t rp;
    load_synth(&f, &a, "alternating", &rp);
    const pressure_t *P = rp.pressure;
    assert_true(P != NULL);
    for (uint32_t id = 1; id <= 3; id++) {
        const pressure_site_t *s = site(P, id);
        assert_true(s != NULL);
        expect_u64_eq(s->allocations, rounds);
        expect_u64_eq(s->bytes, rounds * 100 * id);
        expect_u64_eq(s->releases, rounds);
        expect_u64_eq(s->short_lived, rounds);
        expect_u64_eq(s->short_lived_bytes, rounds * 100 * id);
        expect_u64_eq(s->same_size_cycles, rounds - 1);
        expect_u64_eq(s->within_k, rounds);
        expect_u64_eq(s->temporary, id == 3 ? rounds : 0);
        expect_u64_eq(s->size_min, 100 * id);
    }
    analyses_free(&rp, NULL, NULL);
}

int main(void)
{
    static const test_case tests[] = {
        TEST_ENTRY(windows_and_rates),
        TEST_ENTRY(chains_cycles_temporary),
        TEST_ENTRY(cross_thread_locks_peak),
        TEST_ENTRY(window_and_peaks_alone),
        TEST_ENTRY(unmatched_releases_first),
        TEST_ENTRY(alternating_sites),
    };
    return test_run(tests, sizeof tests / sizeof tests[0]);
}
