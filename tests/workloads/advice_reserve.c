/*
 * advice_reserve.c -- "estimates come true" (scripts/bench-advice), kind reserve: growth
 * chains of small reallocs. Each round builds two vectors of 512 u64 side by side, one
 * element at a time, each push a realloc to the new length (two chains growing together, so
 * a step often has to move its block and copy it), both through one call of vec_push (one
 * growth-chain site, so the recommendation's steps are all of the workload's). -DFIXED applies the fix the
 * recommendation proposes: reserve() the final capacity once, then push without realloc.
 *
 * usage: advice_reserve [ROUNDS]   (default 18000: about 0.35 s of CPU natively on the shared
 * 2-core VM, the fixed build 0.06 s; expected saving ~16 ns per realloc step, ~0.3 s: 18.4 M
 * steps, half of them a new 16-byte granule, some moving the block)
 * Prints a checksum, the same in both builds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LEN 512

typedef struct vec_s {
    uint64_t *v;
    size_t n, cap;
} vec_t;

__attribute__((noipa)) static void vec_reserve(vec_t *a, size_t cap)
{
    if (cap > a->cap) {
        a->v = realloc(a->v, cap * sizeof(*a->v));
        if (!a->v)
            exit(1);
        a->cap = cap;
    }
}

__attribute__((noipa)) static void vec_push(vec_t *a, uint64_t x)
{
#ifndef FIXED
    vec_reserve(a, a->n + 1); /* grows by one element: one realloc per push */
#endif
    a->v[a->n++] = x;
}

__attribute__((noipa)) static int vec_count(void)
{
    return 2;
}

int main(int argc, char **argv)
{
    uint64_t rounds = argc > 1 ? strtoull(argv[1], NULL, 10) : 18000;
    uint64_t sum = 0;
    int nvec = vec_count(); /* 2, out of the compiler's sight: the loop stays one call */
    for (uint64_t r = 0; r < rounds; r++) {
        vec_t v[2] = {{0}, {0}};
#ifdef FIXED
        for (int j = 0; j < 2; j++)
            vec_reserve(&v[j], LEN);
#endif
        for (uint64_t i = 0; i < LEN; i++)
            for (int j = 0; j < nvec; j++) /* one call of vec_push: the chains' one site */
                vec_push(&v[j], j ? r ^ i : r * i);
        for (size_t i = 0; i < LEN; i++)
            sum += v[0].v[i] * 3 + v[1].v[i];
        free(v[0].v);
        free(v[1].v);
    }
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
