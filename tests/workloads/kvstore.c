/*
 * kvstore -- the analyzer benchmark's large-heap workload: a chained hash table of string keys
 * to string values, as a key-value store keeps them. It inserts K keys (one node, one key and
 * one value block each: 3 K live blocks), then makes U updates of random keys (the value block
 * freed and a new one of another size allocated), then exits with everything still live (as a
 * server killed at the end of a benchmark). Events: 3 K + 2 U allocations and frees, plus the
 * bucket array's growth. A fixed seed makes every run identical; prints a checksum.
 * Usage: kvstore [keys=1000000] [updates=2500000]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct node_s {
    struct node_s *next;
    char *key, *val;
    uint64_t hash;
} node_t;

static node_t **buckets;
static size_t nbuckets, nkeys;
static uint64_t seed = 88172645463325252ull;

static uint64_t rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

static uint64_t key_hash(uint64_t k)
{
    k ^= k >> 31;
    k *= 0x7fb5d329728ea185ull;
    return k ^ (k >> 27);
}

__attribute__((noinline)) static char *make_value(size_t len, uint64_t tag)
{
    char *v = malloc(len + 1);
    if (!v)
        exit(1);
    memset(v, 'a' + (int)(tag % 26), len);
    v[len] = 0;
    return v;
}

__attribute__((noinline)) static char *make_key(uint64_t k)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "key:%llu", (unsigned long long)k);
    char *s = malloc((size_t)n + 1);
    if (!s)
        exit(1);
    memcpy(s, buf, (size_t)n + 1);
    return s;
}

__attribute__((noinline)) static void grow(void)
{
    size_t n = nbuckets ? nbuckets * 2 : 1024;
    node_t **b = calloc(n, sizeof(*b));
    if (!b)
        exit(1);
    for (size_t i = 0; i < nbuckets; i++)
        for (node_t *e = buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(buckets);
    buckets = b;
    nbuckets = n;
}

__attribute__((noinline)) static void put(uint64_t k, size_t vlen)
{
    uint64_t h = key_hash(k);
    if (nkeys + 1 > nbuckets)
        grow();
    for (node_t *e = buckets[h & (nbuckets - 1)]; e; e = e->next)
        if (e->hash == h) {
            free(e->val);
            e->val = make_value(vlen, k);
            return;
        }
    node_t *e = malloc(sizeof(*e));
    if (!e)
        exit(1);
    e->hash = h;
    e->key = make_key(k);
    e->val = make_value(vlen, k);
    e->next = buckets[h & (nbuckets - 1)];
    buckets[h & (nbuckets - 1)] = e;
    nkeys++;
}

int main(int argc, char **argv)
{
    uint64_t keys = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    uint64_t updates = argc > 2 ? strtoull(argv[2], NULL, 10) : 2500000;
    for (uint64_t k = 0; k < keys; k++)
        put(k, 8 + rnd() % 120);
    for (uint64_t i = 0; i < updates && keys; i++)
        put(rnd() % keys, 8 + rnd() % 120);
    uint64_t sum = 0;
    for (size_t i = 0; i < nbuckets; i += 97)
        for (node_t *e = buckets[i]; e; e = e->next)
            sum += (unsigned char)e->val[0];
    printf("%zu keys, checksum %llu\n", nkeys, (unsigned long long)sum);
    return 0;
}
