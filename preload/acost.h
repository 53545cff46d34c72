/*
 * acost.h -- the time the real allocator takes, per thread and allocation stack (issue 16's
 * "measured allocator cost"): the hooks read the cycle counter (tsc.h) around the real call
 * and add the ns here; the totals reach the trace as PS_REC_ALLOC_COST records
 * (trace_format.h), one per (thread, stack, kind), so the trace grows by the number of sites,
 * not of events.
 *
 * Contract: acost_add() is a hot-path inline called by the thread that owns st, guard set:
 * no lock, no allocation after the thread's first call (which maps its table, imem). A table
 * holds ACOST_SLOTS (stack, kind) pairs; later pairs are summed into stack 0 of their kind
 * (counted as such: the totals stay exact, only their attribution is coarser).
 * acost_flush() writes st's totals into `out`'s stream and empties st's table: called by a
 * thread at its exit (st == out), and at the trace's end for every thread still registered
 * (out: the thread ending the trace; a thread still running meanwhile may lose the calls it
 * adds during the flush). acost_free() releases the table (with its tstate).
 */
#ifndef PERFSHIM_ACOST_H
#define PERFSHIM_ACOST_H

#include <stdint.h>

#include "perfshim/compiler.h"
#include "perfshim/trace_format.h"
#include "tstate.h"

#define ACOST_SLOTS 1024u /* (stack, kind) pairs per thread: 128 KiB of address space */

typedef struct acost_ent_s {
    uint32_t key; /* stack id * 2 + kind, + 1; 0: empty */
    uint32_t pad;
    uint64_t calls, ns;
    uint32_t hist[PS_COST_BUCKETS];
} acost_ent_t; /* 120 bytes */

typedef struct acost_s {
    uint32_t used;
    acost_ent_t ent[ACOST_SLOTS];
} acost_t;

PS_NOINLINE void acost_add_slow(tstate_t *st, uint32_t key, uint64_t ns);
void acost_flush(tstate_t *st, tstate_t *out);
void acost_free(tstate_t *st);

static PS_ALWAYS_INLINE void acost_bump(acost_ent_t *e, uint64_t ns)
{
    unsigned b = ns < 2 ? 0u : 63u - (unsigned)__builtin_clzll(ns);
    e->calls++;
    e->ns += ns;
    e->hist[b < PS_COST_BUCKETS ? b : PS_COST_BUCKETS - 1]++;
}

/* kind: PS_COST_ALLOC or PS_COST_RELEASE; ns: the real call's duration. */
static PS_ALWAYS_INLINE void acost_add(tstate_t *st, uint32_t kind, uint32_t stack, uint64_t ns)
{
    uint32_t key = stack * 2u + kind + 1u;
    acost_t *a = st->acost;
    if (PS_LIKELY(a != NULL)) {
        acost_ent_t *e = &a->ent[(key * 0x9e3779b1u) >> (32 - 10)];
        if (PS_LIKELY(e->key == key)) {
            acost_bump(e, ns);
            return;
        }
    }
    acost_add_slow(st, key, ns);
}
_Static_assert(ACOST_SLOTS == 1024u, "acost_add's hash takes 10 bits");

#endif /* PERFSHIM_ACOST_H */
