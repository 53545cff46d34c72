/*
 * sampled_sites.c -- a workload with known per-site totals for sampled mode's test
 * (tests/integration/sampled.sh): each site allocates a fixed number of blocks of one size
 * (bytes asked for in all, per site):
 *   site_small    1,000,000 x 64 B        =  64,000,000
 *   site_medium     100,000 x 1,000 B     = 100,000,000
 *   site_large        1,000 x 100,000 B   = 100,000,000
 *   site_huge            50 x 2 MiB       = 104,857,600
 *   site_grow        30,000 x realloc to 4,000 B = 120,000,000 (from malloc(200) at site_seed:
 *                                                   6,000,000)
 *   site_kept           200 x 65,536 B    =  13,107,200, never freed
 *   site_locked     200,000 x 300 B       =  60,000,000, each while holding `big` (a mutex
 *                                            no other thread takes)
 * Everything else is freed right away. The same run gives the same numbers every time. Built
 * with -fno-optimize-sibling-calls: each site function is a frame of its stacks.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile unsigned long sink;
static void *kept[200];
static pthread_mutex_t big = PTHREAD_MUTEX_INITIALIZER;

static void use(void *p)
{
    if (!p)
        abort();
    *(volatile char *)p = 1;
    sink += (unsigned long)(unsigned char)*(volatile char *)p;
}

__attribute__((noinline)) static void *site_small(void) { return malloc(64); }
__attribute__((noinline)) static void *site_medium(void) { return malloc(1000); }
__attribute__((noinline)) static void *site_large(void) { return malloc(100000); }
__attribute__((noinline)) static void *site_huge(void) { return malloc(2u << 20); }
__attribute__((noinline)) static void *site_seed(void) { return malloc(200); }
__attribute__((noinline)) static void *site_grow(void *p) { return realloc(p, 4000); }
__attribute__((noinline)) static void *site_kept(void) { return malloc(65536); }
__attribute__((noinline)) static void *site_locked(void) { return malloc(300); }

int main(void)
{
    for (int i = 0; i < 1000000; i++) {
        void *p = site_small();
        use(p);
        free(p);
        if (i % 10 == 0) {
            p = site_medium();
            use(p);
            free(p);
        }
        if (i % 1000 == 0) {
            p = site_large();
            use(p);
            free(p);
        }
        if (i % 20000 == 0) {
            p = site_huge();
            use(p);
            free(p);
        }
        if (i % 20 == 0 && i / 20 < 30000) {
            p = site_grow(site_seed());
            use(p);
            free(p);
        }
        if (i % 5000 == 0)
            use(kept[i / 5000] = site_kept());
        if (i % 5 == 0) {
            pthread_mutex_lock(&big);
            p = site_locked();
            use(p);
            pthread_mutex_unlock(&big);
            free(p);
        }
    }
    printf("%lu\n", sink);
    return 0;
}
