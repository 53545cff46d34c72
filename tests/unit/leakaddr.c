/*
 * tests/unit/leakaddr.c -- leak verdicts by address and snapshot markers attributed from the
 * heap replay (analyzer/analyses/leakaddr.c), on synthetic traces: definite and indirect
 * chains across a re-emitted (absorbed) leader, possible flags, reachable blocks from the
 * replay at the scan's ts (not before, not after), an inherited ptr (bytes from the scan's
 * totals), a fork child's inherited reachable blocks, an on-demand scan mid-trace followed by
 * frees and by another thread's events, a difference from the scan's totals (one line),
 * BY_REPLAY snapshots (growth), a 20000-block holder chain and a holder loop, cross-thread frees from the replay's allocating thread (a
 * trace without PS_FILE_F_CROSS_FREES: address reuse across threads, realloc not counted, a
 * record's flag ignored), and the same block set written as LEAK records (the old shim)
 * and as LEAK_BLOCKS giving byte-identical `perfshim report` output, text and JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyses/analysis.h"
#include "analyses/pressure.h"
#include "perfshim/errors.h"
#include "synth.h"
#include "test.h"

/* stacks: A, B, C, D (distinct call sites) */
enum { SA = 5, SB = 6, SC = 7, SD = 8 };

static char dir[4096];

static void put_stacks(synth_buf_t *a)
{
    static const uint64_t ia[] = {0x401000, 0x4010f0}, ib[] = {0x402000, 0x4020f0},
                          ic[] = {0x403000, 0x4030f0}, id[] = {0x404000, 0x4040f0};
    synth_stack(a, SA, 2, ia);
    synth_stack(a, SB, 2, ib);
    synth_stack(a, SC, 2, ic);
    synth_stack(a, SD, 2, id);
}

static ps_rec_leak_scan_t scan_rec(uint64_t ts, uint32_t flags)
{
    ps_rec_leak_scan_t s;
    memset(&s, 0, sizeof s);
    s.h = synth_hdr(PS_REC_LEAK_SCAN, 0, sizeof s);
    s.ts = ts;
    s.flags = flags;
    return s;
}

static void put_leak(synth_buf_t *b, uint8_t kind, uint32_t stack, uint64_t ts, uint32_t holder,
                     uint32_t flags, uint64_t blocks, uint64_t bytes, uint64_t possible)
{
    ps_rec_leak_t l;
    memset(&l, 0, sizeof l);
    l.h = synth_hdr(PS_REC_LEAK, kind, sizeof l);
    l.stack = stack;
    l.ts = ts;
    l.holder = holder;
    l.flags = flags;
    l.blocks = blocks;
    l.bytes = bytes;
    l.possible_blocks = possible;
    synth_put(b, &l, sizeof l);
}

static void put_blocks(synth_buf_t *b, uint64_t ts, const ps_leak_block_t *e, uint32_t n)
{
    ps_rec_leak_blocks_t r;
    memset(&r, 0, sizeof r);
    r.h = synth_hdr(PS_REC_LEAK_BLOCKS, 0, sizeof r + n * sizeof *e);
    r.n = n;
    r.ts = ts;
    synth_put(b, &r, sizeof r);
    synth_put(b, e, n * sizeof *e);
}

static void put_snapshot(synth_buf_t *b, uint32_t seq, uint64_t ts, uint64_t blocks,
                         uint64_t bytes)
{
    ps_rec_snapshot_t s;
    memset(&s, 0, sizeof s);
    s.h = synth_hdr(PS_REC_SNAPSHOT, PS_SNAPSHOT_F_BY_REPLAY, sizeof s);
    s.seq = seq;
    s.ts = ts;
    s.live_blocks = blocks;
    s.live_bytes = bytes;
    synth_put(b, &s, sizeof s);
}

/* The shim's stream z ended (END at 2300) and put as the trace's internal chunk (its records
 * from t_first), f saved at path; f and z freed. */
static void end_save(synth_buf_t *f, synth_buf_t *z, uint64_t t_first, const char *path)
{
    ps_rec_end_t end = {.ts = 2300};
    synth_end(z, &end);
    ps_chunk_header_t hz = {.tid = 0, .seq = 0, .flags = PS_CHUNK_F_INTERNAL,
                            .t_first = t_first, .t_last = 2300};
    synth_chunk(f, z, &hz, 1);
    synth_save(f, path);
    synth_buf_free(f);
    synth_buf_free(z);
}


static void file_flags(synth_buf_t *f, uint32_t flags)
{
    ps_file_header_t h;
    memcpy(&h, f->p, sizeof h);
    h.flags |= flags;
    memcpy(f->p, &h, sizeof h);
}

/* ---- the exit scan's trace ------------------------------------------------------------
 * Thread 10: A 0x1000 (100), B 0x1100 (10), C 0x2000 (200), B 0x2100 (20), D 0x3000 (30),
 * D 0x3100 (40), A 0x4000 (50) freed before the scan; the scan at 2000; after it, C 0x5000
 * (60) allocated and D 0x3100 freed (an exit's destructors: not the scan's business).
 * Verdicts: 0x2000 leads (definite), holds 0x2100 (possible) and the earlier leader 0x1000
 * (re-emitted as indirect, entry 4), which holds 0x1100 (holder: entry 0, replaced);
 * 0x3000 reachable through interior pointers only; 0x9000 is not in the replay: inherited
 * (77 bytes in the scan's totals). The old shim's LEAK records for the same set: */
#define SCAN_TS 2000
static const ps_leak_block_t exit_entries[] = {
    {0x1000, PS_LEAK_NO_HOLDER, PS_LEAK_DEFINITE, 0, 0},
    {0x1100, 0, PS_LEAK_INDIRECT, 0, 0},
    {0x2000, PS_LEAK_NO_HOLDER, PS_LEAK_DEFINITE, 0, 0},
    {0x2100, 2, PS_LEAK_INDIRECT, PS_LEAK_BLOCK_F_POSSIBLE, 0},
    {0x1000, 2, PS_LEAK_INDIRECT, 0, 0},
    {0x3000, PS_LEAK_NO_HOLDER, PS_LEAK_REACHABLE, PS_LEAK_BLOCK_F_POSSIBLE, 0},
    {0x9000, PS_LEAK_NO_HOLDER, PS_LEAK_DEFINITE, 0, 0},
};

static void exit_groups_old(synth_buf_t *z)
{
    put_leak(z, PS_LEAK_DEFINITE, SC, SCAN_TS, 0, 0, 1, 200, 0);
    put_leak(z, PS_LEAK_INDIRECT, SA, SCAN_TS, SC, 0, 1, 100, 0);
    put_leak(z, PS_LEAK_INDIRECT, SB, SCAN_TS, SC, 0, 2, 30, 1);
    put_leak(z, PS_LEAK_REACHABLE, SD, SCAN_TS, 0, 0, 2, 70, 1);
    put_leak(z, PS_LEAK_DEFINITE, 0, SCAN_TS, 0, PS_LEAK_REC_F_INHERITED, 1, 77, 0);
}

/* by_addr: LEAK_BLOCKS (else the old LEAK records); reach_bytes: the scan's reachable bytes
 * (70: as the replay has them) */
static void exit_trace(const char *path, int by_addr, uint64_t reach_bytes)
{
    synth_buf_t f = {0}, a = {0}, z = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 10, 1000, "/x", "x", 2);
    put_stacks(&a);
    synth_thread(&a, PS_REC_THREAD_START, 10, 1001, "main");
    synth_alloc(&a, PS_FN_MALLOC, SA, 1010, 0x1000, 100, 0);
    synth_alloc(&a, PS_FN_MALLOC, SB, 1020, 0x1100, 10, 0);
    synth_alloc(&a, PS_FN_MALLOC, SC, 1030, 0x2000, 200, 0);
    synth_alloc(&a, PS_FN_MALLOC, SB, 1040, 0x2100, 20, 0);
    synth_alloc(&a, PS_FN_MALLOC, SD, 1050, 0x3000, 30, 0);
    synth_alloc(&a, PS_FN_MALLOC, SD, 1060, 0x3100, 40, 0);
    synth_alloc(&a, PS_FN_MALLOC, SA, 1070, 0x4000, 50, 0);
    synth_free(&a, 1080, 0x4000);
    synth_alloc(&a, PS_FN_MALLOC, SC, 2100, 0x5000, 60, 0);
    synth_free(&a, 2200, 0x3100);
    ps_chunk_header_t h = {.tid = 10, .seq = 0, .nevents = 10, .t_first = 1001, .t_last = 2200};
    synth_chunk(&f, &a, &h, 1);
    ps_rec_leak_scan_t s = scan_rec(SCAN_TS, by_addr ? PS_LEAK_F_BY_ADDRESS : 0);
    s.blocks = 7;
    s.definite_blocks = 2;
    s.definite_bytes = 277;
    s.indirect_blocks = 3;
    s.indirect_bytes = 130;
    s.reachable_blocks = 2;
    s.reachable_bytes = reach_bytes;
    s.possible_blocks = 2;
    s.inherited_blocks = by_addr ? 0 : 1; /* (only the old shim could count it) */
    s.groups = by_addr ? 2 : 5;
    synth_put(&z, &s, sizeof s);
    if (by_addr) { /* in two records: entries numbered across them */
        put_blocks(&z, SCAN_TS, exit_entries, 4);
        put_blocks(&z, SCAN_TS, exit_entries + 4, 3);
    } else {
        exit_groups_old(&z);
    }
    end_save(&f, &z, SCAN_TS, path);
    synth_buf_free(&a);
}

typedef struct run_s {
    replay_t rp;
    leaks_t L;
    symbols_t *sym;
} run_t;

static void load(run_t *u, const char *path)
{
    char err[512];
    symbols_opts_t so = {.quiet = true};
    memset(u, 0, sizeof *u);
    if (analyses_load(path, ANALYSIS_LEAKS, &u->rp, &u->L, err, sizeof err) != 0 ||
        analyses_symbols(&u->rp, &u->L, &so, &u->sym, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(99);
    }
}

static void done(run_t *u)
{
    analyses_free(&u->rp, &u->L, u->sym);
}

/* The group of kind whose call site starts at ip (inherited: stack 0, no call site). */
static const leak_group_t *find(const leaks_t *L, int kind, uint64_t ip, int inherited)
{
    for (size_t i = 0; i < L->ngroups; i++) {
        const leak_group_t *g = &L->groups[i];
        if (g->kind == kind && g->inherited == (inherited != 0) &&
            (inherited || (g->depth && g->ips[0] == ip)))
            return g;
    }
    return NULL;
}

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

TEST(exit_scan_by_address)
{
    char p[4200];
    path_of(p, sizeof p, "exit.trace");
    exit_trace(p, 1, 70);
    run_t u;
    load(&u, p);
    const leaks_t *L = &u.L;
    assert_true(L->have_scan);
    expect_true(L->by_address);
    expect_u64_eq(u.rp.allocations, 8); /* ANALYSIS_LEAKS alone: the pass ran again with HEAP */
    expect_u64_eq(L->ngroups, 5);
    const leak_group_t *g = find(L, PS_LEAK_DEFINITE, 0x403000, 0);
    assert_true(g != NULL);
    expect_u64_eq(g->blocks, 1);
    expect_u64_eq(g->bytes, 200);
    long gdef = (long)(g - L->groups);
    /* the absorbed leader: indirect, held by the later leader */
    g = find(L, PS_LEAK_INDIRECT, 0x401000, 0);
    assert_true(g != NULL);
    expect_u64_eq(g->blocks, 1);
    expect_u64_eq(g->bytes, 100);
    expect_u64_eq(g->held_by, gdef);
    /* what it held, through its replaced entry, and the possible one */
    g = find(L, PS_LEAK_INDIRECT, 0x402000, 0);
    assert_true(g != NULL);
    expect_u64_eq(g->blocks, 2);
    expect_u64_eq(g->bytes, 30);
    expect_u64_eq(g->possible_blocks, 1);
    expect_u64_eq(g->held_by, gdef);
    /* reachable from the replay at the scan: both D blocks (one freed after it), not the C
     * block allocated after it, not A's block freed before it */
    g = find(L, PS_LEAK_REACHABLE, 0x404000, 0);
    assert_true(g != NULL);
    expect_u64_eq(g->blocks, 2);
    expect_u64_eq(g->bytes, 70);
    expect_u64_eq(g->possible_blocks, 1);
    expect_true(find(L, PS_LEAK_REACHABLE, 0x403000, 0) == NULL);
    expect_true(find(L, PS_LEAK_REACHABLE, 0x401000, 0) == NULL);
    /* inherited: stack 0, its bytes the scan's definite bytes less the attributed ones */
    g = find(L, PS_LEAK_DEFINITE, 0, 1);
    assert_true(g != NULL);
    expect_u64_eq(g->blocks, 1);
    expect_u64_eq(g->bytes, 77);
    expect_true(L->attribution_note == NULL); /* the totals agree */
    expect_u64_eq(L->scan.inherited_blocks, 1);
    done(&u);
    unlink(p);
}

/* The scan's totals disagree with the replay (a block it had, the replay not): one line. */
TEST(difference_from_the_scan_is_said)
{
    char p[4200];
    path_of(p, sizeof p, "diff.trace");
    exit_trace(p, 1, 90);
    run_t u;
    load(&u, p);
    assert_true(u.L.attribution_note != NULL);
    expect_true(strstr(u.L.attribution_note, "reachable 2 blocks 70 bytes (scan: 2, 90)") != NULL);
    expect_true(strstr(u.L.attribution_note, "definite") == NULL);
    done(&u);
    unlink(p);
}

/* A fork child: the reachable blocks the scan counted beyond the replay's are inherited. */
TEST(fork_child_inherited_reachable)
{
    synth_buf_t f = {0}, a = {0}, z = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 11, 1000, "/x", "x", 2);
    file_flags(&f, PS_FILE_F_FORK_CHILD);
    put_stacks(&a);
    synth_alloc(&a, PS_FN_MALLOC, SA, 1010, 0x1000, 100, 0);
    synth_alloc(&a, PS_FN_MALLOC, SB, 1020, 0x1100, 10, 0);
    ps_chunk_header_t h = {.tid = 11, .seq = 0, .nevents = 2, .t_first = 1010, .t_last = 1020};
    synth_chunk(&f, &a, &h, 1);
    ps_rec_leak_scan_t s = scan_rec(SCAN_TS, PS_LEAK_F_BY_ADDRESS);
    s.blocks = 5;
    s.definite_blocks = 1;
    s.definite_bytes = 100;
    s.reachable_blocks = 4; /* 0x1100 and three of the parent's (1000 bytes) */
    s.reachable_bytes = 1010;
    s.inherited_blocks = 0; /* (a shim without a stack per block cannot count them) */
    s.groups = 1;
    synth_put(&z, &s, sizeof s);
    static const ps_leak_block_t e[] = {{0x1000, PS_LEAK_NO_HOLDER, PS_LEAK_DEFINITE, 0, 0}};
    put_blocks(&z, SCAN_TS, e, 1);
    char p[4200];
    path_of(p, sizeof p, "child.trace");
    end_save(&f, &z, SCAN_TS, p);
    synth_buf_free(&a);
    run_t u;
    load(&u, p);
    const leak_group_t *g = find(&u.L, PS_LEAK_REACHABLE, 0, 1);
    assert_true(g != NULL);
    expect_u64_eq(g->blocks, 3);
    expect_u64_eq(g->bytes, 1000);
    g = find(&u.L, PS_LEAK_REACHABLE, 0x402000, 0);
    assert_true(g != NULL);
    expect_u64_eq(g->blocks, 1);
    expect_true(u.L.attribution_note == NULL);
    expect_u64_eq(u.L.scan.inherited_blocks, 3); /* counted by the replay */
    done(&u);
    unlink(p);
}

/* An on-demand scan in thread 10's stream mid-trace, then that thread frees what leaked and
 * thread 20 allocates before and after the scan's ts: the groups are the scan's moment. */
TEST(on_demand_scan_mid_trace)
{
    synth_buf_t f = {0}, a = {0}, b = {0}, z = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 10, 1000, "/x", "x", 2);
    put_stacks(&a);
    synth_alloc(&a, PS_FN_MALLOC, SA, 1010, 0x1000, 100, 0);
    synth_alloc(&a, PS_FN_MALLOC, SB, 1020, 0x1100, 10, 0);
    ps_rec_leak_scan_t s = scan_rec(1500, PS_LEAK_F_BY_ADDRESS | PS_LEAK_F_ON_DEMAND);
    s.blocks = 3;
    s.definite_blocks = 1;
    s.definite_bytes = 100;
    s.indirect_blocks = 1;
    s.indirect_bytes = 10;
    s.reachable_blocks = 2; /* 0x3000, and 0x3100 allocated at its ts (before it) */
    s.reachable_bytes = 15;
    s.possible_blocks = 1;
    s.groups = 1;
    synth_put(&a, &s, sizeof s);
    static const ps_leak_block_t e[] = {
        {0x1100, 1, PS_LEAK_INDIRECT, PS_LEAK_BLOCK_F_POSSIBLE, 0},
        {0x1000, PS_LEAK_NO_HOLDER, PS_LEAK_DEFINITE, 0, 0},
    };
    put_blocks(&a, 1500, e, 2);
    synth_free(&a, 1600, 0x1000);
    synth_free(&a, 1610, 0x1100);
    ps_chunk_header_t h = {.tid = 10, .seq = 0, .nevents = 4, .t_first = 1010, .t_last = 1610};
    synth_chunk(&f, &a, &h, 1);
    synth_alloc(&b, PS_FN_MALLOC, SD, 1400, 0x3000, 7, 0);
    synth_alloc(&b, PS_FN_MALLOC, SD, 1500, 0x3100, 8, 0); /* at the scan's ts: before it */
    synth_alloc(&b, PS_FN_MALLOC, SD, 1501, 0x3200, 9, 0);
    ps_chunk_header_t hb = {.tid = 20, .seq = 0, .nevents = 3, .t_first = 1400, .t_last = 1501};
    synth_chunk(&f, &b, &hb, 1);
    char p[4200];
    path_of(p, sizeof p, "ondemand.trace");
    end_save(&f, &z, 2300, p);
    synth_buf_free(&a);
    synth_buf_free(&b);
    run_t u;
    load(&u, p);
    const leaks_t *L = &u.L;
    assert_true(L->have_scan);
    expect_true(L->scan.flags & PS_LEAK_F_ON_DEMAND);
    const leak_group_t *g = find(L, PS_LEAK_DEFINITE, 0x401000, 0);
    assert_true(g != NULL);
    expect_u64_eq(g->bytes, 100);
    g = find(L, PS_LEAK_INDIRECT, 0x402000, 0);
    assert_true(g != NULL);
    expect_u64_eq(g->bytes, 10);
    expect_u64_eq(g->possible_blocks, 1);
    g = find(L, PS_LEAK_REACHABLE, 0x404000, 0);
    assert_true(g != NULL);
    expect_u64_eq(g->blocks, 2); /* 0x3000 and 0x3100 (same ts), not 0x3200 */
    expect_u64_eq(g->bytes, 15);
    expect_true(L->attribution_note == NULL);
    expect_u64_eq(u.rp.live_blocks, 3); /* the replay went on past the scan */
    done(&u);
    unlink(p);
}

/* Snapshot markers: the sites from the replay at each ts; A grows, B does not. marker_blocks:
 * the second marker's live blocks (2: as the replay has them). */
static void snap_trace(const char *p, uint64_t marker_blocks)
{
    synth_buf_t f = {0}, a = {0}, z = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 10, 1000, "/x", "x", 2);
    put_stacks(&a);
    synth_alloc(&a, PS_FN_MALLOC, SA, 1010, 0x1000, 100, 0);
    synth_alloc(&a, PS_FN_MALLOC, SB, 1020, 0x1100, 10, 0);
    put_snapshot(&a, 0, 1100, 2, 110);
    synth_alloc(&a, PS_FN_MALLOC, SA, 1200, 0x2000, 200, 0);
    synth_free(&a, 1210, 0x1100);
    put_snapshot(&a, 1, 1300, marker_blocks, 300);
    synth_free(&a, 1400, 0x2000);
    ps_chunk_header_t h = {.tid = 10, .seq = 0, .nevents = 5, .t_first = 1010, .t_last = 1400};
    synth_chunk(&f, &a, &h, 1);
    end_save(&f, &z, 2300, p);
    synth_buf_free(&a);
}

TEST(snapshots_by_replay)
{
    char p[4200];
    path_of(p, sizeof p, "snap.trace");
    snap_trace(p, 2);
    run_t u;
    load(&u, p);
    expect_u64_eq(u.L.nsnapshots, 2);
    assert_u64_eq(u.L.ngrowth, 1);
    expect_u64_eq(u.L.growth[0].ips[0], 0x401000);
    expect_u64_eq(u.L.growth[0].first_bytes, 100);
    expect_u64_eq(u.L.growth[0].last_bytes, 300);
    expect_u64_eq(u.L.growth[0].last_blocks, 2);
    expect_true(u.L.snapshot_note == NULL);
    done(&u);
    /* a marker whose totals the replay does not have at its ts: one line says so */
    snap_trace(p, 3);
    load(&u, p);
    assert_true(u.L.snapshot_note != NULL);
    expect_str_eq(u.L.snapshot_note, "snapshot 1: the replay holds 2 blocks, 300 bytes at its "
                                     "ts, the shim counted 3, 300");
    done(&u);
    unlink(p);
}

/* A chain of 20000 indirect blocks, each held by the one before (followed once: linear), and
 * two indirect blocks that hold each other (no definite block: holder stack 0). */
TEST(long_chains_and_loops)
{
    enum { N = 20000 };
    synth_buf_t f = {0}, a = {0}, z = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 10, 1000, "/x", "x", 2);
    put_stacks(&a);
    synth_alloc(&a, PS_FN_MALLOC, SA, 1001, 0x100000, 8, 0);
    for (uint64_t i = 1; i < N; i++)
        synth_alloc(&a, PS_FN_MALLOC, SB, 1001, 0x100000 + 16 * i, 8, 0);
    synth_alloc(&a, PS_FN_MALLOC, SC, 1001, 0x900000, 8, 0);
    synth_alloc(&a, PS_FN_MALLOC, SC, 1001, 0x900010, 8, 0);
    ps_chunk_header_t h = {.tid = 10, .seq = 0, .nevents = N + 2, .t_first = 1001, .t_last = 1001};
    synth_chunk(&f, &a, &h, 1);
    ps_rec_leak_scan_t s = scan_rec(SCAN_TS, PS_LEAK_F_BY_ADDRESS);
    s.blocks = N + 2;
    s.definite_blocks = 1;
    s.definite_bytes = 8;
    s.indirect_blocks = N + 1;
    s.indirect_bytes = 8 * (N + 1);
    static ps_leak_block_t e[N + 2];
    e[0] = (ps_leak_block_t){0x100000, PS_LEAK_NO_HOLDER, PS_LEAK_DEFINITE, 0, 0};
    for (uint32_t i = 1; i < N; i++) /* listed last first: the chain runs backwards */
        e[N - i] = (ps_leak_block_t){0x100000 + 16 * (uint64_t)i,
                                     i == 1 ? 0 : N - i + 1, PS_LEAK_INDIRECT, 0, 0};
    e[N] = (ps_leak_block_t){0x900000, N + 1, PS_LEAK_INDIRECT, 0, 0};
    e[N + 1] = (ps_leak_block_t){0x900010, N, PS_LEAK_INDIRECT, 0, 0};
    s.groups = (N + 2 + PS_LEAK_BLOCKS_MAX - 1) / PS_LEAK_BLOCKS_MAX;
    synth_put(&z, &s, sizeof s);
    for (uint32_t i = 0; i < N + 2; i += PS_LEAK_BLOCKS_MAX)
        put_blocks(&z, SCAN_TS, e + i,
                   N + 2 - i < PS_LEAK_BLOCKS_MAX ? N + 2 - i : PS_LEAK_BLOCKS_MAX);
    char p[4200];
    path_of(p, sizeof p, "chain.trace");
    end_save(&f, &z, SCAN_TS, p);
    synth_buf_free(&a);
    run_t u;
    load(&u, p);
    const leaks_t *L = &u.L;
    const leak_group_t *d = find(L, PS_LEAK_DEFINITE, 0x401000, 0);
    const leak_group_t *g = find(L, PS_LEAK_INDIRECT, 0x402000, 0);
    assert_true(d != NULL && g != NULL);
    expect_u64_eq(g->blocks, N - 1);
    expect_u64_eq(g->held_by, d - L->groups);
    g = find(L, PS_LEAK_INDIRECT, 0x403000, 0);
    assert_true(g != NULL);
    expect_u64_eq(g->blocks, 2);
    expect_u64_eq(g->held_by, -1); /* held by no definite block */
    expect_true(L->attribution_note == NULL);
    done(&u);
    unlink(p);
}

/* ---- cross-thread frees from the replay (no PS_FILE_F_CROSS_FREES) ---------------------- */

static void free_rec(synth_buf_t *b, uint8_t aux, uint64_t ts, uint64_t ptr)
{
    ps_rec_free_t fr = {synth_hdr(PS_REC_FREE, aux, sizeof fr), 0, ts, ptr};
    synth_put(b, &fr, sizeof fr);
}

/* Threads 10 and 20: 10 allocates 0x1000 (A) and 0x2000 (B), 20 frees 0x1000 (crossed) and
 * reallocs 0x2000 (crossed, but a realloc: not counted); 20 allocates 0x3000 (A) and frees it
 * with a record that claims to cross (ignored: not in a CROSS_FREES trace); 10 allocates
 * 0x1000 again (the address reused: now 10's) and 20 frees it (crossed), then 20 allocates it
 * and 10 frees it (crossed). Cross-thread frees: 3, at A 3, at B 0. */
TEST(cross_thread_frees_from_the_replay)
{
    synth_buf_t f = {0}, a = {0}, b = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 10, 1000, "/x", "x", 2);
    put_stacks(&a);
    synth_alloc(&a, PS_FN_MALLOC, SA, 1010, 0x1000, 100, 0);
    synth_alloc(&a, PS_FN_MALLOC, SB, 1020, 0x2000, 10, 0);
    synth_alloc(&a, PS_FN_MALLOC, SA, 1300, 0x1000, 100, 0);
    free_rec(&a, PS_FN_FREE, 1600, 0x1000);
    ps_chunk_header_t h = {.tid = 10, .seq = 0, .nevents = 4, .t_first = 1010, .t_last = 1600};
    synth_chunk(&f, &a, &h, 1);
    free_rec(&b, PS_FN_FREE, 1100, 0x1000);
    synth_realloc(&b, SB, 1110, 1120, 0x2000, 0x2100, 20);
    synth_alloc(&b, PS_FN_MALLOC, SA, 1200, 0x3000, 30, 0);
    free_rec(&b, PS_FN_FREE | PS_FREE_F_CROSS_THREAD, 1210, 0x3000);
    free_rec(&b, PS_FN_FREE, 1400, 0x1000);
    synth_alloc(&b, PS_FN_MALLOC, SA, 1500, 0x1000, 100, 0);
    ps_chunk_header_t hb = {.tid = 20, .seq = 0, .nevents = 6, .t_first = 1100, .t_last = 1500};
    synth_chunk(&f, &b, &hb, 1);
    char p[4200];
    path_of(p, sizeof p, "cross.trace");
    synth_save(&f, p);
    synth_buf_free(&f);
    synth_buf_free(&a);
    synth_buf_free(&b);
    replay_t rp;
    char err[512];
    memset(&rp, 0, sizeof rp);
    assert_u64_eq(analyses_load(p, ANALYSIS_PRESSURE, &rp, NULL, err, sizeof err), 0);
    const pressure_t *P = rp.pressure;
    assert_true(P != NULL);
    expect_true(P->have_cross_thread);
    expect_u64_eq(P->cross_thread_frees, 3);
    for (size_t i = 0; i < P->nsites; i++)
        expect_u64_eq(P->sites[i].cross_thread_frees,
                      P->sites[i].stack_id == SA ? 3 : 0);
    expect_u64_eq(rp.frees, 5); /* the realloc's old side included */
    analyses_free(&rp, NULL, NULL);
    unlink(p);
}

/* ---- the same block set as LEAK records and as LEAK_BLOCKS: the same report ------------ */

static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = malloc(1 << 20);
    *n = buf ? fread(buf, 1, (1 << 20) - 1, fp) : 0;
    fclose(fp);
    if (buf)
        buf[*n] = 0;
    return buf;
}

static char *report(const char *bin, const char *trace, const char *format, size_t *n)
{
    char out[4300], cmd[13000];
    snprintf(out, sizeof out, "%s/report.%s", dir, format);
    snprintf(cmd, sizeof cmd, "'%s' report -q --format=%s -o '%s' '%s' 2>/dev/null", bin, format,
             out, trace);
    if (system(cmd) != 0)
        return NULL;
    char *s = slurp(out, n);
    unlink(out);
    return s;
}

TEST(old_records_and_by_address_report_the_same)
{
    const char *bin = getenv("PERFSHIM_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        fprintf(stderr, "no PERFSHIM_BIN: the report comparison is skipped\n");
        return;
    }
    char p[4200];
    path_of(p, sizeof p, "same.trace"); /* one path: the report names it */
    static const char *const formats[] = {"text", "json"};
    for (unsigned k = 0; k < 2; k++) {
        size_t n1 = 0, n2 = 0;
        exit_trace(p, 0, 70);
        char *old = report(bin, p, formats[k], &n1);
        exit_trace(p, 1, 70);
        char *neu = report(bin, p, formats[k], &n2);
        assert_true(old && neu);
        expect_true(strstr(old, "inherited") != NULL);
        expect_u64_eq(n1, n2);
        if (n1 != n2 || memcmp(old, neu, n1) != 0)
            fprintf(stderr, "--- LEAK records (%s):\n%s\n--- LEAK_BLOCKS:\n%s\n", formats[k], old,
                    neu);
        expect_true(n1 == n2 && memcmp(old, neu, n1) == 0);
        free(old);
        free(neu);
    }
    unlink(p);
}

static void cleanup(void)
{
    rmdir(dir);
}

static int setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/psleakaddr.%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    if (mkdir(dir, 0700) != 0)
        return 99;
    atexit(cleanup);
    return 0;
}

int main(void)
{
    static const test_case t[] = {
        TEST_ENTRY(exit_scan_by_address),
        TEST_ENTRY(difference_from_the_scan_is_said),
        TEST_ENTRY(fork_child_inherited_reachable),
        TEST_ENTRY(on_demand_scan_mid_trace),
        TEST_ENTRY(snapshots_by_replay),
        TEST_ENTRY(long_chains_and_loops),
        TEST_ENTRY(cross_thread_frees_from_the_replay),
        TEST_ENTRY(old_records_and_by_address_report_the_same),
    };
    if (setup())
        return 99;
    return test_run(t, sizeof t / sizeof t[0]);
}
