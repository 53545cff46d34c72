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
 * Entries a 16-byte slot cannot hold round-trip through the side table. The exit scan's
 * export frees the tables and gives every entry back once. (And imem's page-filling size
 * and its resident count "now", which the tables and the exit scan's sample use.) */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
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

TEST(insert_remove_random_order)
{
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 3; round++) {
        uint64_t base = 0x7f0000000000ull + (uint64_t)round * 0x100000000ull;
        for (int i = 0; i < N; i++) { /* 16-byte blocks of one 64 KiB region: one shard */
            addr[i] = base + (uint64_t)i * 16u;
            gone[i] = 0;
            liveset_insert(addr[i], (uint64_t)i + 1, (uint32_t)i, 0, NULL);
        }
        for (int i = 0; i < N; i++)
            expect_true(liveset_set_flags(addr[i], 0));
        expect_true(!liveset_set_flags(base + 8, 0)); /* not a block's start */
        for (int k = 0; k < N; k++) {
            int i = (int)(rng(&x) % N);
            liveset_entry_t e;
            memset(&e, 0, sizeof e);
            int found = liveset_remove(addr[i], &e, NULL);
            expect_u64_eq(found, !gone[i]);
            if (found) {
                expect_u64_eq(e.ptr, addr[i]);
                expect_u64_eq(e.size, (uint64_t)i + 1);
                expect_u64_eq(e.stack, (uint64_t)i);
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
            liveset_insert(p, 1, 0, 0, NULL);
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

/* Entries a 16-byte slot cannot hold (a size of 32 MiB or more, an address not 8-aligned or
 * above 2^47) go to the shard's side table; every entry comes back whole, with all 24 tid
 * bits; an address that moves between the two tables (a release never seen) is there once. */
TEST(side_table_round_trip)
{
    static const struct {
        uint64_t ptr, size;
    } c[] = {
        {0x7d0000000010ull, 16},                /* a slot */
        {0x7d0000000020ull, 1ull << 25},        /* too large for a slot */
        {0x7d0000000031ull, 1},                 /* not 8-aligned */
        {0x7d0000000040ull, (1ull << 25) - 1},  /* the largest a slot holds */
        {0x900000000040ull, 8},                 /* above 2^47 */
        {0x7d0000000050ull, 1ull << 40},
    };
    const unsigned nc = sizeof c / sizeof c[0];
    for (unsigned k = 0; k < nc; k++)
        liveset_insert(c[k].ptr, c[k].size, 100 + k, LIVESET_F_TID(0xabcdefu - k) | (k & 7u), NULL);
    liveset_lock_all();
    expect_u64_eq(liveset_count(), nc);
    liveset_entry_t out[8];
    expect_u64_eq(liveset_export(out, 8), nc);
    liveset_unlock_all();
    for (unsigned k = 0; k < nc; k++) {
        int seen = 0;
        for (unsigned j = 0; j < nc; j++)
            if (out[j].ptr == c[k].ptr) {
                seen++;
                expect_u64_eq(out[j].size, c[k].size);
                expect_u64_eq(out[j].stack, 100 + k);
                expect_u64_eq(out[j].flags, LIVESET_F_TID(0xabcdefu - k) | (k & 7u));
            }
        expect_u64_eq(seen, 1);
    }
    /* flags set in either table; a release never seen moves a block between them */
    for (unsigned k = 0; k < nc; k++)
        expect_true(liveset_set_flags(c[k].ptr, LIVESET_F_IGNORED));
    liveset_insert(c[0].ptr, 1ull << 30, 7, 0, NULL);  /* slot -> side */
    liveset_insert(c[1].ptr, 64, 8, 0, NULL);          /* side -> slot */
    liveset_lock_all();
    expect_u64_eq(liveset_count(), nc);
    liveset_unlock_all();
    for (unsigned k = 0; k < nc; k++) {
        liveset_entry_t e;
        memset(&e, 0, sizeof e);
        expect_true(liveset_remove(c[k].ptr, &e, NULL));
        expect_u64_eq(e.ptr, c[k].ptr);
        if (k == 0) {
            expect_u64_eq(e.size, 1ull << 30);
            expect_u64_eq(e.flags, 0);
        } else if (k == 1) {
            expect_u64_eq(e.size, 64);
            expect_u64_eq(e.stack, 8);
        } else {
            expect_u64_eq(e.size, c[k].size);
            expect_u64_eq(e.flags,
                          LIVESET_F_TID(0xabcdefu - k) | (k & 7u) | LIVESET_F_IGNORED);
        }
        expect_true(!liveset_remove(c[k].ptr, NULL, NULL));
    }
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

/* Every bit of a slot: all-ones fields come back whole (the size's bits 20..24 are kept apart
 * from its low 20); an address that matches a slot's key only in bits a slot does not hold
 * (not 8-aligned, or 2^47 above it) is not that block. */
TEST(slot_bits_exact)
{
    const uint64_t p = 0x7c0000000100ull, size = (1ull << 25) - 1;
    const uint32_t flags = LIVESET_F_TID(0xffffffu) | 7u;
    liveset_insert(p, size, 0xffffffffu, flags, NULL);
    liveset_insert(p + 16, 1ull << 20, 0, LIVESET_F_TID(1), NULL);
    for (uint64_t d = 1; d < 8; d++)
        expect_true(!liveset_remove(p + d, NULL, NULL));
    expect_true(!liveset_remove(p | 1ull << 47, NULL, NULL));
    expect_true(!liveset_remove(p | 1ull << 63, NULL, NULL));
    liveset_entry_t e;
    expect_true(liveset_remove(p + 16, &e, NULL));
    expect_u64_eq(e.size, 1ull << 20);
    expect_u64_eq(e.flags, LIVESET_F_TID(1));
    expect_true(liveset_remove(p, &e, NULL));
    expect_u64_eq(e.ptr, p);
    expect_u64_eq(e.size, size);
    expect_u64_eq(e.stack, 0xffffffffu);
    expect_u64_eq(e.flags, flags);
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

/* Blocks whose homes are all the table's last ones (hashes in the top 1/192 of the range,
 * one shard): their run reaches the end of the table's tail, which makes the table grow
 * (again while it rehashes, until the homes spread); every block is found, and after each
 * remove (back-shifts at the table's end) exactly the others are. */
#define TAILN 100
TEST(run_at_the_table_end)
{
    static uint64_t p[TAILN];
    unsigned np = 0;
    const uint64_t shard = ls_shard_index(0x7a0000000000ull), top = UINT64_MAX / 192 * 191;
    for (uint64_t r = 0x7a0000000000ull >> 16; np < TAILN; r++) {
        if (ls_shard_index(r << 16) != shard)
            continue;
        for (uint64_t q = r << 16; q < (r + 1) << 16 && np < TAILN; q += 8)
            if (ls_hash(q) >= top)
                p[np++] = q;
    }
    for (unsigned i = 0; i < TAILN; i++)
        liveset_insert(p[i], i + 1, i, 0, NULL);
    for (unsigned i = 0; i < TAILN; i++)
        expect_true(liveset_set_flags(p[i], 0));
    for (unsigned k = 0; k < TAILN; k++) {
        unsigned i = (k * 37u) % TAILN; /* 37 is prime to 100: each once */
        liveset_entry_t e;
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

/* The exit scan's export: every entry comes out once, whole (side-table ones too), and the
 * tables are gone (no bytes, no entries); the set still works after it, empty. Last: the set
 * stays released. */
#define RN 50000
static liveset_entry_t rout[RN + 8];
static unsigned char rseen[RN];
TEST(export_release)
{
    for (uint64_t i = 0; i < RN; i++) /* 48-byte blocks over ~37 regions: many shards */
        liveset_insert(0x7b0000000000ull + i * 48u, i % 1000 + 1, (uint32_t)i, LIVESET_F_TID(i), NULL);
    liveset_insert(0x7b1000000000ull, 1ull << 26, 5, 0, NULL); /* a side-table entry */
    expect_true(liveset_bytes() > 0);
    expect_true(!liveset_released());
    liveset_lock_all();
    expect_u64_eq(liveset_count(), RN + 1);
    uint64_t n = liveset_export_release(rout, RN + 8);
    expect_u64_eq(n, RN + 1);
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
    expect_u64_eq(liveset_bytes(), 0);
    expect_true(liveset_released());
    int side = 0;
    for (uint64_t k = 0; k < n; k++) {
        if (rout[k].ptr == 0x7b1000000000ull) {
            side++;
            expect_u64_eq(rout[k].size, 1ull << 26);
            continue;
        }
        uint64_t i = (rout[k].ptr - 0x7b0000000000ull) / 48u;
        assert_true(i < RN && rout[k].ptr == 0x7b0000000000ull + i * 48u);
        expect_true(!rseen[i]);
        rseen[i] = 1;
        expect_u64_eq(rout[k].size, i % 1000 + 1);
        expect_u64_eq(rout[k].stack, i);
        expect_u64_eq(rout[k].flags, LIVESET_F_TID(i));
    }
    expect_u64_eq(side, 1);
    /* afterwards: the old blocks are not found, new ones are */
    expect_true(!liveset_remove(0x7b0000000000ull, NULL, NULL));
    liveset_insert(0x7b0000000000ull, 8, 1, 0, NULL);
    expect_true(liveset_remove(0x7b0000000000ull, NULL, NULL));
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
            liveset_insert(b_addr(i, 0), 32, (uint32_t)i, 0, NULL);
            __atomic_store_n(&b_live[i], 1, __ATOMIC_RELEASE);
        }
        if (liveset_shard_state(b_addr(i, 0)) == LIVESET_SHARD_MINE)
            __atomic_store_n(&b_mine, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static liveset_entry_t b_out[4 * BR * BK];
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
            liveset_insert(b_addr(r * BK + c % BK, 1), 16, 7, 0, NULL);
        for (int r = 0; c & 1 && r < BR; r++)
            if (!liveset_remove(b_addr(r * BK + c % BK, 1), NULL, NULL))
                __atomic_add_fetch(&b_bad, 1, __ATOMIC_RELAXED);
        liveset_lock_all();
        uint64_t n = liveset_export(b_out, 4 * BR * BK);
        static unsigned char seen[BR * BK];
        memset(seen, 0, sizeof seen);
        for (uint64_t k = 0; k < n; k++) {
            uint64_t off = b_out[k].ptr - 0x7a0000000000ull;
            if (off / 0x10000u >= BR || (off & 16)) { /* not ours, or one of ours left */
                __atomic_add_fetch(&b_bad, (off & 16) && off / 0x10000u < BR, __ATOMIC_RELAXED);
                continue;
            }
            int i = (int)(off / 0x10000u) * BK + (int)(off % 0x10000u / 32u);
            if (seen[i]++ || b_out[k].stack != (uint32_t)i)
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
    liveset_insert(b_addr(0, 1), 16, 7, 0, NULL);
    expect_true(liveset_remove(b_addr(0, 1), NULL, NULL));
    int st = liveset_shard_state(b_addr(0, 0));
    expect_true(st == LIVESET_SHARD_SHARED || st == LIVESET_SHARD_NO_BIAS);
    for (int i = 0; i < BR * BK; i++) /* exactly the owner's live blocks are left */
        expect_u64_eq(liveset_remove(b_addr(i, 0), NULL, NULL), b_live[i]);
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

/* The recorders' inline forms (liveset.h liveset_add, liveset_free: the owner's fast path,
 * everything else through liveset.c) against liveset_insert/remove: entries round-trip with
 * their flags (LIVESET_HIT_FOUND | the flags word, 0 when absent), through runs (the shift),
 * the side table (a size a slot cannot hold) and across the two forms; the stamps come back
 * not below what went in, equal for one thread's rising stamps, raised past another
 * thread's last stamp in the shard to the next quantum. */
#define RF_N 2000
TEST(recorder_forms)
{
    const uint64_t base = 0x7e0000000000ull;
    const uint32_t me = LIVESET_F_TID(4242), other = LIVESET_F_TID(4343);
    uint64_t ts = 1000000;
    for (int i = 0; i < RF_N; i++) { /* one region: runs, shifts */
        uint64_t size = i % 97 == 0 ? (64ull << 20) : (uint64_t)i + 1; /* some to the side */
        uint32_t f = me | (i % 3 == 0 ? LIVESET_F_LINKER : 0);
        ts += 64;
        uint64_t r = liveset_add(base + (uint64_t)i * 16u, size, (uint32_t)i + 1, f, ts, me);
        expect_u64_eq(r, ts);
    }
    for (int i = 0; i < RF_N; i += 2) { /* half through the other form */
        liveset_entry_t e;
        expect_true(liveset_remove(base + (uint64_t)i * 16u, &e, NULL));
        expect_u64_eq(e.size, i % 97 == 0 ? (64ull << 20) : (uint64_t)i + 1);
        expect_u64_eq(e.stack, (uint64_t)i + 1);
        expect_u64_eq(e.flags, me | (i % 3 == 0 ? LIVESET_F_LINKER : 0));
    }
    for (int i = 0; i < RF_N; i++) {
        ts += 64;
        liveset_hit_t h = liveset_free(base + (uint64_t)i * 16u, ts, me);
        expect_u64_eq(h.ts, ts);
        expect_u64_eq(h.hit, i % 2 ? LIVESET_HIT_FOUND | me | (i % 3 == 0 ? LIVESET_F_LINKER : 0)
                                   : 0);
    }
    /* liveset_insert's entries found by liveset_free; absent and unkeyable addresses */
    liveset_insert(base + 8, 5, 7, other, NULL);
    ts += 64;
    liveset_hit_t h = liveset_free(base + 8, ts, me);
    expect_u64_eq(h.hit, LIVESET_HIT_FOUND | other);
    expect_u64_eq(liveset_free(base + 8, ts, me).hit, 0);
    expect_u64_eq(liveset_free(base + 3, ts, me).hit, 0);
    /* another thread in the shard: its stamp is raised past this one's, to the next quantum */
    uint64_t mine = liveset_add(base + 32, 16, 1, me, ts + 1000, me);
    expect_u64_eq(mine, ts + 1000);
    uint64_t theirs = liveset_add(base + 48, 16, 1, other, ts, other);
    expect_true(theirs > mine && (theirs >> 6) > (mine >> 6));
    h = liveset_free(base + 32, ts, other); /* a cross-thread free: the flags say whose */
    expect_u64_eq(h.hit, LIVESET_HIT_FOUND | me);
    expect_true(h.ts >= theirs);
    h = liveset_free(base + 48, ts, me);
    expect_u64_eq(h.hit, LIVESET_HIT_FOUND | other);
    expect_true(h.ts > theirs);
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

TEST_MAIN(TEST_ENTRY(insert_remove_random_order), TEST_ENTRY(two_threads_one_shard),
          TEST_ENTRY(biased_shards_race),
          TEST_ENTRY(side_table_round_trip), TEST_ENTRY(slot_bits_exact),
          TEST_ENTRY(run_at_the_table_end), TEST_ENTRY(imem_usable_and_resident_now),
          TEST_ENTRY(export_release), TEST_ENTRY(recorder_forms))
