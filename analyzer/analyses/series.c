/* series.c -- see series.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/series.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "perfshim/errors.h"

typedef struct sstate_s {
    replay_t *rp;
    series_t *s;
    uint64_t start;
    size_t cur;        /* the step of the last event */
    uint64_t cur_end;  /* its end (absolute) */
    bool seen[SERIES_STEPS];
} sstate_t;

int series_begin(replay_t *rp, void **state, const tracemodel_t *m)
{
    sstate_t *st = calloc(1, sizeof *st);
    series_t *s = calloc(1, sizeof *s);
    if (!st || !s) {
        free(st);
        free(s);
        return -PS_E_NOMEM;
    }
    st->rp = rp;
    st->s = rp->series = s;
    st->start = m->start_ns;
    s->step_ns = (m->span_end_ns - m->start_ns) / SERIES_STEPS + 1;
    st->cur_end = st->start + s->step_ns;
    *state = st;
    return 0;
}

int series_events(void *state, const pass_event_t *ev, size_t n)
{
    sstate_t *st = state;
    for (size_t k = 0; k < n; k++) {
        const pass_event_t *e = &ev[k];
        if (e->ts >= st->cur_end && st->cur + 1 < SERIES_STEPS) { /* a division per step */
            uint64_t i = (e->ts - st->start) / st->s->step_ns;
            st->cur = i < SERIES_STEPS ? (size_t)i : SERIES_STEPS - 1;
            st->cur_end = st->start + st->s->step_ns * (st->cur + 1);
        }
        st->s->live[st->cur] = st->rp->evres[k].live_bytes; /* the heap replay's, after e */
        st->seen[st->cur] = true;
    }
    return 0;
}

int series_event(void *state, const pass_event_t *e)
{
    return series_events(state, e, 1);
}

int series_record(void *state, uint32_t tid, const record_t *rec)
{
    (void)tid;
    sstate_t *st = state;
    series_t *s = st->s;
    if (rec->type != PS_REC_RSS)
        return 0;
    if (s->nrss == s->caprss) {
        size_t nc = s->caprss ? s->caprss * 2 : 64;
        uint64_t *a = realloc(s->rss_ts, nc * sizeof *a);
        if (a)
            s->rss_ts = a;
        uint64_t *b = a ? realloc(s->rss_bytes, nc * sizeof *b) : NULL;
        if (!b)
            return -PS_E_NOMEM;
        s->rss_bytes = b;
        s->caprss = nc;
    }
    uint64_t ts = rec->u.rss.ts;
    s->rss_ts[s->nrss] = ts > st->start ? ts - st->start : 0;
    s->rss_bytes[s->nrss++] = rec->u.rss.rss_bytes;
    return 0;
}

int series_end(void *state, const tracemodel_t *m)
{
    (void)m;
    sstate_t *st = state;
    for (size_t i = 1; i < SERIES_STEPS; i++) /* a step without events: the level before */
        if (!st->seen[i])
            st->s->live[i] = st->s->live[i - 1];
    return 0;
}

void series_state_free(void *state) { free(state); }

void series_free(series_t *s)
{
    if (!s)
        return;
    free(s->rss_ts);
    free(s->rss_bytes);
    free(s);
}
