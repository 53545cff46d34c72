/*
 * tests/unit/analysis.c -- the analysis table and the one load sequence
 * (analyzer/analyses/analysis.c): a command gets what it selects and nothing else. On one
 * synthetic trace (heap events, a lock-order cycle, an exit leak scan with one group):
 * ANALYSIS_LOCKS fills the locks and the model but replays no heap (no sites, no counts);
 * ANALYSIS_LEAKS gives the leak groups (from the same pass, call sites cut after the symbols
 * open) and no heap; ANALYSIS_MISUSE brings the heap replay it needs; ANALYSIS_ALL everything.
 * Sites by stack id: one per id whether the direct array or the hash map holds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "analyses/analysis.h"
#include "analyses/locks.h"
#include "perfshim/errors.h"
#include "synth.h"
#include "test.h"

static char path[4200];

static void cleanup(void)
{
    unlink(path);
}

static void make_trace(void)
{
    synth_buf_t f = {0}, a = {0}, z = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 10, 1000, "/x", "x", 2);
    static const uint64_t ips[] = {0x401000, 0x402000};
    synth_stack(&a, 5, 2, ips);
    synth_thread(&a, PS_REC_THREAD_START, 10, 1001, "main");
    synth_alloc(&a, PS_FN_MALLOC, 5, 1010, 0x100, 24, 0);
    synth_alloc(&a, PS_FN_MALLOC, 5, 1020, 0x200, 40, 0);
    synth_free(&a, 1030, 0x100);
    synth_free(&a, 1040, 0x100); /* a double free: misuse */
    ps_rec_lock_edge_t e1 = {synth_hdr(PS_REC_LOCK_EDGE, 0, sizeof e1), 10, 1050, 0xa, 0xb, 5, 5};
    ps_rec_lock_edge_t e2 = {synth_hdr(PS_REC_LOCK_EDGE, 0, sizeof e2), 10, 1060, 0xb, 0xa, 5, 5};
    synth_put(&a, &e1, sizeof e1);
    synth_put(&a, &e2, sizeof e2);
    ps_chunk_header_t h = {.tid = 10, .seq = 0, .nevents = 6, .t_first = 1001, .t_last = 1060};
    synth_chunk(&f, &a, &h, 1);
    ps_rec_leak_scan_t s;
    memset(&s, 0, sizeof s);
    s.h = synth_hdr(PS_REC_LEAK_SCAN, 0, sizeof s);
    s.ts = 1070;
    s.definite_blocks = 1;
    s.definite_bytes = 40;
    s.groups = 1;
    synth_put(&z, &s, sizeof s);
    ps_rec_leak_t l;
    memset(&l, 0, sizeof l);
    l.h = synth_hdr(PS_REC_LEAK, PS_LEAK_DEFINITE, sizeof l);
    l.stack = 5;
    l.ts = 1070;
    l.blocks = 1;
    l.bytes = 40;
    synth_put(&z, &l, sizeof l);
    ps_rec_end_t end = {.ts = 1080};
    synth_end(&z, &end);
    ps_chunk_header_t hz = {.tid = 0, .seq = 0, .t_first = 1070, .t_last = 1080};
    synth_chunk(&f, &z, &hz, 1);
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/psanalysis.%d.trace", tmp && *tmp ? tmp : "/tmp",
             (int)getpid());
    synth_save(&f, path);
    atexit(cleanup);
    synth_buf_free(&f);
    synth_buf_free(&a);
    synth_buf_free(&z);
}

typedef struct run_s {
    replay_t rp;
    leaks_t leaks;
    symbols_t *sym;
} run_t;

static void load(run_t *u, unsigned select)
{
    if (!path[0])
        make_trace();
    char err[512];
    symbols_opts_t so = {.quiet = true};
    memset(u, 0, sizeof *u);
    if (analyses_load(path, select, &u->rp, &u->leaks, err, sizeof err) != 0 ||
        analyses_symbols(&u->rp, &u->leaks, &so, &u->sym, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(99);
    }
    /* the model, whatever the selection */
    expect_str_eq(u->rp.exe, "/x");
    expect_u64_eq(u->rp.pid, 10);
    expect_true(u->rp.complete);
    expect_u64_eq(u->rp.threads, 1);
    expect_u64_eq(u->rp.duration_ns, 80);
    expect_true(replay_stack(&u->rp, 5) != NULL);
}

/* Saves the trace f (then freed) next to path as path.suffix, loads its heap analysis into
 * rp (a failure fails the test) and removes the file. */
static void load_heap(synth_buf_t *f, const char *suffix, replay_t *rp)
{
    char p2[4300], err[512];
    snprintf(p2, sizeof p2, "%s.%s", path[0] ? path : "/tmp/psanalysis", suffix);
    synth_save(f, p2);
    synth_buf_free(f);
    memset(rp, 0, sizeof *rp);
    int rc = analyses_load(p2, ANALYSIS_HEAP, rp, NULL, err, sizeof err);
    unlink(p2);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        exit(99);
    }
}

TEST(locks_only_replays_no_heap)
{
    run_t u;
    load(&u, ANALYSIS_LOCKS);
    assert_true(u.rp.locks != NULL);
    expect_u64_eq(u.rp.locks->ncycles, 1);
    expect_u64_eq(u.rp.nsites, 0);
    expect_u64_eq(u.rp.allocations, 0);
    expect_u64_eq(u.rp.nerrors, 0);
    expect_true(!u.leaks.have_scan);
    analyses_free(&u.rp, &u.leaks, u.sym);
}

/* An old shim's LEAK records need no heap replay (verdicts by address do: leakaddr.c's test). */
TEST(leaks_only_from_the_same_pass)
{
    expect_u64_eq(analyses_closure(ANALYSIS_LEAKS), ANALYSIS_LEAKS);
    run_t u;
    load(&u, ANALYSIS_LEAKS);
    expect_true(u.leaks.have_scan);
    assert_u64_eq(u.leaks.ngroups, 1);
    expect_u64_eq(u.leaks.groups[0].bytes, 40);
    expect_u64_eq(u.leaks.groups[0].depth, 2); /* the stack, cut (nothing to cut here) */
    expect_u64_eq(u.leaks.groups[0].ips[0], 0x401000);
    expect_u64_eq(u.rp.allocations, 0);
    expect_true(u.rp.locks == NULL);
    analyses_free(&u.rp, &u.leaks, u.sym);
}

TEST(misuse_brings_the_heap_replay)
{
    expect_u64_eq(analyses_closure(ANALYSIS_MISUSE), ANALYSIS_MISUSE | ANALYSIS_HEAP);
    run_t u;
    load(&u, ANALYSIS_MISUSE);
    expect_u64_eq(u.rp.allocations, 2);
    expect_u64_eq(u.rp.double_frees, 1);
    assert_u64_eq(u.rp.nerrors, 1);
    expect_u64_eq(u.rp.errors[0].kind, REPLAY_ERR_DOUBLE_FREE);
    expect_true(u.rp.locks == NULL);
    analyses_free(&u.rp, &u.leaks, u.sym);
}

/* The heap replay without misuse still counts the double free, aggregates no error. */
TEST(heap_without_misuse)
{
    run_t u;
    load(&u, ANALYSIS_HEAP);
    expect_u64_eq(u.rp.double_frees, 1);
    expect_u64_eq(u.rp.nerrors, 0);
    analyses_free(&u.rp, &u.leaks, u.sym);
}

TEST(all)
{
    run_t u;
    load(&u, ANALYSIS_ALL);
    expect_u64_eq(u.rp.allocations, 2);
    expect_u64_eq(u.rp.frees, 1);
    expect_u64_eq(u.rp.live_bytes, 40);
    expect_u64_eq(u.rp.peak_bytes, 64);
    expect_u64_eq(u.rp.nsites, 1);
    expect_u64_eq(u.rp.nerrors, 1);
    assert_true(u.rp.locks != NULL);
    expect_u64_eq(u.rp.locks->ncycles, 1);
    expect_u64_eq(u.leaks.ngroups, 1);
    analyses_free(&u.rp, &u.leaks, u.sym);
}

/* Sites by stack id: small ids through the replay's direct array (grown past its first
 * size), ids from 2^20 up through the hash map; one site per id, in the order first seen,
 * each with its own counts, whichever path found it. */
TEST(sites_by_any_stack_id)
{
    static const uint32_t ids[] = {3, 1u << 20, 0x80000000u, 1000, (1u << 20) - 1, 0xffffffffu};
    enum { NIDS = sizeof ids / sizeof ids[0] };
    synth_buf_t f = {0}, a = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 10, 1000, "/x", "x", 2);
    uint64_t ts = 1010, ptr = 0x1000;
    for (unsigned round = 0; round < 3; round++) /* ids[k]: 1 + min(k, 2) blocks of 16(k+1) */
        for (unsigned k = round; k < NIDS; k++)
            synth_alloc(&a, PS_FN_MALLOC, ids[k], ts++, ptr += 0x100, 16 * (k + 1), 0);
    ps_rec_end_t end = {.ts = ts};
    synth_end(&a, &end);
    ps_chunk_header_t h = {.tid = 0, .seq = 0, .t_first = 1010, .t_last = ts};
    synth_chunk(&f, &a, &h, 1);
    replay_t rp;
    load_heap(&f, "sites", &rp);
    synth_buf_free(&a);
    assert_u64_eq(rp.nsites, NIDS);
    for (unsigned k = 0; k < NIDS; k++) {
        /* first seen in round 0 in the order of ids; k allocates 1 + min(k, 2) blocks */
        uint64_t n = 1 + (k < 2 ? k : 2);
        expect_u64_eq(rp.sites[k].stack_id, ids[k]);
        expect_u64_eq(rp.sites[k].allocations, n);
        expect_u64_eq(rp.sites[k].bytes, n * 16 * (k + 1));
    }
    analyses_free(&rp, NULL, NULL);
}

/* The heap replay's timeline (replay.c keeps a slice's counts from the summary's while the
 * events stay in it): every slice's allocations, frees, bytes, live bytes and most live bytes
 * as a replay of each event into its own slice gives them, with one thread's times going back
 * and forth between slices, events at the start and past the end, a failed allocation, an
 * unmatched free alone in its slice, a double allocation and a peak in a slice left early; the
 * site's live blocks and histogram counts (kept from its allocations and frees). */
TEST(timeline_slices_from_any_order)
{
    static const struct {
        int kind; /* 0 alloc, 1 free */
        uint64_t ts, ptr, size;
    } ev[] = {
        {0, 1000, 0x1000, 100}, {0, 1150, 0x1100, 200}, {0, 1160, 0x1200, 300},
        {1, 1050, 0x1000, 0},   {0, 1055, 0x1300, 50},  {1, 1400, 0x1100, 0},
        {0, 1410, 0x1100, 70},  {0, 1420, 0x1100, 80}, /* a double allocation */
        {0, 1500, 0, 64},       /* failed */
        {1, 1700, 0x9900, 0},   /* unmatched, alone in its slice */
        {0, 1130, 0x1400, 400}, {1, 1900, 0x1400, 0},  {1, 1910, 0x1200, 0},
        {0, 2600, 0x1500, 10},  {1, 2500, 0x1300, 0},  {0, 1805, 0x1600, 20},
    };
    enum { NEV = sizeof ev / sizeof ev[0] };
    synth_buf_t f = {0}, a = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 10, 1000, "/x", "x", 2);
    for (unsigned i = 0; i < NEV; i++) {
        if (ev[i].kind)
            synth_free(&a, ev[i].ts, ev[i].ptr);
        else
            synth_alloc(&a, PS_FN_MALLOC, 1, ev[i].ts, ev[i].ptr, ev[i].size, 0);
    }
    ps_chunk_header_t h = {.tid = 10, .seq = 0, .nevents = NEV, .t_first = 1000, .t_last = 2000};
    synth_chunk(&f, &a, &h, 1);
    synth_buf_free(&a);
    ps_rec_end_t end = {.ts = 2000};
    synth_end(&a, &end);
    ps_chunk_header_t hz = {.tid = 0, .seq = 0, .t_first = 2000, .t_last = 2000};
    synth_chunk(&f, &a, &hz, 1);
    replay_t rp;
    load_heap(&f, "timeline", &rp);
    synth_buf_free(&a);
    assert_true(rp.slice_ns > 0);
    /* each event into its slice, in the trace's order (one thread: no merge moves them) */
    replay_slice_t want[REPLAY_SLICES];
    memset(want, 0, sizeof want);
    uint64_t live_ptr[NEV], live_size[NEV], live = 0, peak = 0;
    unsigned nlive = 0, slices_seen = 0, back = 0, prev = 0;
    for (unsigned i = 0; i < NEV; i++) {
        uint64_t ts = ev[i].ts, k = ts <= rp.start_ns ? 0 : (ts - rp.start_ns) / rp.slice_ns;
        unsigned s = k < REPLAY_SLICES ? (unsigned)k : REPLAY_SLICES - 1;
        back += i && s < prev;
        prev = s;
        replay_slice_t *sl = &want[s];
        unsigned j = 0;
        while (j < nlive && live_ptr[j] != ev[i].ptr)
            j++;
        if (ev[i].kind) {
            if (j == nlive)
                continue; /* unmatched: no count */
            live -= live_size[j];
            live_ptr[j] = live_ptr[--nlive], live_size[j] = live_size[nlive];
            sl->frees++;
        } else {
            if (!ev[i].ptr)
                continue; /* failed */
            if (j < nlive) { /* double: the old block is forgotten */
                live -= live_size[j];
                live_ptr[j] = live_ptr[--nlive], live_size[j] = live_size[nlive];
            }
            live_ptr[nlive] = ev[i].ptr, live_size[nlive++] = ev[i].size;
            live += ev[i].size;
            sl->allocations++;
            sl->bytes_allocated += ev[i].size;
            if (live > sl->live_bytes_max)
                sl->live_bytes_max = live;
            peak = live > peak ? live : peak;
        }
        sl->live_bytes = live;
    }
    uint64_t level = 0; /* (replay_timeline_fill) */
    for (unsigned i = 0; i < REPLAY_SLICES; i++) {
        replay_slice_t *sl = &want[i];
        slices_seen += sl->allocations || sl->frees;
        if (!sl->allocations && !sl->frees)
            sl->live_bytes = level;
        if (level > sl->live_bytes_max)
            sl->live_bytes_max = level;
        if (sl->live_bytes > sl->live_bytes_max)
            sl->live_bytes_max = sl->live_bytes;
        level = sl->live_bytes;
    }
    expect_true(back >= 3 && slices_seen >= 6); /* (the test's own premise) */
    for (unsigned i = 0; i < REPLAY_SLICES; i++) {
        expect_u64_eq(rp.slices[i].allocations, want[i].allocations);
        expect_u64_eq(rp.slices[i].frees, want[i].frees);
        expect_u64_eq(rp.slices[i].bytes_allocated, want[i].bytes_allocated);
        expect_u64_eq(rp.slices[i].live_bytes, want[i].live_bytes);
        expect_u64_eq(rp.slices[i].live_bytes_max, want[i].live_bytes_max);
    }
    expect_u64_eq(rp.peak_bytes, peak);
    expect_u64_eq(rp.live_bytes, live);
    /* the one site's blocks (the double allocation's forgotten one out) and histograms */
    assert_u64_eq(rp.nsites, 1);
    expect_u64_eq(rp.sites[0].live_blocks, nlive);
    expect_u64_eq(rp.live_blocks, nlive);
    expect_u64_eq(rp.sites[0].sizes.n, rp.sites[0].allocations);
    expect_u64_eq(rp.sites[0].lifetimes.n, rp.sites[0].frees);
    expect_u64_eq(rp.sizes.n, rp.allocations);
    expect_u64_eq(rp.sites[0].allocations, 9);
    expect_u64_eq(rp.sites[0].frees, 5);
    analyses_free(&rp, NULL, NULL);
}

/* Allocations of two threads from two stacks in every order (the replay keeps the latest
 * allocation's stack and thread, and their site and placement, for the next one), released
 * by either thread: each site has its own allocations, frees, bytes and live blocks, and
 * every release finds its block. */
TEST(sites_by_stack_and_thread)
{
    synth_buf_t f = {0}, a = {0}, b = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 10, 1000, "/x", "x", 2);
    uint64_t ts = 1100, want_allocs[2] = {0}, want_bytes[2] = {0}, want_frees[2] = {0};
    uint64_t ptr[64] = {0};
    uint32_t site_of[64] = {0};
    for (unsigned i = 0; i < 400; i++) {
        /* thread: 10 in runs of 3, 20 between; stack: in runs of 7 (both threads meet stack 1
         * first: placements in another order than the sites) */
        synth_buf_t *r = i % 5 < 3 ? &a : &b;
        uint32_t stack = 1 + (i / 7) % 2;
        unsigned k = (i * 11) % 64;
        if (ptr[k]) { /* released by whichever thread runs now */
            synth_free(r, ts++, ptr[k]);
            want_frees[site_of[k] - 1]++;
            ptr[k] = 0;
        }
        ptr[k] = 0x7f0000100000ull + 0x100ull * i;
        site_of[k] = stack;
        synth_alloc(r, PS_FN_MALLOC, stack, ts++, ptr[k], 8 + i % 50, 0);
        want_allocs[stack - 1]++;
        want_bytes[stack - 1] += 8 + i % 50;
    }
    ps_chunk_header_t ha = {.tid = 10, .seq = 0, .t_first = 1100, .t_last = ts};
    ps_chunk_header_t hb = {.tid = 20, .seq = 0, .t_first = 1100, .t_last = ts};
    synth_chunk(&f, &a, &ha, 1);
    synth_chunk(&f, &b, &hb, 1);
    synth_buf_free(&a);
    ps_rec_end_t end = {.ts = ts};
    synth_end(&a, &end);
    ps_chunk_header_t hz = {.tid = 0, .seq = 0, .t_first = ts, .t_last = ts};
    synth_chunk(&f, &a, &hz, 1);
    replay_t rp;
    load_heap(&f, "threads", &rp);
    synth_buf_free(&a);
    synth_buf_free(&b);
    expect_u64_eq(rp.unmatched_frees, 0);
    assert_u64_eq(rp.nsites, 2);
    for (unsigned i = 0; i < 2; i++) {
        const replay_site_t *st = &rp.sites[i];
        unsigned w = st->stack_id - 1;
        assert_true(w < 2);
        expect_u64_eq(st->allocations, want_allocs[w]);
        expect_u64_eq(st->bytes, want_bytes[w]);
        expect_u64_eq(st->frees, want_frees[w]);
        expect_u64_eq(st->live_blocks, want_allocs[w] - want_frees[w]);
    }
    analyses_free(&rp, NULL, NULL);
}

/* The uncompress() that libdwarf's sections go through (core/dwarfinfo.c: libdeflate when
 * installed, else zlib): a zlib stream comes back byte for byte with its length; a short
 * destination is Z_BUF_ERROR and a corrupt stream Z_DATA_ERROR, as zlib's own says. */
TEST(dwarf_section_inflate)
{
    enum { N = 300000 };
    unsigned char *src = malloc(N), *z = malloc(compressBound(N)), *out = malloc(N + 16);
    assert_true(src && z && out);
    for (size_t i = 0; i < N; i++) /* compressible, not trivially */
        src[i] = (unsigned char)(i % 251 < 40 ? i * 7 : i % 13);
    uLongf zn = compressBound(N), on = N + 16;
    assert_u64_eq(compress2(z, &zn, src, N, 6), Z_OK);
    assert_u64_eq(uncompress(out, &on, z, zn), Z_OK);
    expect_u64_eq(on, N);
    expect_true(memcmp(out, src, N) == 0);
    on = N / 2;
    expect_u64_eq(uncompress(out, &on, z, zn), Z_BUF_ERROR);
    z[zn / 2] ^= 0x55;
    on = N + 16;
    expect_u64_eq(uncompress(out, &on, z, zn), Z_DATA_ERROR);
    free(src);
    free(z);
    free(out);
}

int main(void)
{
    static const test_case tests[] = {
        TEST_ENTRY(locks_only_replays_no_heap),
        TEST_ENTRY(leaks_only_from_the_same_pass),
        TEST_ENTRY(misuse_brings_the_heap_replay),
        TEST_ENTRY(heap_without_misuse),
        TEST_ENTRY(all),
        TEST_ENTRY(sites_by_any_stack_id),
        TEST_ENTRY(timeline_slices_from_any_order),
        TEST_ENTRY(sites_by_stack_and_thread),
        TEST_ENTRY(dwarf_section_inflate),
    };
    return test_run(tests, sizeof tests / sizeof tests[0]);
}
