/*
 * tests/unit/livetab.c -- the replay's block table (analyzer/core/livetab.c): insert, find,
 * kill and reuse keep every field exact; sizes, sites, times and addresses that do not fit an
 * entry (of the layout the table chose) go through the side table and come back exact, and
 * into the array when a rebuild's layout holds them; dead entries last until a rebuild that
 * lacks room (never in a table that did not rebuild); a randomized run of 1 M operations
 * against a plain reference array; at most 24 bytes per live block at the peak; a size hint
 * makes the first large array and no rebuild up to it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/livetab.h"
#include "test.h"

#define BASE 0x55d0c0de0000ull

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static livetab_blk_t blk(uint64_t size, uint64_t ts, uint32_t site, uint8_t fn)
{
    return (livetab_blk_t){size, ts, site, fn};
}

static void expect_blk(const livetab_blk_t *a, const livetab_blk_t *b)
{
    expect_u64_eq(a->size, b->size);
    expect_u64_eq(a->ts, b->ts);
    expect_u64_eq(a->site, b->site);
    expect_u64_eq(a->fn, b->fn);
}

TEST(insert_find_kill_reuse)
{
    livetab_t t = {.small_slots = 1}; /* the variable layouts from the start */
    livetab_blk_t b, a = blk(40, 1000, 3, 1), c = blk(72, 2000, 262143, 30);
    expect_u64_eq(livetab_find(&t, BASE, &b), LIVETAB_ABSENT); /* empty, nothing allocated */
    assert_u64_eq(livetab_set(&t, BASE, &a), 0);
    assert_u64_eq(livetab_find(&t, BASE, &b), LIVETAB_LIVE);
    expect_blk(&b, &a);
    expect_u64_eq(livetab_find(&t, BASE + 16, &b), LIVETAB_ABSENT);
    livetab_kill(&t, BASE + 16); /* not live: nothing */
    expect_u64_eq(t.live, 1);
    expect_u64_eq(t.dead, 0);
    livetab_kill(&t, BASE);
    expect_u64_eq(t.live, 0);
    expect_u64_eq(t.dead, 1);
    assert_u64_eq(livetab_find(&t, BASE, &b), LIVETAB_DEAD);
    expect_u64_eq(b.site, 3); /* a dead block keeps its site and function */
    expect_u64_eq(b.fn, 1);
    livetab_kill(&t, BASE); /* dead: nothing */
    expect_u64_eq(t.dead, 1);
    /* the address allocated again: the dead entry is reused in place */
    size_t used = t.used;
    assert_u64_eq(livetab_set(&t, BASE, &c), 0);
    expect_u64_eq(t.used, used);
    expect_u64_eq(t.live, 1);
    expect_u64_eq(t.dead, 0);
    assert_u64_eq(livetab_find(&t, BASE, &b), LIVETAB_LIVE);
    expect_blk(&b, &c);
    /* a live block replaced (a release the trace lacks) */
    assert_u64_eq(livetab_set(&t, BASE, &a), 0);
    expect_u64_eq(t.live, 1);
    assert_u64_eq(livetab_find(&t, BASE, &b), LIVETAB_LIVE);
    expect_blk(&b, &a);
    /* set and kill of an address other than the last one found */
    livetab_find(&t, BASE, &b);
    assert_u64_eq(livetab_set(&t, BASE + 32, &c), 0);
    livetab_find(&t, BASE + 32, &b);
    livetab_kill(&t, BASE);
    expect_u64_eq(livetab_find(&t, BASE, &b), LIVETAB_DEAD);
    expect_u64_eq(livetab_find(&t, BASE + 32, &b), LIVETAB_LIVE);
    expect_blk(&b, &c);
    /* c's site and fn fit a 16-byte entry only: the 12-byte layout chosen from a's values
     * (the first block) sends it to the side table */
    expect_u64_eq(t.lay.stride, 12);
    expect_u64_eq(t.side_n, 1);
    livetab_free(&t);
}

/* Values that do not fit an entry: the side table keeps them exact. */
TEST(overflow_path)
{
    livetab_t t = {0};
    const uint64_t t0 = 5000000000ull;
    livetab_blk_t b, first = blk(8, t0, 0, 0);
    assert_u64_eq(livetab_set(&t, BASE, &first), 0); /* the time origin */
    struct {
        uint64_t ptr;
        livetab_blk_t b;
    } odd[] = {
        {BASE + 0x1008, {24, t0 + 1, 1, 1}},                  /* 8-byte aligned address */
        {BASE + 0x2003, {24, t0 + 1, 1, 1}},                  /* unaligned */
        {1ull << 50, {24, t0 + 1, 1, 1}},                     /* above 2^47 */
        {UINT64_MAX - 15, {24, t0 + 1, 1, 1}},                /* the top */
        {BASE + 0x3000, {1ull << 40, t0 + 2, 2, 2}},          /* a huge size */
        {BASE + 0x4000, {(1u << 18) - 3, t0 + 2, 2, 2}},      /* the largest packed size */
        {BASE + 0x5000, {(1u << 18) - 2, t0 + 2, 2, 2}},      /* the smallest side size */
        {BASE + 0x6000, {UINT64_MAX, t0 + 3, 3, 3}},          /* the largest size */
        {BASE + 0x7000, {16, t0 + (1ull << 44) - 1, 4, 4}},   /* the latest packed time */
        {BASE + 0x8000, {16, t0 + (1ull << 44), 4, 4}},       /* 4.9 h after the origin */
        {BASE + 0x9000, {16, UINT64_MAX, 4, 4}},              /* far */
        {BASE + 0xa000, {16, t0 - 1, 5, 5}},                  /* before the origin */
        {BASE + 0xb000, {16, 0, 5, 5}},                       /* time 0 */
        {BASE + 0xc000, {16, t0 + 9, 1u << 18, 6}},           /* a large site index */
        {BASE + 0xd000, {16, t0 + 9, UINT32_MAX, 255}},       /* the largest site, fn */
    };
    size_t n = sizeof(odd) / sizeof(odd[0]), nside = 0, nptr = 0;
    /* (fewer than 64 blocks that do not fit: no rebuild for a new layout) */
    for (size_t i = 0; i < n; i++) {
        expect_u64_eq(livetab_find(&t, odd[i].ptr, &b), LIVETAB_ABSENT);
        nside += !livetab_ptr_fits(odd[i].ptr) || !livetab_blk_fits(&t, &odd[i].b);
        nptr += !livetab_ptr_fits(odd[i].ptr);
        assert_u64_eq(livetab_set(&t, odd[i].ptr, &odd[i].b), 0);
    }
    expect_u64_eq(nptr, 4);
    expect_true(nside >= 13); /* at most two fit (5 and 8 in a 16-byte entry) */
    for (size_t i = 0; i < n; i++) {
        assert_u64_eq(livetab_find(&t, odd[i].ptr, &b), LIVETAB_LIVE);
        expect_blk(&b, &odd[i].b);
    }
    expect_u64_eq(t.relayouts, 0);
    expect_u64_eq(t.side_n, nside);
    expect_u64_eq(t.live, n + 1);
    /* kill: dead, site and fn kept; then reuse with data that fits: the side entry goes */
    for (size_t i = 0; i < n; i++) {
        livetab_kill(&t, odd[i].ptr);
        assert_u64_eq(livetab_find(&t, odd[i].ptr, &b), LIVETAB_DEAD);
        expect_u64_eq(b.site, odd[i].b.site);
        expect_u64_eq(b.fn, odd[i].b.fn);
    }
    expect_u64_eq(t.dead, n);
    livetab_blk_t small = blk(32, t0 + 100, 1, 1);
    for (size_t i = 0; i < n; i++)
        assert_u64_eq(livetab_set(&t, odd[i].ptr, &small), 0);
    expect_u64_eq(t.side_n, 4); /* the addresses that do not fit an entry */
    for (size_t i = 0; i < n; i++) {
        assert_u64_eq(livetab_find(&t, odd[i].ptr, &b), LIVETAB_LIVE);
        expect_blk(&b, &small);
    }
    /* and from packed to side again in place */
    assert_u64_eq(livetab_set(&t, BASE + 0x3000, &odd[4].b), 0);
    assert_u64_eq(livetab_find(&t, BASE + 0x3000, &b), LIVETAB_LIVE);
    expect_blk(&b, &odd[4].b);
    expect_u64_eq(t.side_n, 5);
    expect_u64_eq(t.dead, 0);
    expect_u64_eq(t.live, n + 1);
    livetab_free(&t);
}

/* Growth keeps everything; dead entries stay in a table that never rebuilt, and a rebuild
 * without room for them drops them all (livetab.h's policy), the side table's included. */
TEST(growth_and_purge)
{
    livetab_t t = {0};
    livetab_blk_t b;
    const size_t small = LIVETAB_MIN_SLOTS * 8 / 10;
    for (size_t i = 0; i < small; i++) {
        livetab_blk_t x = blk(i, 100 + i, (uint32_t)i, 1);
        assert_u64_eq(livetab_set(&t, BASE + 16 * i, &x), 0);
    }
    for (size_t i = 0; i < small; i++)
        livetab_kill(&t, BASE + 16 * i);
    expect_u64_eq(t.rebuilds - t.relayouts, 1); /* the first allocation (and layouts) */
    for (size_t i = 0; i < small; i++) {
        assert_u64_eq(livetab_find(&t, BASE + 16 * i, &b), LIVETAB_DEAD);
        expect_u64_eq(b.site, i);
    }
    /* one unaligned dead block in the side table */
    livetab_blk_t u = blk(1, 1000, 9, 2);
    assert_u64_eq(livetab_set(&t, BASE + 8, &u), 0);
    livetab_kill(&t, BASE + 8);
    expect_u64_eq(t.side_n, 1);
    /* 200 k new live blocks: the table grows, the dead ones are dropped when room lacks */
    const size_t big = 200000;
    for (size_t i = 0; i < big; i++) {
        livetab_blk_t x = blk(i & 1023, 5000 + i, (uint32_t)(i % 1000), 3);
        assert_u64_eq(livetab_set(&t, BASE + 0x10000000 + 48 * i, &x), 0);
    }
    expect_u64_eq(t.live, big);
    expect_true(t.rebuilds > 5);
    expect_u64_eq(t.dead_dropped, small + 1);
    expect_u64_eq(t.dead, 0);
    expect_u64_eq(t.side_n, 0);
    expect_u64_eq(livetab_find(&t, BASE + 16 * 7, &b), LIVETAB_ABSENT);
    expect_u64_eq(livetab_find(&t, BASE + 8, &b), LIVETAB_ABSENT);
    for (size_t i = 0; i < big; i++) {
        livetab_blk_t x = blk(i & 1023, 5000 + i, (uint32_t)(i % 1000), 3);
        assert_u64_eq(livetab_find(&t, BASE + 0x10000000 + 48 * i, &b), LIVETAB_LIVE);
        expect_blk(&b, &x);
    }
    /* free a tenth, then grow: a rebuild with room for them (live + dead at most 3/4 of the
     * new array) keeps the dead entries */
    for (size_t i = 0; i < big; i += 10)
        livetab_kill(&t, BASE + 0x10000000 + 48 * i);
    uint64_t dropped = t.dead_dropped, rebuilds = t.rebuilds;
    for (size_t i = 0; i < 2 * big; i++) {
        livetab_blk_t x = blk(8, 900000 + i, 1, 1);
        assert_u64_eq(livetab_set(&t, BASE + 0x40000000 + 16 * i, &x), 0);
    }
    expect_true(t.rebuilds > rebuilds);
    expect_u64_eq(t.dead_dropped, dropped);
    expect_u64_eq(t.dead, big / 10);
    expect_u64_eq(livetab_find(&t, BASE + 0x10000000 + 48 * 10, &b), LIVETAB_DEAD);
    expect_u64_eq(b.site, 10);
    expect_u64_eq(b.fn, 3);
    /* a large table (rebuilt in place) with dead entries and side entries, some dead: free
     * nearly all, then new addresses until a rebuild drops the dead ones */
    expect_true(t.nslots * t.lay.stride >= (4u << 20));
    for (size_t i = 0; i < 2 * big; i += 1000) {
        livetab_blk_t x = blk(1ull << 33, 7, 1, 1); /* huge: a marker and a side entry */
        assert_u64_eq(livetab_set(&t, BASE + 0x40000000 + 16 * i, &x), 0);
    }
    expect_u64_eq(t.side_n, 2 * big / 1000);
    for (size_t i = 0; i < 2 * big; i++)
        if (i % 1000 != 500)
            livetab_kill(&t, BASE + 0x40000000 + 16 * i);
    uint64_t dead = t.dead;
    dropped = t.dead_dropped;
    for (size_t i = 0; t.dead_dropped == dropped && i < 8 * big; i++) {
        livetab_blk_t x = blk(24, 2000000 + i, 2, 2);
        assert_u64_eq(livetab_set(&t, BASE + 0x80000000 + 16 * i, &x), 0);
    }
    expect_u64_eq(t.dead_dropped - dropped, dead);
    expect_u64_eq(t.dead, 0);
    expect_u64_eq(t.side_n, 0);
    for (size_t i = 0; i < 2 * big; i++) {
        int st = livetab_find(&t, BASE + 0x40000000 + 16 * i, &b);
        if (i % 1000 == 500) {
            livetab_blk_t x = blk(8, 900000 + i, 1, 1);
            assert_u64_eq(st, LIVETAB_LIVE);
            expect_blk(&b, &x);
        } else if (st != LIVETAB_ABSENT) {
            test_fail_(1, "%zu: state %d after the purge", i, st);
        }
    }
    for (size_t i = 1; i < big; i += 10) {
        livetab_blk_t x = blk(i & 1023, 5000 + i, (uint32_t)(i % 1000), 3);
        assert_u64_eq(livetab_find(&t, BASE + 0x10000000 + 48 * i, &b), LIVETAB_LIVE);
        expect_blk(&b, &x);
    }
    livetab_free(&t);
}

/* ---- randomized against a reference ---------------------------------------------------- */

#define POOL (1u << 19)

typedef struct ref_s {
    uint8_t state;
    livetab_blk_t b;
} ref_t;

/* Address i of the pool: mostly 16-byte aligned and dense, some unaligned or high. */
static uint64_t pool_ptr(uint32_t i)
{
    if (i % 97 == 5)
        return BASE + 16ull * i + 8;
    if (i % 1009 == 7)
        return (1ull << 52) + 16ull * i;
    return BASE + 16ull * i;
}

static void random_run(int growing, size_t small_slots, int fused);

TEST(random_vs_reference)
{
    random_run(0, 0, 0);
}

/* livetab_put and livetab_take (a lookup and its change in one probe) against the same
 * reference: on the small table's 16-byte layout (their inline paths), and on one that grows
 * into the variable layouts (their general ones). */
TEST(random_put_take)
{
    random_run(0, SIZE_MAX, 1);
    random_run(1, 8192, 1);
}

/* The same on a large table whose values stay small: 12-byte entries to the end, so that
 * livetab_put and livetab_take take their fused 12-byte paths (and the general ones for the
 * outliers: side entries, rebuilds, long runs). */
TEST(random_put_take_12)
{
    random_run(2, 1, 1);
}

/* Values that grow slowly (sites, sizes, functions): 12-byte layouts rebuilt into wider ones,
 * then 16-byte entries, while blocks live and die, every value checked against the
 * reference. */
TEST(random_growing_values)
{
    random_run(1, 1, 0);
}

/* The same on a table that keeps the small table's fixed 16-byte layout throughout, and on
 * one that grows from it into the variable layouts (at 8192 slots here). */
TEST(random_small_table)
{
    random_run(0, SIZE_MAX, 0);
}

TEST(random_growing_from_small)
{
    random_run(1, 8192, 0);
}

static void random_run(int growing, size_t small_slots, int fused)
{
    livetab_t t = {.small_slots = small_slots};
    ref_t *ref = calloc(POOL, sizeof(*ref));
    assert_true(ref != NULL);
    uint64_t now = 1000000, live = 0, dead = 0, dropped = 0, mism = 0;
    uint32_t lo = 0, window = 40000;
    livetab_layout_t lay = {0};
    size_t relaid12 = 0; /* rebuilds from a 12-byte layout to another one */
    for (uint32_t op = 0; op < 1000000; op++) {
        /* a window of addresses that slides up: new addresses keep coming */
        if (op % 8 == 0 && lo + window < POOL)
            lo++;
        uint32_t i = lo + (uint32_t)(rnd() % window);
        uint64_t ptr = pool_ptr(i);
        livetab_blk_t b;
        /* fused: a release (livetab_take) of a live block 3 times in 4, of another 1 in 8;
         * else an allocation (livetab_put), which returns the state before */
        int take = fused && (ref[i].state == LIVETAB_LIVE ? rnd() % 4 != 0 : rnd() % 8 == 0);
        int st = !fused ? livetab_find(&t, ptr, &b) : take ? livetab_take(&t, ptr, &b) : -9;
        if (fused && !take)
            st = ref[i].state; /* (livetab_put's own, checked below) */
        if (st != ref[i].state) {
            if (mism++ < 5)
                fprintf(stderr, "op %u: ptr %#llx state %d, expected %d\n", op,
                        (unsigned long long)ptr, st, ref[i].state);
            continue;
        }
        if (fused && !take) {
            /* (nothing looked up yet) */
        } else if (st == LIVETAB_LIVE) {
            expect_blk(&b, &ref[i].b);
        } else if (st == LIVETAB_DEAD) {
            expect_u64_eq(b.site, ref[i].b.site);
            expect_u64_eq(b.fn, ref[i].b.fn);
        }
        now += rnd() % 5000;
        if (fused ? take : st == LIVETAB_LIVE && rnd() % 4) {
            if (st == LIVETAB_LIVE) {
                if (!fused)
                    livetab_kill(&t, ptr);
                ref[i].state = LIVETAB_DEAD;
                live--;
                dead++;
            }
        } else {
            uint64_t r = rnd();
            livetab_blk_t x = {.size = r % 500,
                               .ts = now,
                               .site = (uint32_t)((r >> 20) % 3000),
                               .fn = (uint8_t)((r >> 40) % 31)};
            if (growing == 1) {
                x.size = (r % (16 + op / 64)) & 0x7fff;
                x.site = (uint32_t)((r >> 20) % (2 + op / 4096));
                x.fn = (uint8_t)((r >> 40) % (1 + op / 200000));
            } else if (growing == 2) { /* small values: the 12-byte layout throughout */
                x.size = r % 200;
                x.site = (uint32_t)((r >> 20) % 60);
                x.fn = (uint8_t)((r >> 40) % 3);
            }
            uint64_t rare = growing == 2 ? r % 10 : 0; /* small values: outliers rarer */
            if (r % 211 == 0 && (!growing || r % 5 == 0) && !rare) /* growing: rarer */
                x.size = (r >> 8) % (1ull << 40); /* huge */
            if (r % 223 == 1 && !rare)
                x.ts = now + (1ull << 45); /* far */
            if (r % 227 == 2 && !rare)
                x.site = 1u << 20;
            if (fused) {
                livetab_blk_t old;
                int was = livetab_put(&t, ptr, &x, &old);
                if (was < 0)
                    test_fail_(1, "out of memory");
                if (was != ref[i].state && mism++ < 5)
                    fprintf(stderr, "op %u: put %#llx state %d, expected %d\n", op,
                            (unsigned long long)ptr, was, ref[i].state);
                if (was == LIVETAB_LIVE && ref[i].state == LIVETAB_LIVE)
                    expect_blk(&old, &ref[i].b);
            } else if (livetab_set(&t, ptr, &x) != 0) {
                test_fail_(1, "out of memory");
            }
            if (ref[i].state == LIVETAB_DEAD)
                dead--;
            if (ref[i].state != LIVETAB_LIVE)
                live++;
            ref[i].state = LIVETAB_LIVE;
            ref[i].b = x;
        }
        if (memcmp(&t.lay, &lay, sizeof lay)) { /* a rebuild changed the layout */
            relaid12 += lay.stride == 12 && t.lay.stride == 12;
            lay = t.lay;
        }
        if (t.dead_dropped != dropped) { /* a rebuild dropped every dead entry */
            for (uint32_t k = 0; k < POOL; k++)
                if (ref[k].state == LIVETAB_DEAD)
                    ref[k].state = LIVETAB_ABSENT;
            expect_u64_eq(t.dead_dropped - dropped, dead);
            dropped = t.dead_dropped;
            dead = 0;
        }
        if (t.live != live || t.dead != dead) {
            test_fail_(1, "op %u: live %llu dead %llu, expected %llu %llu", op,
                       (unsigned long long)t.live, (unsigned long long)t.dead,
                       (unsigned long long)live, (unsigned long long)dead);
        }
    }
    expect_u64_eq(mism, 0);
    if (small_slots == SIZE_MAX)
        expect_u64_eq(t.lay.stride, 16);
    expect_true(t.rebuilds > 3);
    expect_true(dropped > 0);
    expect_true(t.side_n > 0);
    if (growing == 2)
        expect_u64_eq(t.lay.stride, 12);
    if (growing == 1) {
        fprintf(stderr, "growing: %llu rebuilds, %llu for a layout, %zu from 12 bytes to 12, "
                        "stride %u at the end\n",
                (unsigned long long)t.rebuilds, (unsigned long long)t.relayouts, relaid12,
                t.lay.stride);
        expect_true(relaid12 > 0);
        expect_u64_eq(t.lay.stride, 16); /* from 12-byte layouts (after 16 while small) */
    }
    /* every address agrees at the end */
    for (uint32_t k = 0; k < POOL; k++) {
        livetab_blk_t b;
        int st = livetab_find(&t, pool_ptr(k), &b);
        if (st != ref[k].state)
            test_fail_(1, "end: %u: state %d, expected %d", k, st, ref[k].state);
        if (st == LIVETAB_LIVE)
            expect_blk(&b, &ref[k].b);
    }
    free(ref);
    livetab_free(&t);
}

/* A table that grows into the reserved address space (arrays of 4 MiB and more, rebuilt in
 * place) keeps every block: 1.2 M live blocks, a tenth of them released as it grows (dead
 * entries, kept or dropped by the rebuilds), every one checked at each tenth of the way. */
TEST(large_growth_in_place)
{
    livetab_t t = {0};
    const uint32_t n = 1200000;
    uint8_t *killed = calloc(n, 1);
    assert_true(killed != NULL);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t ptr = BASE + 32ull * i;
        livetab_blk_t b;
        expect_u64_eq(livetab_find(&t, ptr, &b), LIVETAB_ABSENT);
        assert_u64_eq(livetab_set(&t, ptr, &(livetab_blk_t){16 + i % 200, 5000 + i, i % 777,
                                                             (uint8_t)(i % 3)}),
                      0);
        if (i % 10 == 9) {
            uint32_t k = (uint32_t)(rnd() % (i + 1));
            if (livetab_find(&t, BASE + 32ull * k, &b) == LIVETAB_LIVE) {
                livetab_kill(&t, BASE + 32ull * k);
                killed[k] = 1;
            }
        }
        if (i % (n / 10) == n / 10 - 1 || i == n - 1) {
            for (uint32_t k = 0; k <= i; k++) {
                int st = livetab_find(&t, BASE + 32ull * k, &b);
                if (killed[k]) {
                    if (st != LIVETAB_DEAD && st != LIVETAB_ABSENT)
                        test_fail_(1, "%u: state %d, expected dead or absent", k, st);
                    if (st == LIVETAB_DEAD)
                        expect_u64_eq(b.site, k % 777);
                } else if (st != LIVETAB_LIVE) {
                    test_fail_(1, "at %u: %u: state %d, expected live", i, k, st);
                } else {
                    expect_blk(&b, &(livetab_blk_t){16 + k % 200, 5000 + k, k % 777,
                                                    (uint8_t)(k % 3)});
                }
            }
        }
    }
    expect_true(t.nslots * t.lay.stride >= (8u << 20)); /* grew in the reservation */
    expect_true(t.rebuilds > 10);
    free(killed);
    livetab_free(&t);
}

/* livetab_hint: the first large array is sized for the hinted peak, n + n / 4 slots, and
 * does not rebuild again up to it; past it the table grows as without a hint; every block
 * stays exact. */
TEST(hinted_size)
{
    const uint32_t n = 300000;
    for (int over = 0; over < 2; over++) {
        livetab_t t = {0};
        livetab_hint(&t, n);
        uint32_t m = over ? 2 * n : n;
        uint64_t rebuilds_large = 0;
        size_t first_large = 0;
        for (uint32_t i = 0; i < m; i++) {
            uint64_t ptr = BASE + 16ull * (i * 5 + i % 3);
            livetab_blk_t b;
            expect_u64_eq(livetab_find(&t, ptr, &b), LIVETAB_ABSENT);
            uint64_t r0 = t.rebuilds;
            size_t large0 = t.nslots >= LIVETAB_SMALL_SLOTS;
            livetab_blk_t x = {24 + i % 300, 700 + i, i % 91, 1};
            assert_u64_eq(livetab_set(&t, ptr, &x), 0);
            if (t.rebuilds != r0 && large0)
                rebuilds_large++;
            if (!first_large && t.nslots >= LIVETAB_SMALL_SLOTS)
                first_large = t.nslots;
        }
        expect_u64_eq(first_large, n + n / 4);
        if (over)
            expect_true(rebuilds_large > 0 && t.nslots > first_large);
        else
            expect_u64_eq(rebuilds_large, 0);
        for (uint32_t k = 0; k < m; k++) {
            livetab_blk_t b;
            assert_u64_eq(livetab_find(&t, BASE + 16ull * (k * 5 + k % 3), &b), LIVETAB_LIVE);
            expect_blk(&b, &(livetab_blk_t){24 + k % 300, 700 + k, k % 91, 1});
        }
        livetab_free(&t);
    }
}

/* At most 24 bytes per live block at the peak, dead entries included (side table empty). */
TEST(bytes_per_live_block)
{
    livetab_t t = {0};
    const size_t n = 1500000;
    uint64_t worst_x1000 = 0;
    for (size_t i = 0; i < n; i++) {
        /* heap-like: mostly ascending, sizes 16..4096, with frees of older blocks */
        uint64_t ptr = BASE + 16 * (i * 3 + (rnd() & 1));
        livetab_blk_t x = blk(16 + rnd() % 4080, 1000 + i, (uint32_t)(i % 5000), 1);
        livetab_blk_t b;
        livetab_find(&t, ptr, &b);
        assert_u64_eq(livetab_set(&t, ptr, &x), 0);
        if (i % 5 == 4) {
            uint64_t old = BASE + 16 * ((rnd() % (i + 1)) * 3);
            livetab_find(&t, old, &b);
            livetab_kill(&t, old);
        }
        if (t.peak_live * 3 / 2 >= LIVETAB_MIN_SLOTS) {
            uint64_t x1000 = livetab_bytes(&t) * 1000 / t.peak_live;
            if (x1000 > worst_x1000)
                worst_x1000 = x1000;
        }
    }
    expect_u64_eq(t.side_n, 0);
    fprintf(stderr, "peak %llu live blocks, %zu bytes: worst %.2f bytes per live block at the "
                    "peak, %llu rebuilds, %llu dead entries dropped\n",
            (unsigned long long)t.peak_live, livetab_bytes(&t), worst_x1000 / 1000.0,
            (unsigned long long)t.rebuilds, (unsigned long long)t.dead_dropped);
    expect_u64_le(worst_x1000, 24000);
    livetab_free(&t);
}

/* A small table (below LIVETAB_SMALL_SLOTS) has the fixed 16-byte layout whatever its values
 * (no side entry for a site or function a 12-byte layout would not hold); grown past it, the
 * variable layout chosen from the blocks it holds then, every block exact through the change;
 * one whose values need the 16-byte widths keeps them for good. */
TEST(small_table_fixed_layout)
{
    livetab_t t = {0};
    livetab_blk_t b, a = blk(40, 1000, 3, 1), c = blk(72, 2000, 262143, 30);
    assert_u64_eq(livetab_set(&t, BASE, &a), 0);
    assert_u64_eq(livetab_set(&t, BASE + 32, &c), 0);
    expect_u64_eq(t.lay.stride, 16);
    expect_u64_eq(t.side_n, 0);
    livetab_kill(&t, BASE + 32);
    assert_u64_eq(livetab_find(&t, BASE + 32, &b), LIVETAB_DEAD);
    expect_u64_eq(b.site, 262143);
    expect_u64_eq(b.fn, 30);
    livetab_free(&t);

    /* small values: 12-byte entries once the array reaches LIVETAB_SMALL_SLOTS */
    t = (livetab_t){0};
    const size_t n = 2 * LIVETAB_SMALL_SLOTS; /* 4/5 live: past the small table */
    uint64_t rebuilds16 = 0;
    for (size_t i = 0; i < n; i++) {
        livetab_blk_t x = blk(8 + i % 300, 1000000 + 100 * i, (uint32_t)(i % 40), 2);
        assert_u64_eq(livetab_set(&t, BASE + 32 * i, &x), 0);
        if (i % 5 == 0)
            livetab_kill(&t, BASE + 32 * i);
        if (t.lay.stride == 16) {
            expect_u64_le(t.nslots, LIVETAB_SMALL_SLOTS + (LIVETAB_SMALL_SLOTS >> 6));
            rebuilds16 = t.rebuilds;
        }
    }
    expect_true(rebuilds16 > 1);
    expect_u64_eq(t.lay.stride, 12);
    expect_true(t.nslots >= LIVETAB_SMALL_SLOTS);
    expect_u64_eq(t.side_n, 0);
    expect_u64_eq(t.wide_for_good, 0);
    for (size_t i = 0; i < n; i++) {
        livetab_blk_t x = blk(8 + i % 300, 1000000 + 100 * i, (uint32_t)(i % 40), 2);
        int st = livetab_find(&t, BASE + 32 * i, &b);
        if (i % 5 == 0 && st != LIVETAB_ABSENT) { /* dead, or dropped by a rebuild */
            assert_u64_eq(st, LIVETAB_DEAD);
            expect_u64_eq(b.site, x.site);
            expect_u64_eq(b.fn, x.fn);
        } else if (i % 5) {
            assert_u64_eq(st, LIVETAB_LIVE);
            expect_blk(&b, &x);
        }
    }
    livetab_free(&t);

    /* sites that need 18 bits (and a long trace): 16 bytes for good */
    t = (livetab_t){.small_slots = 8192};
    for (size_t i = 0; i < 20000; i++) {
        livetab_blk_t x = blk(8 + i % 300, 1000000 + (i << 26), (uint32_t)(i * 13), 2);
        assert_u64_eq(livetab_set(&t, BASE + 32 * i, &x), 0);
    }
    expect_u64_eq(t.lay.stride, 16);
    expect_u64_eq(t.wide_for_good, 1);
    for (size_t i = 0; i < 20000; i++) {
        livetab_blk_t x = blk(8 + i % 300, 1000000 + (i << 26), (uint32_t)(i * 13), 2);
        assert_u64_eq(livetab_find(&t, BASE + 32 * i, &b), LIVETAB_LIVE);
        expect_blk(&b, &x);
    }
    livetab_free(&t);
}

/* Small sites, sizes and functions keep 12-byte entries (at most 12 x 1.4 bytes per live block
 * with the tail, here about 17); blocks that outgrow the layout go to the side table until a
 * rebuild for a layout, here to 16-byte entries in place (a table in the reservation), and
 * every block, live or dead, stays exact through both. */
TEST(compact_layout_and_relayout)
{
    livetab_t t = {0};
    livetab_blk_t b;
    const size_t n = 400000;
    for (size_t i = 0; i < n; i++) {
        livetab_blk_t x = blk(8 + i % 200, 1000000 + 100 * i, (uint32_t)(i % 12), 1);
        assert_u64_eq(livetab_set(&t, BASE + 32 * i, &x), 0);
    }
    expect_u64_eq(t.lay.stride, 12);
    expect_u64_eq(t.side_n, 0);
    expect_true(t.nslots * t.lay.stride >= (4u << 20)); /* in place from here */
    fprintf(stderr, "compact: %.2f bytes per live block, %llu rebuilds\n",
            (double)livetab_bytes(&t) / (double)t.peak_live, (unsigned long long)t.rebuilds);
    expect_u64_le(livetab_bytes(&t) * 100 / t.peak_live, 1720);
    for (size_t i = 0; i < n; i += 7)
        livetab_kill(&t, BASE + 32 * i);
    /* sites beyond the layout: side entries, then a rebuild for a layout */
    uint64_t rebuilds = t.rebuilds;
    for (size_t i = 0; i < 20000; i++) {
        livetab_blk_t x = blk(100000 + i, 2000000000 + i, (uint32_t)(200000 + i), 7);
        assert_u64_eq(livetab_set(&t, BASE + 32 * (n + i), &x), 0);
    }
    expect_true(t.relayouts > 0 && t.rebuilds > rebuilds);
    expect_u64_eq(t.lay.stride, 16);
    expect_u64_eq(t.side_n, 0); /* all back in the array */
    for (size_t i = 0; i < n; i++) {
        livetab_blk_t x = blk(8 + i % 200, 1000000 + 100 * i, (uint32_t)(i % 12), 1);
        int st = livetab_find(&t, BASE + 32 * i, &b);
        if (i % 7 == 0) {
            assert_u64_eq(st, LIVETAB_DEAD);
            expect_u64_eq(b.site, x.site);
        } else {
            assert_u64_eq(st, LIVETAB_LIVE);
            expect_blk(&b, &x);
        }
    }
    for (size_t i = 0; i < 20000; i++) {
        livetab_blk_t x = blk(100000 + i, 2000000000 + i, (uint32_t)(200000 + i), 7);
        assert_u64_eq(livetab_find(&t, BASE + 32 * (n + i), &b), LIVETAB_LIVE);
        expect_blk(&b, &x);
    }
    livetab_free(&t);
}

/* Keys keep each aligned group of LIVETAB_GROUP_BITS (8 16-byte units, 128 bytes) together
 * and in address order, and scatter the groups: the key is a bijection on 43 bits (distinct
 * addresses, distinct keys; never 0), a group's addresses have consecutive keys, and a run of
 * ascending addresses, as an allocator carves them, lands in adjacent slots of a large table
 * group by group (every block found, in a table of 12-byte entries). */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

TEST(grouped_keys)
{
    const size_t n = 1u << 18;
    uint64_t *k = malloc(n * sizeof(*k));
    assert_true(k != NULL);
    for (size_t i = 0; i < n; i++) {
        /* random units, and the units of a dense run (the same and neighbouring groups) */
        uint64_t x = i % 2 ? (rnd() & LIVETAB_KEY_MASK) | 1 : 0x55d0c0de0ull + i;
        k[i] = livetab_perm43(x);
        expect_true(k[i] != 0 && k[i] <= LIVETAB_KEY_MASK);
        expect_u64_eq(k[i] & LIVETAB_GROUP_MASK, x & LIVETAB_GROUP_MASK);
        if ((x & LIVETAB_GROUP_MASK) != LIVETAB_GROUP_MASK)
            expect_u64_eq(livetab_perm43(x + 1), k[i] + 1);
    }
    qsort(k, n, sizeof(*k), cmp_u64);
    size_t dup = 0;
    for (size_t i = 1; i < n; i++)
        dup += k[i] == k[i - 1];
    expect_u64_eq(dup, 0);
    free(k);

    /* ascending blocks of 32..160 bytes: a group's blocks share a home, in address order */
    livetab_t t = {.small_slots = 1};
    livetab_hint(&t, 600000);
    uint64_t ptr = BASE, adjacent = 0, pairs = 0;
    for (uint32_t i = 0; i < 600000; i++) {
        livetab_blk_t x = blk(24 + i % 100, 1000 + i, i % 7, 1), old;
        assert_u64_eq(livetab_put(&t, ptr, &x, &old), LIVETAB_ABSENT);
        ptr += 32 + 16 * (i % 9);
    }
    expect_u64_eq(t.lay.stride, 12);
    ptr = BASE;
    size_t prev_pos = 0;
    uint64_t prev = 0;
    for (uint32_t i = 0; i < 600000; i++) {
        livetab_blk_t b;
        assert_u64_eq(livetab_find(&t, ptr, &b), LIVETAB_LIVE);
        expect_blk(&b, &(livetab_blk_t){24 + i % 100, 1000 + i, i % 7, 1});
        if (i && (prev >> 4 >> LIVETAB_GROUP_BITS) == (ptr >> 4 >> LIVETAB_GROUP_BITS)) {
            pairs++;
            adjacent += t.last_pos == prev_pos + 1;
        }
        prev = ptr;
        prev_pos = t.last_pos;
        ptr += 32 + 16 * (i % 9);
    }
    expect_true(pairs > 100000);
    expect_u64_eq(adjacent, pairs); /* the same group: the next slot */
    livetab_free(&t);
}

/* livetab_put and livetab_take (the small table's inline paths) at each limit of a 16-byte
 * entry and just past it (site 2^18, function 32, time 2^44 after the origin, before it, the
 * side table's size): every block comes back exact from a new entry, a dead one reused and a
 * live one replaced, and a dead one keeps its site and function. */
TEST(put_take_at_the_limits)
{
    livetab_t t = {0};
    const uint64_t t0 = 7000000000ull;
    livetab_blk_t b, old, first = blk(8, t0, 0, 0);
    assert_u64_eq(livetab_put(&t, BASE, &first, &old), LIVETAB_ABSENT); /* the origin */
    const livetab_blk_t lim[] = {
        {16, t0 + 1, (1u << 18) - 1, 31},        {16, t0 + 1, 1u << 18, 31},
        {16, t0 + 1, 5, 32},                      {16, t0 + 1, 5, 255},
        {16, t0 + (1ull << 44) - 1, 5, 1},        {16, t0 + (1ull << 44), 5, 1},
        {16, t0 - 1, 5, 1},                       {(1u << 18) - 3, t0 + 2, 5, 1},
        {(1u << 18) - 2, t0 + 2, 5, 1},           {(1u << 18) - 1, t0 + 2, 5, 1},
        {0, t0 + 3, 0, 0},                        {16, t0 + 3, UINT32_MAX, 255},
    };
    const size_t n = sizeof lim / sizeof lim[0];
    for (size_t i = 0; i < n; i++) {
        uint64_t p = BASE + 0x10000 + i * 0x40;
        const livetab_blk_t *x = &lim[i], *y = &lim[(i + 1) % n];
        expect_u64_eq(livetab_put(&t, p, x, &old), LIVETAB_ABSENT);
        expect_u64_eq(livetab_take(&t, p, &b), LIVETAB_LIVE);
        expect_blk(&b, x);
        expect_u64_eq(livetab_take(&t, p, &b), LIVETAB_DEAD);
        expect_u64_eq(b.site, x->site);
        expect_u64_eq(b.fn, x->fn);
        expect_u64_eq(livetab_put(&t, p, y, &old), LIVETAB_DEAD); /* reused */
        expect_u64_eq(livetab_put(&t, p, x, &old), LIVETAB_LIVE); /* replaced */
        expect_blk(&old, y);
        expect_u64_eq(livetab_find(&t, p, &b), LIVETAB_LIVE);
        expect_blk(&b, x);
    }
    expect_u64_eq(t.live, n + 1);
    expect_u64_eq(t.dead, 0);
    for (size_t i = 0; i < n; i++)
        expect_u64_eq(livetab_take(&t, BASE + 0x10000 + i * 0x40, &b), LIVETAB_LIVE);
    expect_u64_eq(t.live, 1);
    expect_u64_eq(t.dead, n);
    livetab_free(&t);
}

/* The fast paths' key (livetab_kw43, livetab_home_kw) is the key of livetab_perm43 shifted
 * to the top, with its home, for any 43-bit value: random ones and the edges. */
TEST(shifted_key_is_the_key)
{
    static const uint64_t edge[] = {1, 7, 8, 9, 15, 16, LIVETAB_KEY_MASK, LIVETAB_KEY_MASK - 7,
                                    LIVETAB_KEY_MASK - 8, 1ull << 42, (1ull << 42) - 1};
    static const size_t nh[] = {1, 4032, 65472, 3000000, (size_t)1 << 40};
    size_t bad = 0;
    for (size_t i = 0; i < 200000 + sizeof edge / sizeof edge[0]; i++) {
        uint64_t x = i < sizeof edge / sizeof edge[0] ? edge[i] : rnd() & LIVETAB_KEY_MASK;
        uint64_t key = livetab_perm43(x), kw = livetab_kw43(x);
        bad += kw != key << LIVETAB_KEY_SHIFT || kw >> LIVETAB_KEY_SHIFT != key;
        for (size_t j = 0; j < sizeof nh / sizeof nh[0]; j++)
            bad += livetab_home_kw(kw, nh[j]) != livetab_home(key, nh[j]);
    }
    expect_u64_eq(bad, 0);
}

TEST_MAIN(TEST_ENTRY(insert_find_kill_reuse), TEST_ENTRY(put_take_at_the_limits),
          TEST_ENTRY(shifted_key_is_the_key), TEST_ENTRY(random_put_take_12),
          TEST_ENTRY(grouped_keys), TEST_ENTRY(small_table_fixed_layout),
          TEST_ENTRY(random_small_table), TEST_ENTRY(random_growing_from_small),
          TEST_ENTRY(random_put_take),
          TEST_ENTRY(compact_layout_and_relayout), TEST_ENTRY(overflow_path),
          TEST_ENTRY(growth_and_purge), TEST_ENTRY(random_vs_reference),
          TEST_ENTRY(random_growing_values), TEST_ENTRY(bytes_per_live_block),
          TEST_ENTRY(large_growth_in_place), TEST_ENTRY(hinted_size))
