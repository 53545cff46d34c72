/* acost.c -- see acost.h. Open addressing, linear probing; the table never moves. */
#include <config.h>

#include "acost.h"

#include <errno.h>
#include <string.h>

#include "imem.h"

void acost_add_slow(tstate_t *st, uint32_t key, uint64_t ns)
{
    acost_t *a = st->acost;
    if (!a) {
        int saved = errno; /* called after a real free too: the app's errno stays */
        a = imem_alloc(sizeof *a);
        errno = saved;
        if (!a)
            return; /* no memory: this thread's allocator time goes unmeasured */
        st->acost = a;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = (key * 0x9e3779b1u) >> (32 - 10), n = 0; n < ACOST_SLOTS;
             i = (i + 1) & (ACOST_SLOTS - 1), n++) {
            acost_ent_t *e = &a->ent[i];
            if (e->key == key) {
                acost_bump(e, ns);
                return;
            }
            if (e->key != 0)
                continue;
            if (a->used >= ACOST_SLOTS * 3 / 4 && key > 2)
                break; /* full: a new stack is summed into its kind's stack 0 */
            e->key = key;
            a->used++;
            acost_bump(e, ns);
            return;
        }
        key = ((key - 1) & 1u) + 1u;
    }
}

void acost_flush(tstate_t *st, tstate_t *out)
{
    acost_t *a = st->acost;
    if (!a || !a->used)
        return;
    for (uint32_t i = 0; i < ACOST_SLOTS; i++) {
        acost_ent_t *e = &a->ent[i];
        if (!e->key || !e->calls)
            continue;
        ps_rec_alloc_cost_t r = {.h = {PS_REC_ALLOC_COST, (uint8_t)((e->key - 1) & 1u), sizeof r},
                                 .stack = (e->key - 1) >> 1,
                                 .tid = (uint32_t)st->tid,
                                 .calls = e->calls,
                                 .sampled = e->sampled};
        if (e->sampled) /* the timed calls' total, scaled to every call */
            r.ns = (uint64_t)((unsigned __int128)e->ns * e->calls / e->sampled);
        memcpy(r.hist, e->hist, sizeof r.hist);
        unsigned char *p = tstate_reserve(out, sizeof r);
        if (!p)
            return;
        memcpy(p, &r, sizeof r);
        tstate_commit(out, sizeof r);
        e->calls = 0;
        e->ns = 0;
        e->sampled = 0;
        memset(e->hist, 0, sizeof e->hist);
    }
}

void acost_free(tstate_t *st)
{
    imem_free(st->acost);
    st->acost = NULL;
}
