/*
 * advice_work -- known-truth workloads for the recommendation engine (tests/integration/
 * advice.sh): each mode makes one anti-pattern at one call site, with exact counts.
 * Usage: advice_work MODE [N]
 *   stack N   N pairs of malloc(48); touch; free at churn_tiny() (a stack-buffer candidate)
 *   pool N    N allocations of 2048 B at churn_pool() kept in a window of 16 (a pool
 *             candidate: N - 16 freed again inside the loop, the last 16 after it)
 *   leak      leak_big() loses 4 blocks of 256 KiB (1 MiB), leak_small() 8 of 128 B
 *   lock N    4 threads take one mutex N times each, allocating 64 B and spinning ~2 us
 *             while they hold it (hold_with_alloc)
 *   peak      peak_owner() holds 64 blocks of 64 KiB (4 MiB) at once, then frees them;
 *             small_other() keeps 16 blocks of 1 KiB
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;

__attribute__((noinline)) static void churn_tiny(long n)
{
    for (long i = 0; i < n; i++) {
        char *p = malloc(48);
        memset(p, (int)i, 48);
        sink += (unsigned char)p[7];
        free(p);
    }
}

__attribute__((noinline)) static void churn_pool(long n)
{
    void *w[16] = {0};
    for (long i = 0; i < n; i++) {
        unsigned k = (unsigned)i & 15;
        free(w[k]);
        w[k] = malloc(2048);
        memset(w[k], (int)i, 64);
    }
    for (int k = 0; k < 16; k++)
        free(w[k]);
}

static void *volatile keep[64];

__attribute__((noinline)) static void leak_big(void)
{
    for (int i = 0; i < 4; i++) {
        char *p = malloc(256 << 10);
        memset(p, 1, 64);
        keep[0] = p;
        keep[0] = NULL; /* lost */
    }
}

__attribute__((noinline)) static void leak_small(void)
{
    for (int i = 0; i < 8; i++) {
        char *p = malloc(128);
        memset(p, 2, 128);
        keep[1] = p;
        keep[1] = NULL;
    }
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long lock_n;

__attribute__((noinline)) static void hold_with_alloc(void)
{
    pthread_mutex_lock(&mu);
    char *p = malloc(64);
    p[0] = 1;
    for (volatile int i = 0; i < 2000; i++)
        sink += (uint64_t)i;
    free(p);
    pthread_mutex_unlock(&mu);
}

/* The lock threads start together (not a pthread barrier: it would be one more lock in the
 * trace): created one by one, the first could be done before the last began on a loaded
 * machine, and the lock barely contended. */
static int lock_ready;

static void *lock_thread(void *arg)
{
    (void)arg;
    __atomic_add_fetch(&lock_ready, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&lock_ready, __ATOMIC_ACQUIRE) < 4)
        sched_yield();
    for (long i = 0; i < lock_n; i++)
        hold_with_alloc();
    return NULL;
}

__attribute__((noinline)) static void peak_owner(void)
{
    void *v[64];
    for (int i = 0; i < 64; i++) {
        v[i] = malloc(64 << 10);
        memset(v[i], 3, 64);
    }
    for (int i = 0; i < 64; i++)
        free(v[i]);
}

__attribute__((noinline)) static void small_other(void)
{
    for (int i = 0; i < 16; i++)
        keep[2 + i] = malloc(1024);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "stack";
    long n = argc > 2 ? atol(argv[2]) : 10000;
    if (!strcmp(mode, "stack"))
        churn_tiny(n);
    else if (!strcmp(mode, "pool"))
        churn_pool(n);
    else if (!strcmp(mode, "leak")) {
        leak_big();
        leak_small();
    } else if (!strcmp(mode, "lock")) {
        pthread_t t[4];
        lock_n = n;
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, lock_thread, NULL);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
    } else if (!strcmp(mode, "peak")) {
        small_other();
        peak_owner();
        for (int i = 0; i < 16; i++)
            free(keep[2 + i]);
    } else {
        fprintf(stderr, "advice_work: unknown mode %s\n", mode);
        return 2;
    }
    printf("%llu\n", (unsigned long long)sink);
    return 0;
}
