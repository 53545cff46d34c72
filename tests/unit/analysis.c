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
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(f.p, 1, f.n, fp) != f.n || fclose(fp) != 0)
        exit(99);
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
    char p2[4300];
    snprintf(p2, sizeof p2, "%s.sites", path[0] ? path : "/tmp/psanalysis");
    FILE *fp = fopen(p2, "wb");
    assert_true(fp && fwrite(f.p, 1, f.n, fp) == f.n && fclose(fp) == 0);
    synth_buf_free(&f);
    synth_buf_free(&a);
    replay_t rp;
    char err[512];
    memset(&rp, 0, sizeof rp);
    int rc = analyses_load(p2, ANALYSIS_HEAP, &rp, NULL, err, sizeof err);
    unlink(p2);
    assert_u64_eq(rc, 0);
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
        TEST_ENTRY(dwarf_section_inflate),
    };
    return test_run(tests, sizeof tests / sizeof tests[0]);
}
