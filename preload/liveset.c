/*
 * liveset.c -- see liveset.h.
 *
 * Cost budget of an insert or remove: one hash, one uncontended futex-lock CAS and release,
 * a probe of one or two cache lines. Deletion shifts entries back (no tombstones), so a
 * table's probe lengths stay short under churn.
 */
#include <config.h>

#include "liveset.h"

#include <string.h>

#include "ilock.h"
#include "imem.h"
#include "log.h"
#include "perfshim/compiler.h"
#include "perfshim/mix.h"

typedef struct shard_s {
    ilock_t lock PS_ALIGNED_CL;
    liveset_entry_t *slots;
    uint64_t cap, n;
} shard_t;

static shard_t shards[LIVESET_SHARDS];
static uint64_t untracked, table_bytes;

static PS_ALWAYS_INLINE uint64_t ls_hash(uint64_t p)
{
    return ps_mix64(p);
}

/* The shard of a block is chosen by its 64 KiB region, not by its exact address: glibc gives
 * each thread its own arena, so a thread's blocks land in shards no other thread touches and
 * the shard locks (and slots) stay in that core's cache. Hashing each address to a random
 * shard made every lock line bounce between cores: 87% of liveset_remove's time was the lock
 * instruction. Cross-thread frees still meet the other thread's shard, as they must. */
static PS_ALWAYS_INLINE shard_t *ls_shard(uint64_t ptr)
{
    return &shards[ls_hash(ptr >> 16) >> (64 - LIVESET_SHARD_BITS)];
}

/* Lock held. Returns 0 or -1 (no memory: the table is left as it was). */
static PS_NOINLINE PS_COLD int ls_grow(shard_t *s)
{
    uint64_t cap = s->cap ? s->cap * 2 : 256;
    liveset_entry_t *t = imem_alloc(cap * sizeof *t);
    if (!t)
        return -1;
    for (uint64_t j = 0; j < s->cap; j++) {
        if (!s->slots[j].ptr)
            continue;
        uint64_t i = ls_hash(s->slots[j].ptr) & (cap - 1);
        while (t[i].ptr)
            i = (i + 1) & (cap - 1);
        t[i] = s->slots[j];
    }
    if (s->slots)
        imem_free(s->slots);
    __atomic_add_fetch(&table_bytes, (cap - s->cap) * sizeof *t, __ATOMIC_RELAXED);
    s->slots = t;
    s->cap = cap;
    return 0;
}

/* The hot paths (insert, remove) make every call a tail call, so that they keep nothing in
 * callee-saved registers (no prologue saves): the shard lock is taken with one CAS, and
 * anything else (a contended lock, growth, a back-shift, a futex wake at release) goes to a
 * function that finishes the operation. */

/* The release's futex wake (a waiter was seen): finishes a remove, returning r. */
static PS_NOINLINE PS_COLD int ls_wake(shard_t *s, int r)
{
    prim_futex_wake(&s->lock.v, 1);
    return r;
}

static PS_ALWAYS_INLINE int ls_unlock(shard_t *s, int r)
{
    if (PS_UNLIKELY(__atomic_exchange_n(&s->lock.v, 0, __ATOMIC_RELEASE) == 2))
        return ls_wake(s, r); /* as ilock_unlock */
    return r;
}

/* Lock held: the insert itself. */
static PS_ALWAYS_INLINE void ls_put(shard_t *s, uint64_t ptr, uint64_t size, uint32_t stack,
                                    uint32_t flags)
{
    uint64_t mask = s->cap - 1, i = ls_hash(ptr) & mask;
    while (s->slots[i].ptr && s->slots[i].ptr != ptr)
        i = (i + 1) & mask;
    if (!s->slots[i].ptr)
        s->n++; /* else: a release we never saw; the new block replaces the old */
    s->slots[i] = (liveset_entry_t){ptr, size, stack, flags};
}

/* An insert that found the lock taken, or the table too full: lock (waiting), grow, insert,
 * unlock. `locked`: the caller holds the lock already. */
static PS_NOINLINE void ls_insert_slow(shard_t *s, int locked, uint64_t ptr, uint64_t size,
                                       uint32_t stack, uint32_t flags)
{
    if (!locked)
        ilock_lock(&s->lock);
    if (PS_UNLIKELY((s->n + 1) * 4 > s->cap * 3) && ls_grow(s) != 0) {
        ilock_unlock(&s->lock);
        __atomic_add_fetch(&untracked, 1, __ATOMIC_RELAXED);
        PS_WARN_ONCE("out of memory for the live set; the leak check will be incomplete");
        return;
    }
    ls_put(s, ptr, size, stack, flags);
    ilock_unlock(&s->lock);
}

void liveset_insert(uint64_t ptr, uint64_t size, uint32_t stack, uint32_t flags)
{
    shard_t *s = ls_shard(ptr);
    if (PS_UNLIKELY(!ilock_trylock(&s->lock))) {
        ls_insert_slow(s, 0, ptr, size, stack, flags);
        return;
    }
    if (PS_UNLIKELY((s->n + 1) * 4 > s->cap * 3)) {
        ls_insert_slow(s, 1, ptr, size, stack, flags);
        return;
    }
    ls_put(s, ptr, size, stack, flags);
    ls_unlock(s, 0);
}

/* Lock held: empties slot i of s, shifting the entries after it back (no tombstones): j
 * moves into the hole at i unless its home is in (i, j]; then counts it out and unlocks.
 * Returns 1. */
static PS_NOINLINE int ls_delete_shift(shard_t *s, uint64_t i)
{
    uint64_t mask = s->cap - 1;
    for (uint64_t j = i;;) {
        j = (j + 1) & mask;
        if (!s->slots[j].ptr)
            break;
        uint64_t home = ls_hash(s->slots[j].ptr) & mask;
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i].ptr = 0;
    s->n--;
    ilock_unlock(&s->lock);
    return 1;
}

/* Lock held: the remove itself. */
static PS_ALWAYS_INLINE int ls_take(shard_t *s, uint64_t ptr, liveset_entry_t *out)
{
    liveset_entry_t *t = s->slots;
    if (PS_UNLIKELY(!t))
        return ls_unlock(s, 0);
    uint64_t mask = s->cap - 1, i = ls_hash(ptr) & mask;
    while (t[i].ptr != ptr) {
        if (!t[i].ptr)
            return ls_unlock(s, 0);
        i = (i + 1) & mask;
    }
    if (out)
        *out = t[i];
    if (PS_UNLIKELY(t[(i + 1) & mask].ptr != 0))
        return ls_delete_shift(s, i); /* a run continues after it */
    t[i].ptr = 0; /* the usual case at <= 3/4 full */
    s->n--;
    return ls_unlock(s, 1);
}

static PS_NOINLINE int ls_remove_slow(shard_t *s, uint64_t ptr, liveset_entry_t *out)
{
    ilock_lock(&s->lock);
    return ls_take(s, ptr, out);
}

int liveset_remove(uint64_t ptr, liveset_entry_t *out)
{
    shard_t *s = ls_shard(ptr);
    if (PS_UNLIKELY(!ilock_trylock(&s->lock)))
        return ls_remove_slow(s, ptr, out);
    return ls_take(s, ptr, out);
}

int liveset_set_flags(uint64_t ptr, uint32_t flags)
{
    shard_t *s = ls_shard(ptr);
    int found = 0;
    ilock_lock(&s->lock);
    if (s->cap) {
        uint64_t mask = s->cap - 1, i = ls_hash(ptr) & mask;
        while (s->slots[i].ptr && s->slots[i].ptr != ptr)
            i = (i + 1) & mask;
        if (s->slots[i].ptr) {
            s->slots[i].flags |= flags;
            found = 1;
        }
    }
    ilock_unlock(&s->lock);
    return found;
}

void liveset_lock_all(void)
{
    for (unsigned i = 0; i < LIVESET_SHARDS; i++)
        ilock_lock(&shards[i].lock);
}

void liveset_unlock_all(void)
{
    for (unsigned i = LIVESET_SHARDS; i-- > 0;)
        ilock_unlock(&shards[i].lock);
}

uint64_t liveset_count(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < LIVESET_SHARDS; i++)
        n += shards[i].n;
    return n;
}

uint64_t liveset_export(liveset_entry_t *out, uint64_t cap)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < LIVESET_SHARDS; i++)
        for (uint64_t j = 0; j < shards[i].cap && n < cap; j++)
            if (shards[i].slots[j].ptr)
                out[n++] = shards[i].slots[j];
    return n;
}

void liveset_visit_shard(unsigned i, void (*fn)(const liveset_entry_t *e, void *arg), void *arg)
{
    shard_t *s = &shards[i % LIVESET_SHARDS];
    ilock_lock(&s->lock);
    for (uint64_t j = 0; j < s->cap; j++)
        if (s->slots[j].ptr)
            fn(&s->slots[j], arg);
    ilock_unlock(&s->lock);
}

uint64_t liveset_untracked(void)
{
    return __atomic_load_n(&untracked, __ATOMIC_RELAXED);
}

uint64_t liveset_bytes(void)
{
    return __atomic_load_n(&table_bytes, __ATOMIC_RELAXED);
}

void liveset_after_fork_child(void)
{
    /* The child's trace starts afresh (new stack ids): inherited blocks stay in the set,
     * marked inherited and with no stack, so its leak check covers them too. */
    for (unsigned i = 0; i < LIVESET_SHARDS; i++) {
        ilock_reset(&shards[i].lock);
        for (uint64_t j = 0; j < shards[i].cap; j++)
            if (shards[i].slots[j].ptr) {
                shards[i].slots[j].stack = 0;
                shards[i].slots[j].flags |= LIVESET_F_INHERITED;
            }
    }
}
