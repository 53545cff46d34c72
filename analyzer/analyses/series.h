/*
 * series.h -- the live heap and the RSS as time series finer than the timeline's 20 slices,
 * for the timeline formats (chrome-trace, massif: core/profile.h's time axis): the live bytes
 * at the end of each of SERIES_STEPS equal steps of the trace's span (after the heap replay's
 * event, so exactly its live heap) and every RSS sample as it was recorded.
 *
 * Contract: analyzer-only, single-threaded. The series analysis of the table (analysis.h,
 * needs the heap replay, runs after it) calls series_begin with the replay_t whose start_ns
 * and evres (the live heap after each event) the replay keeps, series_event(s) after the
 * replay took each heap event (or batch), series_record for
 * each record, series_end after the pass; the result is rp->series (NULL when the analysis
 * did not run), freed by series_free (analyses_free). Functions return 0 or -PS_E_NOMEM.
 */
#ifndef PERFSHIM_SERIES_H
#define PERFSHIM_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "analyses/replay.h"

#define SERIES_STEPS 500

typedef struct series_s {
    uint64_t step_ns;            /* step i: [step_ns * i, step_ns * (i + 1)) from rp->start_ns */
    uint64_t live[SERIES_STEPS]; /* live bytes at the end of each step */
    uint64_t *rss_ts, *rss_bytes; /* each RSS sample (ts from rp->start_ns), in record order */
    size_t nrss, caprss;
} series_t;

int series_begin(replay_t *rp, void **state, const tracemodel_t *m);
int series_event(void *state, const pass_event_t *e);
int series_events(void *state, const pass_event_t *ev, size_t n); /* pass_ops_t.on_events */
int series_record(void *state, uint32_t tid, const record_t *rec);
int series_end(void *state, const tracemodel_t *m);
void series_state_free(void *state);
void series_free(series_t *s);

#endif /* PERFSHIM_SERIES_H */
