/*
 * advice_reserve.c -- "estimates come true" (scripts/bench-advice), kind reserve: growth
 * chains of small reallocs. Each round builds two vectors of 512 u64 side by side, one
 * element at a time, each push a realloc to the new length (two chains growing together, so
 * a step often has to move its block and copy it). -DFIXED applies the fix the
 * recommendation proposes: reserve() the final capacity once, then push without realloc.
 *
 * usage: advice_reserve [ROUNDS]   (default 6000: about 0.4 s natively)
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

int main(int argc, char **argv)
{
    uint64_t rounds = argc > 1 ? strtoull(argv[1], NULL, 10) : 6000;
    uint64_t sum = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        vec_t a = {0}, b = {0};
#ifdef FIXED
        vec_reserve(&a, LEN);
        vec_reserve(&b, LEN);
#endif
        for (uint64_t i = 0; i < LEN; i++) {
            vec_push(&a, r * i);
            vec_push(&b, r ^ i);
        }
        for (size_t i = 0; i < LEN; i++)
            sum += a.v[i] * 3 + b.v[i];
        free(a.v);
        free(b.v);
    }
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
