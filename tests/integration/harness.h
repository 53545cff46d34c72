/*
 * harness.h -- integration-test helpers: run this test program again under the shim, load the
 * trace it wrote into memory, replay the heap, and resolve stack frames to function names.
 *
 * Contract (test-only code): functions print a diagnostic and return <0 on failure. A test
 * program's main() calls harness_main(argc, argv, run_fn, check_fn): invoked with no
 * arguments it runs `self run` under LD_PRELOAD=$PERFSHIM_LIB (skipping with 77 when that is
 * unset) and then check_fn on the trace; invoked as `self run ...` it is the workload.
 */
#ifndef PERFSHIM_HARNESS_H
#define PERFSHIM_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "perfshim/trace_format.h"

enum ev_kind { EV_FREE = 0, EV_REALLOC_FREE = 1, EV_ALLOC = 2, EV_REALLOC_ALLOC = 3 };

typedef struct ev_s {
    uint64_t ts, ptr, size, align;
    uint32_t tid, stack;
    uint8_t kind, fn;
    uint64_t order; /* in its thread's stream: chunk seq << 32 | place in the chunk */
} ev_t;

typedef struct hthread_s {
    uint32_t tid;
    char name[16];
    int started, exited;
    uint64_t events;
} hthread_t;

typedef struct hmodule_s {
    char path[512];
    uint64_t base;
} hmodule_t;

typedef struct trace_s {
    ev_t *ev;
    size_t nev, cap;
    uint64_t **stack_ips; /* by id */
    uint32_t *stack_depth;
    uint32_t stack_cap;
    uint64_t stack_records;
    hmodule_t *mods;
    size_t nmods;
    hthread_t threads[10240]; /* threads.c: 9,004 */
    size_t nthreads;
    int have_end;
    ps_rec_end_t end;
    uint64_t chunk_events; /* sum of chunk headers' nevents */
    uint64_t chunks, rss_samples, modmaps;
    uint64_t reallocs; /* realloc records */
    uint64_t lock_sites; /* LOCK_SITE records */
    uint64_t lock_acq;   /* their acquisitions, summed */
    uint64_t lock_waits; /* LOCK_WAIT records */
    uint64_t lock_snaps, lock_snap_acq_max; /* LOCK_SITE snapshots: how many, the most
                                             * acquisitions one holds (not in lock_acq) */
    int index_status;  /* reader_index_status */
    int decode_error;  /* first error decoding a chunk, 0 if none */
} trace_t;

typedef struct replay_s {
    uint64_t allocs, frees, failed_allocs;
    uint64_t unmatched_frees; /* free of an address not live */
    uint64_t double_allocs;   /* allocation of an address already live */
    uint64_t live_end;
} replay_t;

typedef void (*harness_fn)(int argc, char **argv);
typedef int (*harness_check_fn)(trace_t *t, const char *trace_path);

int harness_main(int argc, char **argv, harness_fn run, harness_check_fn check);
/* Runs `self run args...` under the shim writing `trace_path`; returns the wait status. */
int harness_record(const char *trace_path, char *const args[], int kill_after_ms);
int trace_load(const char *path, trace_t *t);
void trace_free(trace_t *t);
void trace_replay(trace_t *t, replay_t *r);
/* Name of the function containing frame `frame` of stack `id` (from this program's symbol
 * table via dladdr), or NULL when the frame is not in this program. */
const char *trace_frame_fn(const trace_t *t, uint32_t id, uint32_t frame);
/* Events whose first frame is in function `fn` and whose kind is `kind` (-1: any alloc). */
uint64_t trace_count_site(const trace_t *t, const char *fn, int kind, uint8_t alloc_fn,
                          uint64_t *bytes);
hthread_t *trace_thread(trace_t *t, uint32_t tid);

/* The child's wait status (waitpid, retried on EINTR). */
int harness_wait(int pid);
/* Reads fd to its end (retrying EINTR) into out, at most cap - 1 bytes, NUL-terminated; closes
 * fd. Returns the bytes read. */
size_t harness_read_all(int fd, char *out, size_t cap);
/* The first 64 KiB - 1 bytes of a file, NUL-terminated, in a calloc'd buffer; NULL if it cannot
 * be opened. */
char *harness_slurp(const char *path);

#endif /* PERFSHIM_HARNESS_H */
