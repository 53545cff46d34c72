/*
 * churn -- 4 threads allocate 2 M blocks in all and hand most of them to the next thread to
 * free (cross-thread frees race address reuse). The trace must hold exactly the workload's
 * own counts: no event lost or duplicated, every free matched, no address live twice.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"

#ifndef NTHREADS /* churn8: 8 threads (issue 6 stress) */
#define NTHREADS 4
#endif
#ifdef CHURN_BACKPRESSURE
/* A 1 MiB queue of 16 KiB buffers and slow compression: the writer falls behind and the
 * producers must compress their own chunks. The counts must stay exact. */
#define PER_THREAD 100000
#else
#define PER_THREAD 500000
#endif
#define RING 1024

typedef struct ring_s {
    _Atomic size_t head, tail;
    void *slot[RING];
} ring_t;

static ring_t rings[NTHREADS]; /* rings[i]: blocks thread i frees */
static uint64_t n_alloc[NTHREADS], n_free[NTHREADS];
static _Atomic int done;

__attribute__((noinline)) void *churn_alloc(size_t n) { return malloc(n); }
__attribute__((noinline)) void churn_free(void *p) { free(p); }

static int ring_push(ring_t *r, void *p)
{
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (t - atomic_load_explicit(&r->head, memory_order_acquire) == RING)
        return 0;
    r->slot[t % RING] = p;
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return 1;
}

static void *ring_pop(ring_t *r)
{
    size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h == atomic_load_explicit(&r->tail, memory_order_acquire))
        return NULL;
    void *p = r->slot[h % RING];
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return p;
}

void *churn_worker(void *arg);
void *churn_worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    char name[16];
    snprintf(name, sizeof name, "churn-%d", i);
    pthread_setname_np(pthread_self(), name);
    ring_t *out = &rings[(i + 1) % NTHREADS], *in = &rings[i];
    for (int k = 0; k < PER_THREAD; k++) {
        void *p = churn_alloc(16 + (size_t)(k & 63));
        n_alloc[i]++;
        if (!ring_push(out, p)) {
            churn_free(p);
            n_free[i]++;
        }
        void *q = ring_pop(in);
        if (q) {
            churn_free(q);
            n_free[i]++;
        }
    }
    atomic_fetch_add(&done, 1);
    for (;;) { /* drain until every producer is done and the ring is empty */
        void *q = ring_pop(in);
        if (q) {
            churn_free(q);
            n_free[i]++;
        } else if (atomic_load(&done) == NTHREADS) {
            if (!(q = ring_pop(in)))
                break;
            churn_free(q);
            n_free[i]++;
        }
    }
    return NULL;
}

static void run(int argc, char **argv)
{
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&th[i], NULL, churn_worker, (void *)(intptr_t)i);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    FILE *f = argc > 0 ? fopen(argv[0], "w") : NULL;
    for (int i = 0; f && i < NTHREADS; i++)
        fprintf(f, "%" PRIu64 " %" PRIu64 "\n", n_alloc[i], n_free[i]);
    if (f)
        fclose(f);
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    char counts[4300];
    snprintf(counts, sizeof counts, "%s.counts", path);
    char *args[] = {counts, NULL};
#ifdef CHURN_BACKPRESSURE
    setenv("PERFSHIM_QUEUE_MB", "1", 1);
    setenv("PERFSHIM_BUFFER_KB", "16", 1);
    setenv("PERFSHIM_ZSTD_LEVEL", "12", 1);
#endif
    int status = harness_record(path, args, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fprintf(stderr, "workload failed: %d\n", status), 1;
    FILE *f = fopen(counts, "r");
    uint64_t want_alloc = 0, want_free = 0, a, b;
    while (f && fscanf(f, "%" SCNu64 " %" SCNu64, &a, &b) == 2) {
        want_alloc += a;
        want_free += b;
    }
    if (f)
        fclose(f);
    unlink(counts);
    trace_t t;
    if (trace_load(path, &t) != 0)
        return 1;
    uint64_t allocs = trace_count_site(&t, "churn_alloc", EV_ALLOC, PS_FN_MALLOC, NULL);
    uint64_t frees = 0;
    for (size_t k = 0; k < t.nev; k++) {
        hthread_t *th = trace_thread(&t, t.ev[k].tid);
        frees += t.ev[k].kind == EV_FREE && strncmp(th->name, "churn-", 6) == 0;
    }
    replay_t r;
    trace_replay(&t, &r);
    int fails = !t.have_end || t.end.dropped || t.end.events != t.chunk_events ||
                t.decode_error ||
                allocs != want_alloc || frees != want_free ||
                want_alloc != (uint64_t)NTHREADS * PER_THREAD || r.unmatched_frees ||
                r.double_allocs;
#ifdef CHURN_BACKPRESSURE
    if (t.end.chunks_inline == 0) {
        fprintf(stderr, "churn: the producers never compressed their own chunks\n");
        fails = 1;
    }
    fprintf(stderr, "churn: %" PRIu64 " of %" PRIu64 " chunks compressed by app threads\n",
            t.end.chunks_inline, t.end.chunks);
#endif
    fprintf(stderr,
            "churn: trace %" PRIu64 " allocs / %" PRIu64 " frees from the workers (workload: %" PRIu64
            " / %" PRIu64 "), %zu events, end.events %" PRIu64 ", dropped %" PRIu64
            ", unmatched %" PRIu64 ", double %" PRIu64 ": %s\n",
            allocs, frees, want_alloc, want_free, t.nev, t.end.events, t.end.dropped,
            r.unmatched_frees, r.double_allocs, fails ? "FAIL" : "ok");
    trace_free(&t);
    if (!fails)
        unlink(path);
    return fails;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
