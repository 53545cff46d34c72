/*
 * advice_shard_lock.c -- "estimates come true" (scripts/bench-advice), kind shard_lock: one
 * hot mutex over a table of counters that two threads update at random keys (a critical
 * section of about 150 ns). -DFIXED applies the fix the recommendation proposes: the
 * table is sharded, one mutex per 64 keys' shard (key % SHARDS), so the threads rarely meet.
 * No allocation anywhere in the loop.
 *
 * usage: advice_shard_lock [STEPS]   (per thread; default 3000000: about 3.2 s natively on
 * 2 cores, the fixed build 0.9 s; expected saving ~2.2 s, the largest of the five, 1.5x
 * alloc_outside_lock's or more). Prints a checksum, the same in both builds.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define KEYS 4096
#define SHARDS 64
#define THREADS 2

static uint64_t counters[KEYS];
#ifdef FIXED
static pthread_mutex_t locks[SHARDS];
#define LOCK_OF(key) (&locks[(key) % SHARDS])
#else
static pthread_mutex_t hot = PTHREAD_MUTEX_INITIALIZER;
#define LOCK_OF(key) (&hot)
#endif
static uint64_t steps = 3000000;

/* the update: some arithmetic on the key's counter, under its lock */
__attribute__((noipa)) static void update(uint64_t key)
{
    pthread_mutex_t *l = LOCK_OF(key);
    pthread_mutex_lock(l);
    uint64_t c = counters[key];
    for (int k = 0; k < 160; k++) /* a dependent chain: ~150 ns */
        c = c * 6364136223846793005ull + key;
    counters[key] = c;
    pthread_mutex_unlock(l);
}

static void *worker(void *arg)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
    for (uint64_t i = 0; i < steps; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        update((x >> 20) % KEYS);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        steps = strtoull(argv[1], NULL, 10);
#ifdef FIXED
    for (unsigned i = 0; i < SHARDS; i++)
        pthread_mutex_init(&locks[i], NULL);
#endif
    pthread_t t[THREADS];
    for (unsigned i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    /* the counters depend on the threads' interleaving: the checksum is the steps */
    printf("%llu\n", (unsigned long long)(steps * THREADS));
    return 0;
}
