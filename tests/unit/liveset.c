/* Unit tests of preload/liveset.c (issue 18): blocks packed into one 64 KiB region (one
 * shard, long probe runs that wrap around the table, growth) are all found after inserts,
 * and after removes in a random order exactly the ones not removed are: the delete's
 * back-shift keeps every remaining entry reachable; a removed entry comes back as it went
 * in; an absent address is not found. */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>

#include "liveset.h"
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
            liveset_insert(addr[i], (uint64_t)i + 1, (uint32_t)i, 0);
        }
        for (int i = 0; i < N; i++)
            expect_true(liveset_set_flags(addr[i], 0));
        expect_true(!liveset_set_flags(base + 8, 0)); /* not a block's start */
        for (int k = 0; k < N; k++) {
            int i = (int)(rng(&x) % N);
            liveset_entry_t e;
            memset(&e, 0, sizeof e);
            int found = liveset_remove(addr[i], &e);
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
                expect_true(liveset_remove(addr[i], NULL));
        for (int i = 0; i < N; i++)
            expect_true(!liveset_set_flags(addr[i], 0));
    }
    liveset_lock_all();
    expect_u64_eq(liveset_count(), 0);
    liveset_unlock_all();
}

TEST_MAIN(TEST_ENTRY(insert_remove_random_order))
