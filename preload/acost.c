/* acost.c -- see acost.h. Open addressing, linear probing; the table never moves. */
#include <config.h>

#include "acost.h"

#include <errno.h>
#include <string.h>

#include "imem.h"
#include "unwind.h"

/* The entry of key in a (inserted when `insert`; when the table is full, its kind's stack 0
 * entry), or NULL. */
static acost_ent_t *acost_slot(acost_t *a, uint32_t key, int insert)
{
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = (key * 0x9e3779b1u) >> (32 - 10), n = 0; n < ACOST_SLOTS;
             i = (i + 1) & (ACOST_SLOTS - 1), n++) {
            acost_ent_t *e = &a->ent[i];
            if (e->key == key)
                return e;
            if (e->key != 0)
                continue;
            if (a->used >= ACOST_SLOTS * 3 / 4 && key > 2)
                break; /* full: a new stack is summed into its kind's stack 0 */
            if (!insert)
                return NULL;
            e->key = key;
            a->used++;
            return e;
        }
        key = ((key - 1) & 1u) + 1u;
    }
    return NULL;
}

/* st's table, mapped on first use; NULL if there is no memory. */
static acost_t *acost_table(tstate_t *st)
{
    acost_t *a = st->acost;
    if (!a) {
        int saved = errno; /* called after a real free too: the app's errno stays */
        a = imem_alloc(sizeof *a);
        errno = saved;
        st->acost = a; /* NULL: no memory, this thread's allocator time goes unmeasured */
    }
    return a;
}

void acost_add_slow(tstate_t *st, uint32_t key, uint64_t ns)
{
    acost_t *a = acost_table(st);
    acost_ent_t *e = a ? acost_slot(a, key, 1) : NULL;
    if (e)
        acost_bump(e, ns);
}

void acost_add_calls(tstate_t *st, uint32_t stack, uint64_t calls)
{
    acost_t *a = acost_table(st);
    acost_ent_t *e = a ? acost_slot(a, stack * 2u + PS_COST_ALLOC + 1u, 1) : NULL;
    if (e)
        e->calls += calls;
}

/* The number of calls before the next timed one: each call is timed with probability
 * 1 / PS_COST_PERIOD (1/16), so that is geometric: the index of the first group of 4 random
 * bits that are all 0 (a group is one call's draw; 16 groups a 64-bit word). */
_Static_assert(PS_COST_PERIOD == 16u, "acost_draw_skip draws 4 bits a call");
static uint64_t acost_draw_skip(tstate_t *st)
{
    uint64_t x = st->cost_rng;
    if (PS_UNLIKELY(x == 0))
        x = (uint64_t)(uint32_t)st->tid * 0x9e3779b97f4a7c15ull | 1u;
    uint64_t k = 0;
    for (;;) {
        x ^= x << 13; /* xorshift64 */
        x ^= x >> 7;
        x ^= x << 17;
        /* bit 4j of z: group j (bits 4j..4j+3) all 0 */
        uint64_t z = ~x & ~x >> 1 & ~x >> 2 & ~x >> 3 & 0x1111111111111111ull;
        if (PS_LIKELY(z != 0)) {
            st->cost_rng = x;
            return k + (uint64_t)__builtin_ctzll(z) / 4u;
        }
        k += 16;
    }
}

int acost_pick_slow(tstate_t *st)
{
    /* cost_skip 0 on a fresh state: the first draw decides this call too */
    uint64_t k;
    if (PS_UNLIKELY(st->cost_rng == 0) && (k = acost_draw_skip(st)) > 0) {
        st->cost_skip = (int32_t)(k < INT32_MAX ? k : INT32_MAX); /* this call: the first of k */
        return 0;
    }
    k = acost_draw_skip(st); /* after this timed call: k not timed, then one timed */
    st->cost_skip = (int32_t)(k < INT32_MAX - 1 ? k + 1 : INT32_MAX);
    return 1;
}

/* One record of st's totals for key into out's stream; 0 if out has no room. */
static int acost_put(tstate_t *st, tstate_t *out, uint32_t key, const acost_ent_t *e,
                     uint64_t calls)
{
    ps_rec_alloc_cost_t r = {.h = {PS_REC_ALLOC_COST, (uint8_t)((key - 1) & 1u), sizeof r},
                             .stack = (key - 1) >> 1,
                             .tid = (uint32_t)st->tid,
                             .calls = calls};
    if (e) {
        r.sampled = e->sampled;
        r.ns = acost_total_ns(e->ticks, e->sampled, calls);
        memcpy(r.hist, e->hist, sizeof r.hist);
    }
    unsigned char *p = tstate_reserve(out, sizeof r);
    if (!p)
        return 0;
    memcpy(p, &r, sizeof r);
    tstate_commit(out, sizeof r);
    return 1;
}

void acost_flush(tstate_t *st, tstate_t *out)
{
    /* the releases not timed (acost_add_release) belong to the (0, PS_COST_RELEASE) entry */
    const uint32_t rel_key = 0u * 2u + PS_COST_RELEASE + 1u;
    uint64_t rel = st->cost_rel_calls;
    st->cost_rel_calls = 0;
    /* the untimed allocations counted by the stack cache's entries (rec_stack_alloc): into
     * the table. The thread itself inserts their keys; for a thread still running (out !=
     * st) the table is only looked up, a key it lacks (no call of that stack was timed)
     * written as a record of its own (its calls, none sampled: what the entry would say). */
    ucache_t *c = st->ucache;
    for (uint32_t i = 0; c && i <= UCACHE_ENTS; i++) {
        ucache_ent_t *u = i < UCACHE_ENTS ? &c->ent[i] : NULL;
        uint64_t n = u ? u->calls : c->spill_calls; /* (the last: a replaced entry's) */
        uint32_t id = u ? u->id : c->spill_id;
        if (!n)
            continue;
        if (u)
            u->calls = 0;
        else
            c->spill_calls = 0;
        if (st == out) {
            acost_add_calls(st, id, n);
            continue;
        }
        uint32_t key = id * 2u + PS_COST_ALLOC + 1u;
        acost_ent_t *e = st->acost ? acost_slot(st->acost, key, 0) : NULL;
        if (e)
            e->calls += n;
        else
            acost_put(st, out, key, NULL, n);
    }
    acost_t *a = st->acost;
    if (a && a->used) {
        for (uint32_t i = 0; i < ACOST_SLOTS; i++) {
            acost_ent_t *e = &a->ent[i];
            uint64_t calls = e->calls;
            if (e->key == rel_key) {
                calls += rel;
                rel = 0;
            }
            if (!e->key || !calls)
                continue;
            if (!acost_put(st, out, e->key, e, calls))
                return;
            e->calls = 0;
            e->ticks = 0;
            e->sampled = 0;
            memset(e->hist, 0, sizeof e->hist);
        }
    }
    if (rel) /* no release of this thread was timed */
        acost_put(st, out, rel_key, NULL, rel);
}

void acost_free(tstate_t *st)
{
    imem_free(st->acost);
    st->acost = NULL;
}
