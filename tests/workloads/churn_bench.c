/*
 * churn_bench -- the benchmark workload: T threads each make N small allocations (16..1039
 * bytes) at a call depth of D frames (D frames of work() above the thread's function), keep a
 * window of 64 live blocks, free the rest; a fixed seed makes every run identical. Prints the checksum so the work cannot be optimized away.
 * WORK (default 0) adds that many rounds of a dependent multiply-xorshift chain after each
 * allocation: the app's own work, so the allocator is not the whole program (issue 18's
 * churn: "allocator ~20% of native time"; scripts/bench picks WORK for that share).
 * Usage: churn_bench [threads=2] [allocations per thread=500000] [depth=12] [work=0]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long n_per_thread = 500000;
static int depth = 12;
static long work_rounds = 0;

__attribute__((noinline)) static uint64_t work(uint64_t *seed, int d)
{
    if (d > 0) { /* a real frame per level: the compiler may not turn this into a loop */
        volatile int level = d;
        uint64_t r = work(seed, d - 1);
        return r + (uint64_t)level;
    }
    void *win[64] = {0};
    uint64_t sum = 0;
    for (long i = 0; i < n_per_thread; i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t sz = 16 + (*seed >> 54);
        unsigned k = (unsigned)(*seed >> 20) & 63;
        free(win[k]);
        win[k] = malloc(sz);
        memset(win[k], (int)i, 8);
        sum += ((unsigned char *)win[k])[0];
        for (long j = 0; j < work_rounds; j++) { /* dependent: not vectorized, not folded */
            sum ^= sum >> 29;
            sum *= 0xbf58476d1ce4e5b9ull;
        }
    }
    for (int k = 0; k < 64; k++)
        free(win[k]);
    return sum;
}

static void *thread_main(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 7919 + 1;
    return (void *)(uintptr_t)work(&seed, depth);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (argc > 2)
        n_per_thread = atol(argv[2]);
    if (argc > 3)
        depth = atoi(argv[3]);
    if (argc > 4)
        work_rounds = atol(argv[4]);
    if (threads < 1 || threads > 256 || n_per_thread < 1 || depth < 0 || depth > 200 ||
        work_rounds < 0)
        return fprintf(stderr, "usage: churn_bench [threads] [allocations] [depth] [work]\n"), 2;
    pthread_t th[256];
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, thread_main, (void *)(uintptr_t)(i + 1));
    uint64_t total = 0;
    for (int i = 0; i < threads; i++) {
        void *r;
        pthread_join(th[i], &r);
        total += (uint64_t)(uintptr_t)r;
    }
    printf("checksum %llu\n", (unsigned long long)total);
    return 0;
}
