/*
 * chrome_trace.c -- the Trace Event Format (JSON object form: "traceEvents", "displayTimeUnit",
 * "otherData"), what Perfetto UI and chrome://tracing open; a renderer of the profile view's
 * time axis (core/profile.h), its stacks left out. Events, all of process pid:
 *  - "M" metadata: process_name (the program), thread_name of each thread (the name it set,
 *    else "thread TID"; the main thread "main" when it set none);
 *  - "C" counters: "heap" {"live_bytes"} and "rss" {"rss_bytes"}, on the main thread;
 *  - "X" complete events: each lock wait of a thread (cat "lock_wait"; name: the lock and the
 *    waiter's function; args: "site", "wait_ns").
 * ts and dur are microseconds from the trace's start with three decimals (exact to the ns).
 * Written as the calls come, with yajl (formats/jsonw.h).
 *
 * Contract: analyzer-only. chrome_trace_format (formats.def) opens it; 0 or -PS_E_NOMEM.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/profile.h"
#include "formats/jsonw.h"
#include "perfshim/errors.h"

int chrome_trace_format(void *view, FILE *o); /* formats/formats.def */

typedef struct chrome_s {
    FILE *o;
    const profile_t *p;
    jsonw_t *w;
    bool started;
    uint32_t pid;
} chrome_t;

static void chrome_meta_event(chrome_t *C, const char *what, uint32_t tid, const char *name)
{
    jsonw_t *w = C->w;
    jsonw_map(w);
    jsonw_kstr(w, "name", what);
    jsonw_kstr(w, "ph", "M");
    jsonw_ku64(w, "pid", C->pid);
    jsonw_ku64(w, "tid", tid);
    jsonw_str(w, "args");
    jsonw_map(w);
    jsonw_kstr(w, "name", name);
    jsonw_map_end(w);
    jsonw_map_end(w);
}

/* The head, at the first event: the object, the list, the process's name. */
static int chrome_start(chrome_t *C)
{
    if (C->started)
        return 0;
    int rc = jsonw_open(&C->w, C->o);
    if (rc < 0)
        return rc;
    C->started = true;
    const profile_meta_t *m = C->p->meta;
    C->pid = m ? m->pid : 0;
    jsonw_map(C->w);
    jsonw_str(C->w, "traceEvents");
    jsonw_array(C->w);
    chrome_meta_event(C, "process_name", C->pid, m && m->exe ? m->exe : "perfshim trace");
    return 0;
}

static int chrome_sample(void *ctx, const sym_frame_t *fr, size_t n, const uint64_t *values,
                         size_t select)
{
    (void)ctx, (void)fr, (void)n, (void)values, (void)select;
    return 0;
}

static int chrome_thread(void *ctx, uint32_t tid, const char *name)
{
    chrome_t *C = ctx;
    int rc = chrome_start(C);
    if (rc < 0)
        return rc;
    char b[32];
    if (!name || !*name) {
        if (tid == C->pid)
            snprintf(b, sizeof b, "main");
        else
            snprintf(b, sizeof b, "thread %" PRIu32, tid);
        name = b;
    }
    chrome_meta_event(C, "thread_name", tid, name);
    return 0;
}

static int chrome_counter(void *ctx, const char *series, uint64_t t_ns, uint64_t value)
{
    chrome_t *C = ctx;
    int rc = chrome_start(C);
    if (rc < 0)
        return rc;
    jsonw_t *w = C->w;
    jsonw_map(w);
    jsonw_kstr(w, "name", series);
    jsonw_kstr(w, "ph", "C");
    jsonw_str(w, "ts");
    jsonw_us(w, t_ns);
    jsonw_ku64(w, "pid", C->pid);
    jsonw_ku64(w, "tid", C->pid);
    jsonw_str(w, "args");
    jsonw_map(w);
    jsonw_ku64(w, strcmp(series, "heap") == 0 ? "live_bytes" : strcmp(series, "rss") == 0
                                                                   ? "rss_bytes"
                                                                   : "value",
               value);
    jsonw_map_end(w);
    jsonw_map_end(w);
    return 0;
}

static int chrome_span(void *ctx, uint32_t tid, uint64_t start_ns, uint64_t dur_ns,
                       const char *name, const char *detail)
{
    chrome_t *C = ctx;
    int rc = chrome_start(C);
    if (rc < 0)
        return rc;
    jsonw_t *w = C->w;
    jsonw_map(w);
    jsonw_kstr(w, "name", name);
    jsonw_kstr(w, "cat", "lock_wait");
    jsonw_kstr(w, "ph", "X");
    jsonw_str(w, "ts");
    jsonw_us(w, start_ns);
    jsonw_str(w, "dur");
    jsonw_us(w, dur_ns);
    jsonw_ku64(w, "pid", C->pid);
    jsonw_ku64(w, "tid", tid);
    jsonw_str(w, "args");
    jsonw_map(w);
    jsonw_kstr(w, "site", detail ? detail : "");
    jsonw_ku64(w, "wait_ns", dur_ns);
    jsonw_map_end(w);
    jsonw_map_end(w);
    return 0;
}

static int chrome_finish(void *ctx)
{
    chrome_t *C = ctx;
    int rc = chrome_start(C);
    if (rc == 0) {
        jsonw_t *w = C->w;
        const profile_meta_t *m = C->p->meta;
        jsonw_array_end(w);
        jsonw_kstr(w, "displayTimeUnit", "ns");
        jsonw_str(w, "otherData");
        jsonw_map(w);
        jsonw_kstr(w, "exporter", "perfshim");
        jsonw_kstr(w, "cmdline", m && m->cmdline ? m->cmdline : "");
        jsonw_ku64(w, "duration_ns", m ? m->duration_ns : 0);
        jsonw_ku64(w, "peak_bytes", m ? m->peak_bytes : 0);
        jsonw_map_end(w);
        jsonw_map_end(w);
    }
    if (C->started) {
        int rc2 = jsonw_close(C->w);
        rc = rc < 0 ? rc : rc2;
    }
    free(C);
    return rc;
}

static const profile_ops_t chrome_ops = {.sample = chrome_sample,
                                         .finish = chrome_finish,
                                         .thread = chrome_thread,
                                         .counter = chrome_counter,
                                         .span = chrome_span};

int chrome_trace_format(void *view, FILE *o)
{
    profile_t *p = view;
    memset(p, 0, sizeof(*p));
    chrome_t *C = calloc(1, sizeof *C);
    if (!C)
        return -PS_E_NOMEM;
    C->o = o;
    C->p = p;
    p->ops = &chrome_ops;
    p->ctx = C;
    return 0;
}
