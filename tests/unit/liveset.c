/* Unit tests of preload/liveset.c (issue 18): blocks packed into one 64 KiB region (one
 * shard, long probe runs, growth by a quarter) are all found after inserts,
 * and after removes in a random order exactly the ones not removed are: the delete's
 * back-shift keeps every remaining entry reachable; a removed entry comes back as it went
 * in; an absent address is not found. Two threads inserting and removing their own blocks in
 * the same shard (the lock contended: its waiting paths) leave exactly their live blocks.
 * A thread that owns its shards (no lock: "Biased shards"; a delay inside, mid-shift too)
 * races another that, 300 times, revokes each of them by an insert and a remove of its own
 * and then takes the exit scan's lock_all (which revokes every owner at once) and unowns
 * them all: the owner's removes always find what it inserted, the other's too, and the view
 * under lock_all always holds every block the owner had finished inserting, nothing twice.
 * (Without the wait for the owner in either revocation it fails.)
 * Blocks a 4-byte entry cannot describe (not 16-aligned, sizes from LS_SIZE_LIMIT, flags)
 * round-trip through the side table, a realloc's failed release put back too. liveset_regions
 * gives every block once, a region's blocks in one call, with and without release (which
 * frees the tables). A fork child keeps the parent's blocks, plain. Threads that free each
 * other's blocks leave exactly the live ones. 3 M kvstore-like blocks cost <= 7 bytes each.
 * (And imem's page-filling size and its resident count "now", which the exit scan's sample
 * uses.) */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "imem.h"
#include "liveset.h"
#include "perfshim/mix.h"
#include "test.h"

#define N 3000

static uint64_t addr[N];
static unsigned char gone[N];

static uint64_t rng(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

/* Up to cap blocks copied into out through liveset_regions (locks held); how many. */
typedef struct export_s {
    liveset_block_t *out;
    uint64_t n, cap;
} export_t;

static int export_fn(void *arg, uint64_t region, const liveset_block_t *b, uint32_t n)
{
    export_t *x = arg;
    for (uint32_t i = 0; i < n && x->n < x->cap; i++) {
        expect_u64_eq(b[i].ptr >> 16, region);
        x->out[x->n++] = b[i];
    }
    return x->n >= x->cap;
}

static uint64_t export_blocks(liveset_block_t *out, uint64_t cap, int release)
{
    export_t x = {out, 0, cap};
    (void)liveset_regions(release, export_fn, &x);
    return x.n;
}

TEST(insert_remove_random_order)
{
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 3; round++) {
        uint64_t base = 0x7f0000000000ull + (uint64_t)round * 0x100000000ull;
        for (int i = 0; i < N; i++) { /* 16-byte blocks of one 64 KiB region: one shard */
            addr[i] = base + (uint64_t)i * 16u;
            gone[i] = 0;
            liveset_insert(addr[i], (uint64_t)i + 1, 0, NULL);
        }
        for (int i = 0; i < N; i++)
            expect_true(liveset_set_flags(addr[i], 0));
        expect_true(!liveset_set_flags(base + 8, 0)); /* not a block's start */
        for (int k = 0; k < N; k++) {
            int i = (int)(rng(&x) % N);
            liveset_block_t e;
            memset(&e, 0, sizeof e);
            int found = liveset_remove(addr[i], &e, NULL);
            expect_u64_eq(found, !gone[i]);
            if (found) {
                expect_u64_eq(e.ptr, addr[i]);
                expect_u64_eq(e.size, (uint64_t)i + 1);
                expect_u64_eq(e.flags, 0);
            }
            gone[i] = 1;
            if (k % 97 == 0)
                for (int j = 0; j < N; j++)
                    expect_u64_eq(liveset_set_flags(addr[j], 0), !gone[j]);
        }
        for (int i = 0; i < N; i++)
            if (!gone[i])
                expect_true(liveset_remove(addr[i], NULL, NULL));
        for (int i = 0; i < N; i++)
            expect_true(!liveset_set_flags(addr[i], 0));
    }
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

#define TN 20000
static void *contender(void *arg)
{
    uint64_t base = 0x7e0000000000ull + (uintptr_t)arg * 8u; /* interleaved: one region */
    uint64_t x = 1234567u + (uintptr_t)arg;
    for (int k = 0; k < 200000; k++) {
        uint64_t p = base + (rng(&x) % TN) * 16u;
        if (!liveset_remove(p, NULL, NULL))
            liveset_insert(p, 1, 0, NULL);
    }
    return NULL;
}

TEST(two_threads_one_shard)
{
    pthread_t th[2];
    for (uintptr_t i = 0; i < 2; i++)
        assert_true(pthread_create(&th[i], NULL, contender, (void *)i) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    /* each thread's own replay of its sequence says which of its blocks are live */
    uint64_t live = 0;
    for (uintptr_t t = 0; t < 2; t++) {
        static unsigned char in[TN];
        memset(in, 0, sizeof in);
        uint64_t x = 1234567u + t;
        for (int k = 0; k < 200000; k++) {
            uint64_t j = rng(&x) % TN;
            in[j] ^= 1;
        }
        for (uint64_t j = 0; j < TN; j++) {
            uint64_t p = 0x7e0000000000ull + t * 8u + j * 16u;
            expect_u64_eq(liveset_set_flags(p, 0), in[j]);
            live += in[j];
            if (in[j])
                liveset_remove(p, NULL, NULL);
        }
    }
    expect_true(live > 0);
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

/* Blocks a 4-byte entry cannot describe (a size of LS_SIZE_LIMIT or more, an address not
 * 16-aligned, flags) go to the shard's side table; every block comes back whole; an address
 * that moves between entry and side (a release never seen) is there once; a realloc's failed
 * release (liveset_remove, then liveset_insert of what it gave) puts it back as it was. */
TEST(side_table_round_trip)
{
    static const struct {
        uint64_t ptr, size;
        uint32_t flags;
    } c[] = {
        {0x7d0000000010ull, 16, 0},                         /* an entry */
        {0x7d0000000020ull, LS_SIZE_LIMIT, 0},              /* too large for an entry */
        {0x7d0000000031ull, 1, 0},                          /* not 16-aligned */
        {0x7d0000000048ull, 8, LIVESET_F_IGNORED},          /* 8-aligned, flags */
        {0x7d0000000040ull, LS_SIZE_LIMIT - 1, 0},          /* the largest an entry holds */
        {0x900000000040ull, 8, LIVESET_F_LINKER},           /* above 2^47, flags */
        {0x7d0000000050ull, 1ull << 40, LIVESET_F_LINKER | LIVESET_F_IGNORED},
        {0x7d0000010008ull, 24, 0},                         /* a region of side blocks alone */
    };
    const unsigned nc = sizeof c / sizeof c[0];
    for (unsigned k = 0; k < nc; k++)
        liveset_insert(c[k].ptr, c[k].size, c[k].flags, NULL);
    liveset_lock_all();
    expect_u64_eq(liveset_count(), nc);
    liveset_block_t out[16];
    expect_u64_eq(export_blocks(out, 16, 0), nc);
    liveset_unlock_all();
    for (unsigned k = 0; k < nc; k++) {
        int seen = 0;
        for (unsigned j = 0; j < nc; j++)
            if (out[j].ptr == c[k].ptr) {
                seen++;
                expect_u64_eq(out[j].size, c[k].size);
                expect_u64_eq(out[j].flags, c[k].flags);
            }
        expect_u64_eq(seen, 1);
    }
    /* a realloc that failed: the block taken out and put back, size and flags whole */
    for (unsigned k = 0; k < nc; k++) {
        liveset_block_t b;
        memset(&b, 0, sizeof b);
        expect_true(liveset_remove(c[k].ptr, &b, NULL));
        expect_true(!liveset_remove(c[k].ptr, NULL, NULL));
        liveset_insert(b.ptr, b.size, b.flags, NULL);
        expect_u64_eq(b.ptr, c[k].ptr);
        expect_u64_eq(b.size, c[k].size);
        expect_u64_eq(b.flags, c[k].flags);
    }
    /* flags set in either table; a release never seen moves a block between them */
    for (unsigned k = 0; k < nc; k++)
        expect_true(liveset_set_flags(c[k].ptr, LIVESET_F_IGNORED));
    liveset_insert(c[0].ptr, 1ull << 30, 0, NULL); /* entry -> side */
    liveset_insert(c[1].ptr, 64, 0, NULL);         /* side -> entry */
    liveset_lock_all();
    expect_u64_eq(liveset_count(), nc);
    liveset_unlock_all();
    for (unsigned k = 0; k < nc; k++) {
        liveset_block_t e;
        memset(&e, 0, sizeof e);
        expect_true(liveset_remove(c[k].ptr, &e, NULL));
        expect_u64_eq(e.ptr, c[k].ptr);
        if (k == 0) {
            expect_u64_eq(e.size, 1ull << 30);
            expect_u64_eq(e.flags, 0);
        } else if (k == 1) {
            expect_u64_eq(e.size, 64);
            expect_u64_eq(e.flags, 0);
        } else {
            expect_u64_eq(e.size, c[k].size);
            expect_u64_eq(e.flags, c[k].flags | LIVESET_F_IGNORED);
        }
        expect_true(!liveset_remove(c[k].ptr, NULL, NULL));
    }
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

/* Every bit of an entry: the largest size and the last offset come back whole; an address
 * that matches an entry's offset only in bits an entry does not hold (not 16-aligned, in
 * another region of the same shard) is not that block; offset 0 of a region (an entry key of
 * 0) is found and, absent, not. */
TEST(entry_bits_exact)
{
    const uint64_t p = 0x7c000000fff0ull, size = LS_SIZE_LIMIT - 1;
    liveset_insert(p, size, 0, NULL);
    liveset_insert(p - 16, 0, 0, NULL);
    for (uint64_t d = 1; d < 16; d++)
        expect_true(!liveset_remove(p + d - 16, NULL, NULL));
    expect_true(!liveset_remove(p + (1ull << 16), NULL, NULL));
    expect_true(!liveset_remove(p | 1ull << 47, NULL, NULL));
    expect_true(!liveset_remove(p | 1ull << 63, NULL, NULL));
    expect_true(!liveset_remove(p & ~0xffffull, NULL, NULL)); /* offset 0, absent */
    liveset_insert(p & ~0xffffull, 5, 0, NULL);
    liveset_block_t e;
    expect_true(liveset_remove(p & ~0xffffull, &e, NULL));
    expect_u64_eq(e.size, 5);
    expect_true(liveset_remove(p - 16, &e, NULL));
    expect_u64_eq(e.size, 0);
    expect_u64_eq(e.flags, 0);
    expect_true(liveset_remove(p, &e, NULL));
    expect_u64_eq(e.ptr, p);
    expect_u64_eq(e.size, size);
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

/* Blocks of one region whose homes are all the table's last ones (hashes in the top 1/16 of
 * the range): their run reaches the end of the table's tail, which makes the table grow
 * (again while it rehashes, until the homes spread); every block is found, and after each
 * remove (back-shifts at the table's end) exactly the others are. */
#define TAILN 100
TEST(run_at_the_table_end)
{
    static uint64_t p[TAILN];
    unsigned np = 0;
    const uint64_t r = 0x7a0000000000ull, top = UINT64_MAX / 16 * 15;
    for (uint64_t q = r; q < r + 0x10000u && np < TAILN; q += 16)
        if (ls_hash(q) >= top)
            p[np++] = q;
    assert_true(np == TAILN);
    for (unsigned i = 0; i < TAILN; i++)
        liveset_insert(p[i], i + 1, 0, NULL);
    for (unsigned i = 0; i < TAILN; i++)
        expect_true(liveset_set_flags(p[i], 0));
    for (unsigned k = 0; k < TAILN; k++) {
        unsigned i = (k * 37u) % TAILN; /* 37 is prime to 100: each once */
        liveset_block_t e;
        expect_true(liveset_remove(p[i], &e, NULL));
        expect_u64_eq(e.size, i + 1);
        expect_true(!liveset_remove(p[i], NULL, NULL));
        for (unsigned j = 0; j < TAILN; j++) {
            int live = 0;
            for (unsigned m = k + 1; m < TAILN; m++)
                live |= (m * 37u) % TAILN == j;
            expect_u64_eq(liveset_set_flags(p[j], 0), live);
        }
    }
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

/* What the tables' sizes and the exit scan's RSS sample rest on (imem.c): imem_usable(n)
 * bytes take the pages that n bytes take, no more; a count "now" sees pages just touched. */
TEST(imem_usable_and_resident_now)
{
    for (size_t n = 1; n < (1u << 20); n = n * 3 + 7) {
        size_t u = imem_usable(n);
        expect_true(u >= n);
        uint64_t b0 = imem_bytes();
        void *p = imem_alloc(n);
        uint64_t b1 = imem_bytes();
        void *q = imem_alloc(u);
        expect_u64_eq(imem_bytes() - b1, b1 - b0);
        expect_true(imem_usable(u) == u);
        imem_free(p);
        imem_free(q);
    }
    uint64_t r0 = imem_resident_bytes_now(1);
    char *p = imem_alloc(8u << 20);
    assert_true(p != NULL);
    memset(p, 1, 8u << 20);
    expect_true(imem_resident_bytes_now(2) >= r0 + (8u << 20));
    imem_free(p);
}

/* liveset_regions without release: one call per region (a region's blocks together, side
 * blocks with them, a region of side blocks alone too), every block once, whole; a nonzero
 * return stops it. The set is as it was after it. */
#define RN 50000
static unsigned char rseen[RN];
typedef struct rv_s {
    uint64_t calls, blocks, side, bad, stop_after;
    uint64_t regions[64];
} rv_t;

static int rv_fn(void *arg, uint64_t region, const liveset_block_t *b, uint32_t n)
{
    rv_t *v = arg;
    v->bad += n == 0;
    for (uint64_t k = 0; k < v->calls && k < 64; k++)
        v->bad += v->regions[k] == region; /* a region twice */
    if (v->calls < 64)
        v->regions[v->calls] = region;
    v->calls++;
    for (uint32_t j = 0; j < n; j++) {
        v->bad += b[j].ptr >> 16 != region;
        if (b[j].ptr >= 0x7b1000000000ull) {
            v->side++;
            v->bad += b[j].size != (b[j].ptr & 15 ? 3 : 1ull << 26) ||
                      b[j].flags != (b[j].ptr & 15 ? LIVESET_F_LINKER : 0);
            continue;
        }
        uint64_t i = (b[j].ptr - 0x7b0000000000ull) / 48u;
        if (i >= RN || b[j].ptr != 0x7b0000000000ull + i * 48u || rseen[i] ||
            b[j].size != i % 1000 + 1 || b[j].flags) {
            v->bad++;
            continue;
        }
        rseen[i] = 1;
    }
    v->blocks += n;
    return v->stop_after && v->calls >= v->stop_after;
}

static void rv_fill(void)
{
    for (uint64_t i = 0; i < RN; i++) /* 48-byte blocks over ~37 regions: many shards */
        liveset_insert(0x7b0000000000ull + i * 48u, i % 1000 + 1, 0, NULL);
    liveset_insert(0x7b1000000000ull, 1ull << 26, 0, NULL);          /* a side block */
    liveset_insert(0x7b1000000008ull, 3, LIVESET_F_LINKER, NULL);    /* its region's */
    liveset_insert(0x7b1000020008ull, 3, LIVESET_F_LINKER, NULL);    /* a region alone */
}

/* liveset_regions over rv_fn with v zeroed (stopping after stop_after calls, 0: never). */
static uint64_t rv_run(rv_t *v, int release, uint64_t stop_after)
{
    memset(v, 0, sizeof *v);
    memset(rseen, 0, sizeof rseen);
    v->stop_after = stop_after;
    return liveset_regions(release, rv_fn, v);
}

TEST(regions_view)
{
    rv_fill();
    liveset_lock_all();
    expect_u64_eq(liveset_count(), RN + 3);
    rv_t v;
    expect_u64_eq(rv_run(&v, 0, 0), RN + 3);
    expect_u64_eq(v.bad, 0);
    expect_u64_eq(v.blocks, RN + 3);
    expect_u64_eq(v.side, 3);
    expect_true(v.calls >= 38 && v.calls < 64);
    uint64_t n = rv_run(&v, 0, 3);
    expect_u64_eq(v.calls, 3);
    expect_u64_eq(n, v.blocks);
    expect_u64_eq(liveset_count(), RN + 3);
    liveset_unlock_all();
    expect_true(!liveset_released());
    for (uint64_t i = 0; i < RN; i++)
        expect_true(liveset_remove(0x7b0000000000ull + i * 48u, NULL, NULL));
    expect_true(liveset_remove(0x7b1000000000ull, NULL, NULL));
    expect_true(liveset_remove(0x7b1000000008ull, NULL, NULL));
    expect_true(liveset_remove(0x7b1000020008ull, NULL, NULL));
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    expect_u64_eq(rv_run(&v, 0, 0), 0);
    liveset_unlock_all();
}

/* A region of 9000 blocks 7 bytes apart (most not 16-aligned: side-only; every 16th in the
 * table): one call with all of them, each whole. */
static int dense_fn(void *arg, uint64_t region, const liveset_block_t *b, uint32_t n)
{
    uint64_t *v = arg;
    v[0]++;
    v[1] += n;
    for (uint32_t j = 0; j < n; j++)
        v[2] += b[j].ptr >> 16 != region || b[j].size != 1 + (b[j].ptr - 0x7b2000000000ull) / 7 % 5;
    return 0;
}

TEST(regions_dense_side)
{
    for (uint64_t i = 0; i < 9000; i++)
        liveset_insert(0x7b2000000000ull + i * 7, 1 + i % 5, 0, NULL);
    uint64_t v[3] = {0, 0, 0};
    liveset_lock_all();
    expect_u64_eq(liveset_regions(0, dense_fn, v), 9000);
    liveset_unlock_all();
    expect_u64_eq(v[0], 1);
    expect_u64_eq(v[1], 9000);
    expect_u64_eq(v[2], 0);
    for (uint64_t i = 0; i < 9000; i++)
        expect_true(liveset_remove(0x7b2000000000ull + i * 7, NULL, NULL));
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

/* With release (last: the set stays released): every block once, the tables gone (no
 * bytes, no blocks), stopping early frees the rest unseen; the set works after it, empty. */
TEST(regions_release)
{
    rv_fill();
    liveset_lock_all();
    rv_t v;
    uint64_t n = rv_run(&v, 1, 5);
    expect_u64_eq(v.bad, 0);
    expect_u64_eq(n, v.blocks);
    expect_u64_eq(v.calls, 5);
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
    expect_u64_eq(liveset_bytes(), 0);
    expect_true(liveset_released());
    /* afterwards: the old blocks are not found, new ones are */
    expect_true(!liveset_remove(0x7b0000000030ull, NULL, NULL));
    liveset_insert(0x7b0000000000ull, 8, 0, NULL);
    expect_true(liveset_remove(0x7b0000000000ull, NULL, NULL));
    /* and a full drain with release, copied out as it goes */
    rv_fill();
    liveset_lock_all();
    static liveset_block_t out[RN + 8];
    expect_u64_eq(export_blocks(out, RN + 8, 1), RN + 3);
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
    expect_u64_eq(liveset_bytes(), 0);
}

/* A fork child keeps the parent's blocks, as plain blocks (flags as they were: no stack, no
 * inherited mark), and its set works: it finds and removes them, inserts its own. */
TEST(fork_child_keeps_blocks)
{
    for (uint64_t i = 0; i < 1000; i++)
        liveset_insert(0x7c5000000000ull + i * 32u, i + 1, i == 7 ? LIVESET_F_LINKER : 0, NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        liveset_after_fork_child();
        int bad = 0;
        liveset_lock_all();
        bad |= liveset_count() != 1000;
        liveset_unlock_all();
        for (uint64_t i = 0; i < 1000; i++) {
            liveset_block_t b;
            bad |= !liveset_remove(0x7c5000000000ull + i * 32u, &b, NULL) || b.size != i + 1 ||
                   b.flags != (i == 7 ? LIVESET_F_LINKER : 0);
        }
        liveset_insert(0x7c5000000000ull, 4, 0, NULL);
        bad |= liveset_shard_state(0x7c5000000000ull) == LIVESET_SHARD_OTHER;
        bad |= !liveset_remove(0x7c5000000000ull, NULL, NULL);
        _exit(bad ? 1 : 0);
    }
    int st = 0;
    assert_true(waitpid(pid, &st, 0) == pid);
    expect_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (uint64_t i = 0; i < 1000; i++)
        expect_true(liveset_remove(0x7c5000000000ull + i * 32u, NULL, NULL));
}

/* Four threads allocate in regions of their own (each its shards' owner) through the
 * recorders' forms and free each other's blocks half the time (revoking owners, the locked
 * ways): exactly the blocks nobody freed are left, with their sizes. */
#define XT 4
#define XN 20000
static uint64_t x_ptr(int t, int i)
{
    return 0x7d5000000000ull + (uint64_t)t * 0x10000000ull + (uint64_t)i * 48u;
}
static int x_bad;
static void *x_thread(void *arg)
{
    const int t = (int)(uintptr_t)arg;
    const uint32_t who = LIVESET_WHO(100 + t);
    uint64_t ts = 1000;
    for (int i = 0; i < XN; i++) {
        ts += 64;
        ts = liveset_add(x_ptr(t, i), (uint64_t)i % 500 + 1, 0, ts, who);
        if (i % 3 == 0) { /* its own: freed at once */
            liveset_hit_t h = liveset_free(x_ptr(t, i), ts, who);
            ts = h.ts;
            if (h.hit != LIVESET_HIT_FOUND)
                __atomic_add_fetch(&x_bad, 1, __ATOMIC_RELAXED);
        }
        if (i % 3 == 1 && i >= 3000) { /* the next thread's, a while ago */
            int o = (t + 1) % XT, j = i - 3000;
            liveset_hit_t h = liveset_free(x_ptr(o, j), ts, who);
            ts = h.ts;
            /* found unless that thread has not got there yet (it is not waited for) */
            (void)h;
        }
    }
    return NULL;
}

TEST(threads_cross_frees)
{
    pthread_t th[XT];
    for (uintptr_t t = 0; t < XT; t++)
        assert_true(pthread_create(&th[t], NULL, x_thread, (void *)t) == 0);
    for (int t = 0; t < XT; t++)
        pthread_join(th[t], NULL);
    expect_u64_eq(x_bad, 0);
    /* left: i % 3 == 2 always; i % 3 == 1 when i >= XN - 3000 (nobody freed it), or when its
     * free came before its insert (then it is live: count those as found below) */
    uint64_t left = 0;
    for (int t = 0; t < XT; t++)
        for (int i = 0; i < XN; i++) {
            liveset_block_t b;
            int found = liveset_remove(x_ptr(t, i), &b, NULL);
            if (i % 3 == 0 || (i % 3 == 1 && i < XN - 3000 && !found))
                continue;
            if (i % 3 == 2 || i >= XN - 3000)
                expect_true(found);
            if (found) {
                expect_u64_eq(b.size, (uint64_t)i % 500 + 1);
                left++;
            }
        }
    expect_true(left >= (uint64_t)XT * (XN / 3));
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

/* ---- biased shards ------------------------------------------------------------------------ */
#define BR 8     /* regions (shards, but for collisions) */
#define BK 1024 /* blocks per region and thread: runs in the tables, back-shifts */
static unsigned char b_live[BR * BK]; /* the owner's blocks it has finished inserting */
static int b_stop, b_bad, b_mine, b_cycles;
static uint64_t b_addr(int i, int who) /* who 0: the owner, 1: the other thread */
{
    return 0x7a0000000000ull + (uint64_t)(i / BK) * 0x10000u + (uint64_t)(i % BK) * 32u +
           (uint64_t)who * 16u;
}

static void *b_owner(void *arg)
{
    (void)arg;
    uint64_t x = 99991;
    for (long k = 0; !__atomic_load_n(&b_stop, __ATOMIC_ACQUIRE) || k < 20000; k++) {
        int i = (int)(rng(&x) % (BR * BK));
        if (__atomic_load_n(&b_live[i], __ATOMIC_RELAXED)) {
            __atomic_store_n(&b_live[i], 0, __ATOMIC_RELEASE);
            if (!liveset_remove(b_addr(i, 0), NULL, NULL))
                __atomic_add_fetch(&b_bad, 1, __ATOMIC_RELAXED);
        } else {
            liveset_insert(b_addr(i, 0), (uint64_t)i + 1, 0, NULL);
            __atomic_store_n(&b_live[i], 1, __ATOMIC_RELEASE);
        }
        if (liveset_shard_state(b_addr(i, 0)) == LIVESET_SHARD_MINE)
            __atomic_store_n(&b_mine, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static liveset_block_t b_out[4 * BR * BK];
extern int liveset_test_spin;          /* liveset.c built with LIVESET_TEST_HOOKS */
extern void liveset_test_unshare(void); /* every shard unowned again (locks held) */

/* Each cycle: blocks of its own in the owner's regions (every other cycle: an insert revokes
 * each shard the owner holds, the lock path's handshake), then the exit scan's view (lock_all
 * revokes the rest at once), then every shard unowned, for the owner to claim again. */
static void *b_scanner(void *arg)
{
    (void)arg;
    for (int c = 0; c < 300; c++) {
        for (int r = 0; c & 1 && r < BR; r++) /* (every other cycle: lock_all revokes) */
            liveset_insert(b_addr(r * BK + c % BK, 1), 16, 0, NULL);
        for (int r = 0; c & 1 && r < BR; r++)
            if (!liveset_remove(b_addr(r * BK + c % BK, 1), NULL, NULL))
                __atomic_add_fetch(&b_bad, 1, __ATOMIC_RELAXED);
        liveset_lock_all();
        uint64_t n = export_blocks(b_out, 4 * BR * BK, 0);
        static unsigned char seen[BR * BK];
        memset(seen, 0, sizeof seen);
        for (uint64_t k = 0; k < n; k++) {
            uint64_t off = b_out[k].ptr - 0x7a0000000000ull;
            if (off / 0x10000u >= BR || (off & 16)) { /* not ours, or one of ours left */
                __atomic_add_fetch(&b_bad, (off & 16) && off / 0x10000u < BR, __ATOMIC_RELAXED);
                continue;
            }
            int i = (int)(off / 0x10000u) * BK + (int)(off % 0x10000u / 32u);
            if (seen[i]++ || b_out[k].size != (uint64_t)i + 1)
                __atomic_add_fetch(&b_bad, 1, __ATOMIC_RELAXED); /* twice, or torn */
        }
        for (int i = 0; i < BR * BK; i++) /* finished inserts are there (the owner waits) */
            if (__atomic_load_n(&b_live[i], __ATOMIC_ACQUIRE) && !seen[i])
                __atomic_add_fetch(&b_bad, 1, __ATOMIC_RELAXED);
        liveset_test_unshare();
        liveset_unlock_all();
        b_cycles++;
        for (volatile int spin = 0; spin < 20000; spin++)
            ;
    }
    return NULL;
}


TEST(biased_shards_race)
{
    pthread_t o, sc;
    liveset_test_spin = 3000; /* the owner lingers inside, mid-shift too */
    assert_true(pthread_create(&o, NULL, b_owner, NULL) == 0);
    assert_true(pthread_create(&sc, NULL, b_scanner, NULL) == 0);
    pthread_join(sc, NULL);
    /* the owner claims region 0's shard back after the scanner's last unshare before it is
     * told to stop: else the main thread below, not the owner, would be the first to claim
     * it (a race of the test: the owner, faster with the live set's Fibonacci hashes, could
     * finish its iterations within the scanner's last spin, 8 runs in 30) */
    while (liveset_shard_state(b_addr(0, 0)) == LIVESET_SHARD_NOBODY)
        sched_yield();
    __atomic_store_n(&b_stop, 1, __ATOMIC_RELEASE);
    pthread_join(o, NULL);
    liveset_test_spin = 0;
    expect_u64_eq(b_bad, 0);
    expect_u64_eq(b_cycles, 300);
    if (liveset_shard_state(b_addr(0, 0)) == LIVESET_SHARD_NO_BIAS)
        fprintf(stderr, "biased_shards_race: membarrier unavailable, every shard locked\n");
    else
        expect_true(b_mine); /* the owner owned its shards (and claimed them back) */
    /* a shard two threads use stays shared */
    liveset_insert(b_addr(0, 1), 16, 0, NULL);
    expect_true(liveset_remove(b_addr(0, 1), NULL, NULL));
    int st = liveset_shard_state(b_addr(0, 0));
    expect_true(st == LIVESET_SHARD_SHARED || st == LIVESET_SHARD_NO_BIAS);
    for (int i = 0; i < BR * BK; i++) /* exactly the owner's live blocks are left */
        expect_u64_eq(liveset_remove(b_addr(i, 0), NULL, NULL), b_live[i]);
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

/* liveset_mark_time: with every lock held, a time that every later event sorts after, whatever
 * its thread's floor (a stale floor before the mark, the same thread as the shard's last
 * event): the next event of any shard, insert or free, is stamped in a later time quantum
 * (stamp.h's STAMP_Q, the trace's unit), so the analyzer's replay at the mark holds exactly
 * the blocks that were in the set. */
TEST(mark_time_orders_later_events)
{
    const uint64_t base = 0x7e4000000000ull;
    const uint32_t me = LIVESET_WHO(5151);
    uint64_t floor = 1000000; /* a floor long before the mark (the clock's now is larger) */
    for (int i = 0; i < 64; i++) /* (a shard's earlier stamps may raise these: any stamp) */
        (void)liveset_add(base + (uint64_t)i * 0x10000u, 16, 0, floor + (uint64_t)i, me);
    liveset_lock_all();
    const uint64_t mark = liveset_mark_time();
    liveset_unlock_all();
    expect_true(mark > floor);
    /* the same thread as the shard's last event, its floor the mark itself: the next quantum */
    expect_true((liveset_add(base + 0x200u, 16, 0, mark, me) >> 6) > (mark >> 6));
    expect_u64_eq(liveset_free(base + 0x200u, mark + 1000000, me).hit, LIVESET_HIT_FOUND);
    for (int i = 0; i < 64; i++) { /* the same thread, its stale floor: after the mark */
        uint64_t t = liveset_add(base + 0x100u + (uint64_t)i * 0x10000u, 16, 0, floor + 100, me);
        expect_true((t >> 6) > (mark >> 6));
        liveset_hit_t h = liveset_free(base + (uint64_t)i * 0x10000u, floor + 100, me);
        expect_u64_eq(h.hit, LIVESET_HIT_FOUND);
        expect_true((h.ts >> 6) > (mark >> 6));
    }
    /* a shard no event touched since the mark (another region), a free that finds nothing */
    liveset_hit_t h = liveset_free(0x7e5000000000ull, floor, me);
    expect_u64_eq(h.hit, 0);
    expect_true((h.ts >> 6) > (mark >> 6));
    for (int i = 0; i < 64; i++)
        expect_u64_eq(liveset_free(base + 0x100u + (uint64_t)i * 0x10000u, mark + 1000000, me).hit,
                      LIVESET_HIT_FOUND);
}

/* The recorders' inline forms (liveset.h liveset_add, liveset_free: the owner's fast path,
 * everything else through liveset.c) against liveset_insert/remove: blocks round-trip with
 * their flags (LIVESET_HIT_FOUND | the flags, 0 when absent), through runs (the shift), the
 * side table (a size an entry cannot hold, flags) and across the two forms; the stamps come
 * back not below what went in, equal for one thread's rising stamps, raised past another
 * thread's last stamp in the shard to the next quantum. */
#define RF_N 2000
TEST(recorder_forms)
{
    const uint64_t base = 0x7e0000000000ull;
    const uint32_t me = LIVESET_WHO(4242), other = LIVESET_WHO(4343);
    uint64_t ts = 1000000;
    for (int i = 0; i < RF_N; i++) { /* two regions: runs, shifts */
        uint64_t size = i % 97 == 0 ? (64ull << 20) : (uint64_t)i + 1; /* some to the side */
        uint32_t f = i % 3 == 0 ? LIVESET_F_LINKER : 0;
        ts += 64;
        uint64_t r = liveset_add(base + (uint64_t)i * 48u, size, f, ts, me);
        expect_u64_eq(r, ts);
    }
    for (int i = 0; i < RF_N; i += 2) { /* half through the other form */
        liveset_block_t e;
        expect_true(liveset_remove(base + (uint64_t)i * 48u, &e, NULL));
        expect_u64_eq(e.size, i % 97 == 0 ? (64ull << 20) : (uint64_t)i + 1);
        expect_u64_eq(e.flags, i % 3 == 0 ? LIVESET_F_LINKER : 0);
    }
    for (int i = 0; i < RF_N; i++) {
        ts += 64;
        liveset_hit_t h = liveset_free(base + (uint64_t)i * 48u, ts, me);
        expect_u64_eq(h.ts, ts);
        expect_u64_eq(h.hit, i % 2 ? LIVESET_HIT_FOUND | (i % 3 == 0 ? LIVESET_F_LINKER : 0) : 0);
    }
    /* liveset_insert's blocks found by liveset_free; absent and unaligned addresses */
    liveset_insert(base + 8, 5, LIVESET_F_IGNORED, NULL);
    ts += 64;
    liveset_hit_t h = liveset_free(base + 8, ts, me);
    expect_u64_eq(h.hit, LIVESET_HIT_FOUND | LIVESET_F_IGNORED);
    expect_u64_eq(liveset_free(base + 8, ts, me).hit, 0);
    expect_u64_eq(liveset_free(base + 3, ts, me).hit, 0);
    expect_u64_eq(liveset_free(base + 0x70000, ts, me).hit, 0); /* a region with no table */
    /* another thread in the shard: its stamp is raised past this one's, to the next quantum */
    uint64_t mine = liveset_add(base + 32, 16, 0, ts + 1000, me);
    expect_u64_eq(mine, ts + 1000);
    uint64_t theirs = liveset_add(base + 48, 16, 0, ts, other);
    expect_true(theirs > mine && (theirs >> 6) > (mine >> 6));
    h = liveset_free(base + 32, ts, other); /* a cross-thread free */
    expect_u64_eq(h.hit, LIVESET_HIT_FOUND);
    expect_true(h.ts >= theirs);
    h = liveset_free(base + 48, ts, me);
    expect_u64_eq(h.hit, LIVESET_HIT_FOUND);
    expect_true(h.ts > theirs);
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

/* Memory (issue 18: the recorder <= 15% of the app): 3 M blocks laid out as kvstore's (a
 * node, a key and a value per key, glibc's chunks: size + 8 rounded up to 16, at least 32,
 * one after another) cost the tables <= 7 bytes a block (6.5 here: ~1300 blocks a region, the
 * border of two classes; kvstore itself: docs/performance.md); after a third of them are freed
 * and as many allocated again elsewhere (kvstore's updates), too. */
#define BPB_N 3000000u
TEST(bytes_per_block)
{
    uint64_t x = 424242, p = 0x7e5000000000ull;
    uint64_t b0 = liveset_bytes();
    static uint64_t ptrs[BPB_N];
    for (uint32_t i = 0; i < BPB_N; i++) {
        uint64_t size = i % 3 == 0 ? 32 : i % 3 == 1 ? 10 + rng(&x) % 12 : 10 + rng(&x) % 90;
        ptrs[i] = p;
        liveset_insert(p, size, 0, NULL);
        uint64_t c = (size + 8 + 15) & ~15ull;
        p += c < 32 ? 32 : c;
    }
    liveset_lock_all();
    expect_u64_eq(liveset_count(), BPB_N);
    liveset_unlock_all();
    double bpb = (double)(liveset_bytes() - b0) / BPB_N;
    for (uint32_t i = 2; i < BPB_N; i += 3) { /* the values: freed, allocated again at the end */
        expect_true(liveset_remove(ptrs[i], NULL, NULL));
        uint64_t size = 10 + rng(&x) % 90, c = (size + 8 + 15) & ~15ull;
        ptrs[i] = p;
        liveset_insert(p, size, 0, NULL);
        p += c < 32 ? 32 : c;
    }
    double bpb2 = (double)(liveset_bytes() - b0) / BPB_N;
    fprintf(stderr, "bytes_per_block: %.2f bytes a block (3 M blocks), %.2f after the updates\n",
            bpb, bpb2);
    expect_true(bpb <= 7.0);
    for (uint32_t i = 0; i < BPB_N; i++)
        expect_true(liveset_remove(ptrs[i], NULL, NULL));
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

TEST_MAIN(TEST_ENTRY(insert_remove_random_order), TEST_ENTRY(two_threads_one_shard),
          TEST_ENTRY(biased_shards_race), TEST_ENTRY(side_table_round_trip),
          TEST_ENTRY(entry_bits_exact), TEST_ENTRY(run_at_the_table_end),
          TEST_ENTRY(imem_usable_and_resident_now), TEST_ENTRY(regions_view),
          TEST_ENTRY(regions_dense_side),
          TEST_ENTRY(fork_child_keeps_blocks), TEST_ENTRY(threads_cross_frees),
          TEST_ENTRY(recorder_forms), TEST_ENTRY(bytes_per_block),
          TEST_ENTRY(regions_release), TEST_ENTRY(mark_time_orders_later_events))
