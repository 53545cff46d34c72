/*
 * pressure_cases.c -- allocation pressure with exactly known truth (tests/integration/
 * pressure.sh reads the report's JSON "pressure" section against it). Each case is one
 * function whose name the test finds in the site's innermost frame:
 *   churn_site     CHURN_N alloc/free pairs of 48 bytes: CHURN_N short-lived, CHURN_N temporary,
 *                  CHURN_N within K, CHURN_N - 1 same-size cycles (the first has no release before)
 *   delayed_site   DELAY_N blocks of 24 bytes, each freed after 3 later allocations of its thread
 *                  (a window of 4), the last four freed in a row: 1 temporary; within K=8: all;
 *                  within K=2: 3; DELAY_N - 4 same-size cycles
 *   grow_site      one block of 16 bytes grown by GROW_K reallocs, doubling: GROW_K steps, one
 *                  chain, 16 * (2^GROW_K - 1) bytes copied, final size 16 << GROW_K
 *   producer_site  XT_M blocks of 64 bytes passed through a pipe to another thread that frees
 *                  them: XT_M cross-thread frees
 *   locked_site    two threads, big_lock held, malloc(32), free, unlock: one LOCK_L times, the
 *                  other 2 * LOCK_L times inside a lock of its own taken first: 3 * LOCK_L
 *                  allocations with big_lock the innermost lock held (its address is printed:
 *                  "lock 0x..")
 *   peak_site      PEAK_BYTES held while nothing else of ours is: the owner of the heap's peak
 * Nothing here allocates between the steps of a case (no stdio until the end).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHURN_N 1000
#define DELAY_N 200
#define GROW_K 10
#define XT_M 500
#define LOCK_L 300
#define PEAK_BYTES (8u << 20)

#define NOINLINE __attribute__((noinline))

static void *volatile sink;

static NOINLINE void churn_site(void)
{
    for (int i = 0; i < CHURN_N; i++) {
        char *p = malloc(48);
        if (!p)
            exit(2);
        p[0] = (char)i;
        sink = p;
        free(p);
    }
}

static NOINLINE void *delayed_alloc(void)
{
    void *p = malloc(24);
    if (!p)
        exit(2);
    return p;
}

static volatile int four = 4; /* opaque: the loop is not split into two call sites */

static NOINLINE void delayed_site(void)
{
    void *w[4];
    for (int i = 0; i < DELAY_N; i++) { /* one call site: one stack */
        if (i >= four)
            free(w[i % 4]);
        w[i % 4] = delayed_alloc();
    }
    for (int i = DELAY_N; i < DELAY_N + 4; i++)
        free(w[i % 4]);
}

static NOINLINE void *grow_step(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        exit(2);
    return q;
}

static NOINLINE void grow_site(void)
{
    char *p = malloc(16);
    if (!p)
        exit(2);
    memset(p, 1, 16);
    for (int i = 1; i <= GROW_K; i++)
        p = grow_step(p, (size_t)16 << i);
    free(p);
}

static int pipefd[2];

static NOINLINE void *producer_site(void)
{
    void *p = malloc(64);
    if (!p)
        exit(2);
    return p;
}

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < XT_M; i++) {
        void *p = producer_site();
        if (write(pipefd[1], &p, sizeof p) != sizeof p)
            exit(3);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < XT_M; i++) {
        void *p;
        if (read(pipefd[0], &p, sizeof p) != sizeof p)
            exit(3);
        free(p);
    }
    return NULL;
}

static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;

static NOINLINE void *locked_site(void)
{
    void *p = malloc(32);
    if (!p)
        exit(2);
    return p;
}

static void *locked_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < LOCK_L; i++) {
        pthread_mutex_lock(&big_lock);
        void *p = locked_site();
        sink = p;
        free(p);
        pthread_mutex_unlock(&big_lock);
    }
    return NULL;
}

/* The same inside a lock of its own (outer, never contended): big_lock is the innermost. */
static void *nested_worker(void *arg)
{
    static pthread_mutex_t outer = PTHREAD_MUTEX_INITIALIZER;
    (void)arg;
    for (int i = 0; i < 2 * LOCK_L; i++) {
        pthread_mutex_lock(&outer);
        pthread_mutex_lock(&big_lock);
        void *p = locked_site();
        sink = p;
        free(p);
        pthread_mutex_unlock(&big_lock);
        pthread_mutex_unlock(&outer);
    }
    return NULL;
}

static NOINLINE void *peak_site(void)
{
    char *p = malloc(PEAK_BYTES);
    if (!p)
        exit(2);
    memset(p, 2, 4096);
    return p;
}

static void pair(void *(*a)(void *), void *(*b)(void *))
{
    pthread_t x, y;
    if (pthread_create(&x, NULL, a, NULL) || pthread_create(&y, NULL, b, NULL))
        exit(4);
    pthread_join(x, NULL);
    pthread_join(y, NULL);
}

int main(void)
{
    churn_site();
    delayed_site();
    grow_site();
    if (pipe(pipefd))
        return 5;
    pair(producer, consumer);
    pair(locked_worker, nested_worker);
    void *peak = peak_site();
    usleep(2000);
    free(peak);
    printf("lock %p\n", (void *)&big_lock);
    return 0;
}
