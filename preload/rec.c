/* rec.c -- see rec.h. */
#include <config.h>

#include "rec.h"

#include <string.h>

#include "liveset.h"
#include "modmap.h"
#include "options.h"
#include "stacktab.h"

void rec_count_dropped(void)
{
    writer_count_dropped(1);
}

uint64_t rec_ld_lo, rec_ld_len;

/* The live set's LIVESET_F_LINKER for an allocation of stack id from ra (shim.h shim_live_add) */
static uint32_t rec_linker_flag(uint32_t id, uintptr_t ra)
{
    _Static_assert(LIVESET_F_LINKER == 1, "a compare's result");
    return id && ra - rec_ld_lo < rec_ld_len;
}

static uint32_t rec_stack_walk_body(tstate_t *st, uintptr_t ra, uintptr_t cfa)
{
    ucache_ent_t *fill = NULL;
    int depth;
    if (PS_LIKELY(unwind_safe(st) && (unwind_tls_ready || unwind_first_ok(ra))))
        depth = options.unwind == PS_UNWIND_AUTO
                    ? unwind_capture_cached(st, options.depth, ra, cfa, &fill)
                    : unwind_capture(st, options.depth);
    else
        depth = unwind_shallow(st->ips, ra);
    if (PS_UNLIKELY(st->ucache && st->ucache->spill_calls)) { /* a replaced entry's count */
        acost_add_calls(st, st->ucache->spill_id, st->ucache->spill_calls);
        st->ucache->spill_calls = 0;
    }
    if (PS_UNLIKELY(depth <= 0))
        return 0;
    int is_new;
    uint32_t id = stacktab_intern(st->ips, (uint32_t)depth, &is_new);
    if (is_new) {
        modmap_refresh(st);
        uint32_t len = (uint32_t)sizeof(ps_rec_stack_t) + (uint32_t)depth * 8u;
        unsigned char *p = tstate_reserve(st, len);
        if (PS_UNLIKELY(!p))
            return 0;
        ps_rec_stack_t r = {
            .h = {PS_REC_STACK, 0, (uint16_t)len}, .id = id, .depth = (uint32_t)depth};
        memcpy(p, &r, sizeof r);
        memcpy(p + sizeof r, st->ips, (size_t)depth * 8u);
        tstate_commit(st, len);
    }
    if (fill && id) { /* its STACK record is written: later events may use the id alone */
        fill->lsflags = rec_linker_flag(id, ra);
        ucache_publish(fill, ra, id);
    }
    return id;
}

/* (keeps errno: the hooks do not save it around their fast paths, rec.h) */
uint32_t rec_stack_walk(tstate_t *st, uintptr_t ra, uintptr_t cfa)
{
    int *ep = st->errnop, e = *ep;
    uint32_t id = rec_stack_walk_body(st, ra, cfa);
    *ep = e;
    return id;
}

uint64_t rec_stack_walk_untimed(tstate_t *st, uintptr_t ra, uintptr_t cfa)
{
    int *ep = st->errnop, e = *ep;
    uint32_t id = rec_stack_walk_body(st, ra, cfa);
    acost_add(st, PS_COST_ALLOC, id, ACOST_UNTIMED);
    *ep = e;
    return id | (uint64_t)rec_linker_flag(id, ra) << 32;
}

int rec_refill(tstate_t *st, uint32_t len)
{
    int *ep = st->errnop, e = *ep;
    int r = tstate_refill(st, len);
    if (r != 0)
        rec_count_dropped();
    *ep = e;
    return r;
}
