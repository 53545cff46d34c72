/*
 * stacktab.c -- see stacktab.h.
 *
 * Open addressing with linear probing. A slot's `key` is 0 (empty), 1 (being written by its
 * inserter) or the stack hash with bit 1 forced on (published). The inserter claims an empty
 * slot by CAS 0 -> 1, fills id/depth/off, then publishes the key with a release store; a
 * reader that meets 1 waits for the publication (a few stores away). Full stacks are compared
 * on a hash match, so a hash collision never merges two stacks.
 */
#include <config.h>

#include "stacktab.h"

#include <string.h>

#include "imem.h"
#include "prim.h"
#include "perfshim/compiler.h"
#include "perfshim/errors.h"

typedef struct slot_s {
    uint64_t key;
    uint32_t id;
    uint32_t depth;
    uint64_t off; /* index of the first ip in `arena` */
    uint64_t pad;
} slot_t;

_Static_assert(sizeof(slot_t) == STACKTAB_SLOT_BYTES, "stacktab.h states the slot size");

#define KEY_BUSY 1u

static slot_t *slots;
static uint64_t mask;
static uint64_t *arena;
static uint64_t arena_cap, arena_used;
static uint32_t next_id = 1;
static uint64_t n_dropped;

static unsigned init_slots_log2;

int stacktab_reset(void)
{
    /* NORESERVE mappings are not in imem's count: unmap them directly */
    if (slots)
        prim_unmap(slots, sizeof(slot_t) << init_slots_log2);
    if (arena)
        prim_unmap(arena, arena_cap * sizeof(uint64_t));
    slots = NULL;
    arena = NULL;
    arena_used = 0;
    next_id = 1;
    n_dropped = 0;
    return stacktab_init(init_slots_log2, arena_cap);
}

int stacktab_init(unsigned slots_log2, uint64_t arena_ips)
{
    if (!slots_log2)
        slots_log2 = 20; /* 1 Mi stacks, 32 MiB of address space */
    if (!arena_ips)
        arena_ips = 16u << 20; /* 128 MiB of address space */
    slots = imem_map(sizeof(slot_t) << slots_log2, 1);
    arena = imem_map(arena_ips * sizeof(uint64_t), 1);
    if (!slots || !arena)
        return -PS_E_NOMEM;
    mask = (1ull << slots_log2) - 1;
    init_slots_log2 = slots_log2;
    arena_cap = arena_ips;
    return 0;
}

static inline uint64_t stack_hash(const uint64_t *ips, uint32_t depth)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ depth;
    for (uint32_t i = 0; i < depth; i++) {
        h ^= ips[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h | 2u; /* never 0 (empty) or 1 (busy) */
}

uint32_t stacktab_intern(const uint64_t *ips, uint32_t depth, int *is_new)
{
    *is_new = 0;
    if (PS_UNLIKELY(!slots))
        return 0;
    uint64_t h = stack_hash(ips, depth);
    /* Give up at 3/4 load: probe sequences stay short and memory bounded. */
    for (uint64_t i = h & mask, n = 0; n <= mask - (mask >> 2); i = (i + 1) & mask, n++) {
        slot_t *s = &slots[i];
        uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
        while (PS_UNLIKELY(k == KEY_BUSY)) {
            __builtin_ia32_pause();
            k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
        }
        if (k == h) {
            if (s->depth == depth && memcmp(arena + s->off, ips, depth * sizeof *ips) == 0)
                return s->id;
            continue;
        }
        if (k != 0)
            continue;
        uint64_t expect = 0;
        if (!__atomic_compare_exchange_n(&s->key, &expect, KEY_BUSY, 0, __ATOMIC_ACQUIRE,
                                         __ATOMIC_RELAXED)) {
            /* Lost the race for this slot: look at it again (it may be our stack). */
            i = (i - 1) & mask;
            n--;
            continue;
        }
        uint64_t off = __atomic_fetch_add(&arena_used, depth, __ATOMIC_RELAXED);
        if (off + depth > arena_cap) {
            /* Arena full: release the slot so lookups of other stacks still pass it. */
            __atomic_store_n(&s->key, (uint64_t)~0ull, __ATOMIC_RELEASE);
            break;
        }
        memcpy(arena + off, ips, depth * sizeof *ips);
        s->off = off;
        s->depth = depth;
        s->id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&s->key, h, __ATOMIC_RELEASE);
        *is_new = 1;
        return s->id;
    }
    __atomic_add_fetch(&n_dropped, 1, __ATOMIC_RELAXED);
    return 0;
}

uint64_t stacktab_count(void)
{
    return __atomic_load_n(&next_id, __ATOMIC_RELAXED) - 1;
}

uint64_t stacktab_dropped(void)
{
    return __atomic_load_n(&n_dropped, __ATOMIC_RELAXED);
}

uint64_t stacktab_bytes(void)
{
    return stacktab_count() * sizeof(slot_t) * 4 / 3 +
           __atomic_load_n(&arena_used, __ATOMIC_RELAXED) * sizeof(uint64_t);
}
