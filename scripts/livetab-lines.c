/*
 * scripts/livetab-lines.c -- a what-if for the replay's block table (analyzer/core/livetab.h,
 * issue 15 target 1a), built and run by scripts/livetab-lines. Reads `perfshim dump TRACE`
 * on stdin and counts the cache lines each heap event's probe would touch (its home entry and
 * the next 3 entries, what livetab_prefetch fetches) and how many of them miss a 16-way LRU
 * cache of 2 MiB (a core's L2 here) and of 32 MiB (a last level), under two slot layouts:
 *  - hashed: livetab's own home slot (livetab_perm43: 128-byte address groups, scattered);
 *  - ordered: an oracle of an address-ordered layout (the home slot from the address's rank
 *    among all the trace's addresses: what a per-region directory would approach, ascending
 *    allocations filling neighbouring slots).
 * And the 4 KiB pages they lie on, through a 2048-entry 16-way LRU TLB (the array has 2 MiB
 * pages in the guest, but a VM whose host backs them with 4 KiB pages walks the page tables
 * at 4 KiB: a random probe of a 48 MiB array misses such a TLB almost always).
 * Entry runs (displacement from the home slot) are not modelled: both layouts are charged the
 * same lines per event; the difference is where the lines lie. The misses up to event SPLIT
 * (environment, default 0: none) are printed apart (e.g. a workload's insertion phase).
 * Usage: perfshim dump TRACE | livetab-lines [SLOTS=4077390] [STRIDE=12]
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_BITS 43
#define KEY_MASK ((1ull << KEY_BITS) - 1)
#define GROUP_MASK 7ull /* livetab.h LIVETAB_GROUP_BITS 3 */

/* livetab.h's livetab_perm43 and livetab_home (copied: a what-if, not the table's code) */
static uint64_t perm43(uint64_t x)
{
    return ((x & ~GROUP_MASK) * 0x9e3779b97f4a7c15ull & (KEY_MASK & ~GROUP_MASK)) |
           (x & GROUP_MASK);
}

static size_t home(uint64_t key, size_t nhome)
{
    return (size_t)(((unsigned __int128)(key << (64 - KEY_BITS)) * nhome) >> 64);
}

typedef struct cache_s {
    uint64_t *tag, *age;
    size_t sets, ways;
    uint64_t clock, misses;
} cache_t;

static int cache_init(cache_t *c, size_t entries, size_t ways)
{
    c->ways = ways;
    c->sets = entries / ways;
    c->tag = malloc(c->sets * ways * sizeof(uint64_t));
    c->age = calloc(c->sets * ways, sizeof(uint64_t));
    if (!c->tag || !c->age)
        return -1;
    memset(c->tag, 0xff, c->sets * ways * sizeof(uint64_t));
    c->clock = c->misses = 0;
    return 0;
}

static void cache_touch(cache_t *c, uint64_t line)
{
    size_t s = (size_t)((line * 0x9e3779b97f4a7c15ull) >> 20) % c->sets, v = 0;
    uint64_t *t = c->tag + s * c->ways, *a = c->age + s * c->ways;
    c->clock++;
    for (size_t w = 0; w < c->ways; w++) {
        if (t[w] == line) {
            a[w] = c->clock;
            return;
        }
        if (a[w] < a[v])
            v = w;
    }
    c->misses++;
    t[v] = line;
    a[v] = c->clock;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t nslots = argc > 1 ? strtoull(argv[1], NULL, 10) : 4077390;
    size_t stride = argc > 2 ? strtoull(argv[2], NULL, 10) : 12;
    const char *sp = getenv("SPLIT");
    size_t split = sp ? strtoull(sp, NULL, 10) : 0;
    size_t cap = 1 << 20, n = 0;
    uint64_t *ops = malloc(cap * sizeof(uint64_t));
    char buf[4096];
    if (!ops || !nslots || !stride)
        return 2;
    while (fgets(buf, sizeof buf, stdin)) {
        if (strncmp(buf, "alloc ", 6) && strncmp(buf, "free ", 5))
            continue;
        const char *p = strstr(buf, " ptr=0x");
        uint64_t v = p ? strtoull(p + 7, NULL, 16) : 0;
        if (!v || v & 15)
            continue; /* (a failed allocation; an unaligned address: livetab's side table) */
        if (n == cap) {
            uint64_t *o = realloc(ops, 2 * cap * sizeof(uint64_t));
            if (!o)
                return 2;
            ops = o;
            cap *= 2;
        }
        ops[n++] = v;
    }
    uint64_t *addr = malloc((n ? n : 1) * sizeof(uint64_t));
    if (!addr)
        return 2;
    memcpy(addr, ops, n * sizeof(uint64_t));
    qsort(addr, n, sizeof(uint64_t), cmp_u64);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!i || addr[i] != addr[i - 1])
            addr[m++] = addr[i];
    printf("events %zu, distinct addresses %zu, %zu slots of %zu bytes\n", n, m, nslots, stride);
    static const size_t cache_bytes[2] = {2u << 20, 32u << 20};
    for (int ordered = 0; ordered < 2; ordered++) {
        cache_t tlb;
        uint64_t tlb_at_split = 0;
        if (cache_init(&tlb, 2048, 16) < 0)
            return 2;
        for (int ci = 0; ci < 2; ci++) {
            cache_t c;
            uint64_t lines = 0, at_split = 0;
            if (cache_init(&c, cache_bytes[ci] / 64, 16) < 0)
                return 2;
            for (size_t i = 0; i < n; i++) {
                size_t h;
                if (!ordered) {
                    h = home(perm43(ops[i] >> 4), nslots);
                } else { /* the address's rank, scaled to the slots */
                    size_t lo = 0, hi = m;
                    while (lo < hi) {
                        size_t mid = lo + (hi - lo) / 2;
                        if (addr[mid] < ops[i])
                            lo = mid + 1;
                        else
                            hi = mid;
                    }
                    h = (size_t)((unsigned __int128)lo * nslots / m);
                }
                if (i == split) {
                    at_split = c.misses;
                    if (ci == 0)
                        tlb_at_split = tlb.misses;
                }
                uint64_t l0 = h * stride / 64, l1 = ((h + 3) * stride - 1) / 64;
                cache_touch(&c, l0);
                lines++;
                if (l1 != l0) {
                    cache_touch(&c, l1);
                    lines++;
                }
                if (ci == 0) { /* (once per layout) */
                    cache_touch(&tlb, l0 / 64);
                    if (l1 / 64 != l0 / 64)
                        cache_touch(&tlb, l1 / 64);
                }
            }
            printf("%-7s cache %2zu MiB: lines/event %.3f, misses/event %.3f (%" PRIu64
                   " misses", ordered ? "ordered" : "hashed", cache_bytes[ci] >> 20,
                   n ? (double)lines / n : 0.0, n ? (double)c.misses / n : 0.0, c.misses);
            if (split)
                printf("; events before %zu: %" PRIu64, split, at_split);
            printf(")\n");
            free(c.tag);
            free(c.age);
        }
        printf("%-7s TLB of 2048 4 KiB pages: misses/event %.3f (%" PRIu64 " misses",
               ordered ? "ordered" : "hashed", n ? (double)tlb.misses / n : 0.0, tlb.misses);
        if (split)
            printf("; events before %zu: %" PRIu64, split, tlb_at_split);
        printf(")\n");
        free(tlb.tag);
        free(tlb.age);
    }
    free(ops);
    free(addr);
    return 0;
}
