/*
 * tests/unit/locks.c -- the lock-order cycle search of the lock analysis
 * (analyzer/analyses/locks.c) on synthetic graphs: no cycle, a 2-cycle, a 3-cycle, a self
 * edge, two disjoint cycles, and a 2-cycle and a 3-cycle sharing a lock. Each cycle is
 * found once (from its smallest lock), as a closed chain of the trace's edges. And the
 * LOCK_SITE snapshots of running threads: superseded by a later final record of their key,
 * the latest one counted where none followed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyses/locks.h"
#include "perfshim/errors.h"
#include "test.h"

static locks_t *graph(const uint64_t (*e)[2], size_t n)
{
    locks_t *L = NULL;
    for (size_t i = 0; i < n; i++) {
        record_t rec;
        memset(&rec, 0, sizeof rec);
        rec.type = PS_REC_LOCK_EDGE;
        rec.len = sizeof(ps_rec_lock_edge_t);
        rec.u.lock_edge.tid = 7;
        rec.u.lock_edge.ts = 100 + i;
        rec.u.lock_edge.from = e[i][0];
        rec.u.lock_edge.to = e[i][1];
        rec.u.lock_edge.from_stack = 1;
        rec.u.lock_edge.to_stack = 2;
        if (locks_take(&L, 7, &rec) != 0)
            exit(99);
    }
    if (!L || locks_finish(L, 7, 0, 1000) != 0)
        exit(99);
    return L;
}

/* Every reported cycle is a closed chain of edges that starts at its smallest lock. */
static void expect_chains(const locks_t *L)
{
    for (size_t c = 0; c < L->ncycles; c++) {
        const locks_cycle_t *cy = &L->cycles[c];
        expect_true(cy->n >= 1 && cy->n <= LOCKS_CYCLE_MAX);
        uint64_t start = L->edges[cy->edge[0]].from;
        for (uint32_t k = 0; k < cy->n; k++) {
            const locks_edge_t *e = &L->edges[cy->edge[k]];
            const locks_edge_t *next = &L->edges[cy->edge[(k + 1) % cy->n]];
            expect_u64_eq(e->to, next->from);
            expect_u64_ge(e->from, start);
        }
    }
}

/* The lengths of the cycles found, sorted. */
static void lengths(const locks_t *L, uint32_t *out)
{
    for (size_t i = 0; i < L->ncycles; i++)
        out[i] = L->cycles[i].n;
    for (size_t i = 1; i < L->ncycles; i++)
        for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            uint32_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
}

TEST(no_cycle)
{
    /* a DAG with a diamond: A->B->D, A->C->D, A->D */
    static const uint64_t e[][2] = {{0xa, 0xb}, {0xb, 0xd}, {0xa, 0xc}, {0xc, 0xd}, {0xa, 0xd}};
    locks_t *L = graph(e, 5);
    expect_u64_eq(L->nedges, 5);
    expect_u64_eq(L->ncycles, 0);
    expect_true(!L->cycles_truncated);
    locks_free(L);
}

TEST(two_cycle)
{
    static const uint64_t e[][2] = {{0xb, 0xa}, {0xa, 0xb}};
    locks_t *L = graph(e, 2);
    assert_u64_eq(L->ncycles, 1);
    expect_u64_eq(L->cycles[0].n, 2);
    expect_u64_eq(L->edges[L->cycles[0].edge[0]].from, 0xa); /* from the smallest lock */
    expect_chains(L);
    locks_free(L);
}

TEST(three_cycle)
{
    /* C->A, A->B, B->C, and a duplicate edge that must not make a second cycle */
    static const uint64_t e[][2] = {{0xc, 0xa}, {0xa, 0xb}, {0xb, 0xc}, {0xa, 0xb}};
    locks_t *L = graph(e, 4);
    expect_u64_eq(L->nedges, 3);
    assert_u64_eq(L->ncycles, 1);
    expect_u64_eq(L->cycles[0].n, 3);
    expect_u64_eq(L->edges[L->cycles[0].edge[0]].from, 0xa);
    expect_chains(L);
    locks_free(L);
}

/* The shim never writes one (a recursive mutex taken again is skipped), so an edge from a
 * lock to itself is from elsewhere: it is reported as a cycle of one lock, once, and the
 * search goes on past it. */
TEST(self_edge)
{
    static const uint64_t e[][2] = {{0xa, 0xa}, {0xa, 0xb}, {0xb, 0xc}};
    locks_t *L = graph(e, 3);
    assert_u64_eq(L->ncycles, 1);
    expect_u64_eq(L->cycles[0].n, 1);
    expect_u64_eq(L->edges[L->cycles[0].edge[0]].to, 0xa);
    expect_chains(L);
    locks_free(L);
}

TEST(two_disjoint_cycles)
{
    static const uint64_t e[][2] = {{0x1, 0x2}, {0x10, 0x20}, {0x20, 0x30},
                                    {0x2, 0x1}, {0x30, 0x10}};
    locks_t *L = graph(e, 5);
    assert_u64_eq(L->ncycles, 2);
    uint32_t n[2];
    lengths(L, n);
    expect_u64_eq(n[0], 2);
    expect_u64_eq(n[1], 3);
    expect_chains(L);
    locks_free(L);
}

/* A<->B and A->C->B: the cycles A->B->A and A->C->B->A, each once. */
TEST(cycles_sharing_a_lock)
{
    static const uint64_t e[][2] = {{0xa, 0xb}, {0xb, 0xa}, {0xa, 0xc}, {0xc, 0xb}};
    locks_t *L = graph(e, 4);
    assert_u64_eq(L->ncycles, 2);
    uint32_t n[2];
    lengths(L, n);
    expect_u64_eq(n[0], 2);
    expect_u64_eq(n[1], 3);
    expect_chains(L);
    locks_free(L);
}

/* ---- LOCK_SITE snapshots: the latest per (tid, lock, stack) until a final record ------- */
static void site(locks_t **L, uint32_t tid, uint64_t lock, uint32_t stack, uint64_t ts,
                 uint64_t acq, int snapshot)
{
    record_t rec;
    memset(&rec, 0, sizeof rec);
    rec.type = PS_REC_LOCK_SITE;
    rec.aux = (uint8_t)(PS_LOCK_MUTEX | (snapshot ? PS_LOCK_SITE_F_SNAPSHOT : 0));
    rec.len = sizeof(ps_rec_lock_site_t);
    rec.u.lock_site.tid = tid;
    rec.u.lock_site.lock = lock;
    rec.u.lock_site.stack = stack;
    rec.u.lock_site.ts = ts;
    rec.u.lock_site.acquisitions = acq;
    rec.u.lock_site.hold_ns = acq * 10;
    rec.u.lock_site.hold_hist[3] = (uint32_t)acq;
    if (locks_take(L, tid, &rec) != 0)
        exit(99);
}

static const locks_lock_t *lock_at(const locks_t *L, uint64_t addr)
{
    for (size_t i = 0; i < L->nlocks; i++)
        if (L->locks[i].addr == addr)
            return &L->locks[i];
    return NULL;
}

TEST(snapshots)
{
    locks_t *L = NULL;
    /* thread 1, lock A: two snapshots, then its exit's final record: the final only */
    site(&L, 1, 0xa0, 5, 100, 10, 1);
    site(&L, 1, 0xa0, 5, 200, 20, 1);
    site(&L, 1, 0xa0, 5, 300, 25, 0);
    /* thread 2, lock A: still running at the end: its latest snapshot counts */
    site(&L, 2, 0xa0, 5, 150, 3, 1);
    site(&L, 2, 0xa0, 5, 250, 7, 1);
    /* thread 3, lock B: a final record mid-run (an exec that failed), then a snapshot of what
     * came after it: both; a snapshot no later than the final record: ignored */
    site(&L, 3, 0xb0, 6, 400, 40, 0);
    site(&L, 3, 0xb0, 6, 400, 40, 1);
    site(&L, 3, 0xb0, 6, 500, 4, 1);
    assert_true(locks_finish(L, 1, 0, 1000) == 0);
    const locks_lock_t *a = lock_at(L, 0xa0), *b = lock_at(L, 0xb0);
    assert_true(a && b);
    expect_u64_eq(a->acquisitions, 25 + 7);
    expect_u64_eq(a->hold_ns, 320);
    expect_u64_eq(a->hold.n, 32);
    expect_u64_eq(b->acquisitions, 44);
    expect_u64_eq(b->hold_ns, 440);
    assert_true(a->nsites == 1);
    expect_u64_eq(a->sites[0].acquisitions, 32);
    locks_free(L);
}

int main(void)
{
    static const test_case tests[] = {
        TEST_ENTRY(no_cycle),
        TEST_ENTRY(two_cycle),
        TEST_ENTRY(three_cycle),
        TEST_ENTRY(self_edge),
        TEST_ENTRY(two_disjoint_cycles),
        TEST_ENTRY(cycles_sharing_a_lock),
        TEST_ENTRY(snapshots),
    };
    return test_run(tests, sizeof tests / sizeof tests[0]);
}
