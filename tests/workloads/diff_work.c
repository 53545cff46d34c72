/*
 * diff_work.c -- the workload of tests/integration/diff.sh, with exactly known sites:
 *     diff_work FACTOR VARIANT
 * grow_site:  100 * FACTOR blocks of 64 B
 * fixed_site: 50 blocks of 32 B, one of them never freed (the same in every run)
 * only_a / only_b: 10 blocks of 128 B when VARIANT is "a", 20 blocks of 256 B when "b"
 * VARIANT "am" or "bm": fixed_site makes 60 blocks of 16 B instead (more allocations, fewer
 * bytes: a mixed change)
 * All blocks are live together before they are freed, so each site's peak contribution is
 * its bytes (fixed_site's leaked bytes: 32). Run twice with FACTOR 1 and 2, grow_site doubles
 * and nothing else changes; with VARIANT a and b, only_a is removed and only_b added.
 */
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static void *keep[4096];
static size_t nkeep;

static NOINLINE void take(void *p)
{
    if (!p)
        exit(3);
    memset(p, 1, 8);
    keep[nkeep++] = p;
}

static NOINLINE void grow_site(int factor)
{
    for (int i = 0; i < 100 * factor; i++)
        take(malloc(64));
}

static NOINLINE void fixed_site(int mixed)
{
    for (int i = 0; i < (mixed ? 60 : 50); i++)
        take(malloc(mixed ? 16 : 32));
}

static NOINLINE void only_a(void)
{
    for (int i = 0; i < 10; i++)
        take(malloc(128));
}

static NOINLINE void only_b(void)
{
    for (int i = 0; i < 20; i++)
        take(malloc(256));
}

int main(int argc, char **argv)
{
    int factor = argc > 1 ? atoi(argv[1]) : 1;
    const char *variant = argc > 2 ? argv[2] : "a";
    if (factor < 1 || factor > 30)
        return 2;
    fixed_site(variant[0] && variant[1] == 'm');
    if (variant[0] == 'b')
        only_b();
    else
        only_a();
    grow_site(factor);
    __asm__ volatile("" ::: "memory");
    for (size_t i = 1; i < nkeep; i++) /* keep[0], fixed_site's first block, stays */
        free(keep[i]);
    return 0;
}
