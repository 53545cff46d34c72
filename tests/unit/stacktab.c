/* Unit tests of preload/stacktab.c: ids are stable, dense, collision-proof, bounded, and
 * consistent when threads intern the same stacks concurrently. */
#include <pthread.h>

#include "stacktab.h"
#include "test.h"

TEST(same_stack_same_id)
{
    assert_u64_eq(stacktab_init(10, 4096), 0);
    uint64_t a[] = {1, 2, 3}, b[] = {1, 2, 4}, c[] = {1, 2};
    int n1, n2, n3, n4;
    uint32_t ia = stacktab_intern(a, 3, &n1), ib = stacktab_intern(b, 3, &n2);
    uint32_t ic = stacktab_intern(c, 2, &n3), ia2 = stacktab_intern(a, 3, &n4);
    expect_u64_eq(ia, 1);
    expect_u64_eq(ib, 2);
    expect_u64_eq(ic, 3);
    expect_u64_eq(ia2, ia);
    expect_true(n1 && n2 && n3 && !n4);
    expect_u64_eq(stacktab_count(), 3);
}

TEST(full_table_returns_zero_and_counts)
{
    /* 2^10 slots give up at 3/4 load: 768 ids, then 0 */
    uint64_t ip[1];
    int is_new;
    uint32_t last = 0;
    for (uint64_t i = 0; i < 2000; i++) {
        ip[0] = 1000 + i;
        uint32_t id = stacktab_intern(ip, 1, &is_new);
        if (id)
            last = id;
    }
    expect_u64_le(last, 1024);
    expect_u64_ge(stacktab_dropped(), 2000 - 1024);
}

#define NT 4
#define NSTACK 500
static uint32_t ids[NT][NSTACK];

static void *racer(void *arg)
{
    int t = (int)(long)arg;
    uint64_t ips[8];
    for (int i = 0; i < NSTACK; i++) {
        for (int k = 0; k < 8; k++)
            ips[k] = 0x400000u + (uint64_t)i * 16 + (uint64_t)k;
        int is_new;
        ids[t][i] = stacktab_intern(ips, 8, &is_new);
    }
    return NULL;
}

TEST(concurrent_interning_agrees)
{
    assert_u64_eq(stacktab_init(14, 1 << 20), 0);
    uint64_t before = stacktab_count();
    pthread_t th[NT];
    for (long t = 0; t < NT; t++)
        pthread_create(&th[t], NULL, racer, (void *)t);
    for (int t = 0; t < NT; t++)
        pthread_join(th[t], NULL);
    for (int i = 0; i < NSTACK; i++) {
        expect_true(ids[0][i] != 0);
        for (int t = 1; t < NT; t++)
            expect_u64_eq(ids[t][i], ids[0][i]);
    }
    expect_u64_eq(stacktab_count() - before, NSTACK);
}

TEST_MAIN(TEST_ENTRY(same_stack_same_id), TEST_ENTRY(full_table_returns_zero_and_counts),
          TEST_ENTRY(concurrent_interning_agrees))
