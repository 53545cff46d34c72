/*
 * alloc_cost -- the calibration of the recommendation engine's cost model (advice_pair_ns,
 * analyzer/analyses/advice.h): the CPU time of one malloc(size); touch one byte; free() pair
 * in the allocator this program runs with (glibc unless preloaded otherwise), per size, and a
 * window of 64 live blocks freed in turn (a pool's case). Run it natively, on an idle machine:
 *   build/tests/workloads/alloc_cost
 * Measured on this project's build machine (x86-64, glibc 2.36), ns per pair, pair/window:
 * 16 B 36/27, 64 B 19/24, 256 B 23/21, 1 KiB 21/20, 2 KiB 66/68, 8 KiB 49/50, 64 KiB 57/63,
 * 256 KiB 77/68, 1 MiB 102/315, 8 MiB 99/371, 64 MiB 20787/22831: the model takes 20 ns up to
 * 1032 B (tcache), 60 ns up to 128 KiB, 100 ns up to 32 MiB, 20 us above (mmap).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(void)
{
    static const size_t sizes[] = {16, 64, 256, 1024, 2048, 8192, 65536, 262144, 1 << 20,
                                   8 << 20, 64 << 20};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t s = sizes[i];
        long n = s >= (1 << 20) ? 2000 : 2000000;
        double t0 = cpu_ns();
        for (long k = 0; k < n; k++) {
            char *volatile p = malloc(s);
            p[0] = 1;
            free(p);
        }
        double t1 = cpu_ns();
        char *w[64] = {0};
        for (long k = 0; k < n; k++) {
            int j = (int)(k & 63);
            free(w[j]);
            w[j] = malloc(s);
            ((char *volatile *)w)[j][0] = 1;
        }
        double t2 = cpu_ns();
        for (int j = 0; j < 64; j++)
            free(w[j]);
        printf("%10zu B  pair %8.1f ns  window64 %8.1f ns\n", s, (t1 - t0) / (double)n,
               (t2 - t1) / (double)n);
    }
    return 0;
}
