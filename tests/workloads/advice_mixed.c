/*
 * advice_mixed.c -- leak + churn + contention in one run, with one dominant problem by
 * construction (tests/integration/advice_mixed.sh asserts it is recommendation #1).
 *
 *  - contention (the dominant one): two threads update a table of counters under one hot
 *    mutex (hot_update), a critical section of about 150 ns with next to nothing outside it:
 *    the threads run one at a time and each waits on the lock for about half of the run (the
 *    lock's Amdahl bound, what shard_lock estimates, is about 40-50% of the wall time).
 *  - churn (a pool candidate): the main thread meanwhile allocates 200,000 messages of 504
 *    bytes, each freed 16 allocations later (msg_new): about 200,000 x 20-40 ns = 4-8 ms of
 *    allocator time, 1-2% of the run.
 *  - a leak: 32 blocks of 256 bytes (leak_record), definitely lost: 8 KiB, a 0.1% share of
 *    the peak RSS (the bytes bound).
 * No site holds 256 KiB at the peak (no reduce_peak), nothing is allocated under the lock (no
 * alloc_outside_lock), and the heap stays far below the RSS gap tune_allocator needs.
 *
 * usage: advice_mixed [UPDATES]   (per thread, default 600000: about 0.3 s natively)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS 4096
#define INFLIGHT 16
#define MESSAGES 200000
#define LEAKS 32

static pthread_mutex_t hot = PTHREAD_MUTEX_INITIALIZER;
static uint64_t counters[KEYS];
static uint64_t updates = 600000;

__attribute__((noipa)) static void hot_update(uint64_t key)
{
    pthread_mutex_lock(&hot);
    uint64_t c = counters[key];
    for (int k = 0; k < 160; k++) /* a dependent chain: ~150 ns */
        c = c * 6364136223846793005ull + key;
    counters[key] = c;
    pthread_mutex_unlock(&hot);
}

static void *worker(void *arg)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
    for (uint64_t i = 0; i < updates; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        hot_update((x >> 20) % KEYS);
    }
    return NULL;
}

struct msg {
    uint64_t id;
    uint64_t payload[62];
};

__attribute__((noipa)) static struct msg *msg_new(uint64_t i)
{
    struct msg *m = malloc(sizeof(*m));
    if (!m)
        exit(1);
    m->id = i;
    m->payload[i % 62] = i;
    return m;
}

__attribute__((noipa)) static uint64_t churn(void)
{
    struct msg *ring[INFLIGHT] = {0};
    uint64_t sum = 0;
    for (uint64_t i = 0; i < MESSAGES; i++) {
        unsigned s = (unsigned)(i % INFLIGHT);
        free(ring[s]);
        ring[s] = msg_new(i);
        sum += ring[s]->id;
    }
    for (unsigned s = 0; s < INFLIGHT; s++)
        free(ring[s]);
    return sum;
}

/* Each block is lost when the next one replaces it in `last` (a volatile store: the compiler
 * cannot drop the unused allocation); main clears the last one. */
static char *volatile last;

__attribute__((noipa)) static void leak_record(int i)
{
    char *p = malloc(256);
    if (p)
        memset(p, i, 256);
    last = p;
}

/* Overwrites the dead stack where stale copies of the lost pointers lie. */
__attribute__((noipa)) static void scrub_stack(void)
{
    volatile char buf[32768];
    memset((char *)buf, 0, sizeof buf);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        updates = strtoull(argv[1], NULL, 10);
    pthread_t t[2];
    for (unsigned i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
    uint64_t sum = churn();
    for (int i = 0; i < LEAKS; i++)
        leak_record(i);
    last = NULL;
    scrub_stack();
    for (unsigned i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
