/*
 * churn -- 4 threads allocate 2 M blocks in all and hand most of them to the next thread to
 * free (cross-thread frees race address reuse). The trace must hold exactly the workload's
 * own counts: no event lost or duplicated, every free matched, no address live twice.
 * churn8 (issue 6's stress): 8 threads, and every 4th iteration each one also takes a shared
 * mutex (allocating inside it) and every 8th a shared rwlock for reading, one in 64 for
 * writing: the lock counts of `perfshim locks` must be the workload's own, with no deadlock.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"
#ifdef CHURN_LOCKS
#include "locks_check.h"
#endif

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

#include "../workloads/spsc_ring.h"

static ring_t rings[NTHREADS]; /* rings[i]: blocks thread i frees */
static uint64_t n_alloc[NTHREADS], n_free[NTHREADS];
static _Atomic int done;

__attribute__((noinline)) void *churn_alloc(size_t n) { return malloc(n); }
__attribute__((noinline)) void churn_free(void *p) { free(p); }

#ifdef CHURN_LOCKS
static pthread_mutex_t stress_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t stress_rwlock = PTHREAD_RWLOCK_INITIALIZER;
static uint64_t n_mutex[NTHREADS], n_rd[NTHREADS], n_wr[NTHREADS], shared_sum;
static void *volatile held_block;

/* Takes the mutex and allocates inside it (a block the next call frees). */
__attribute__((noinline)) void stress_mutex_section(int i)
{
    pthread_mutex_lock(&stress_mutex);
    void *old = held_block;
    held_block = churn_alloc(32);
    n_alloc[i]++;
    if (old) {
        churn_free(old);
        n_free[i]++;
    }
    shared_sum++;
    pthread_mutex_unlock(&stress_mutex);
    n_mutex[i]++;
}

__attribute__((noinline)) void stress_rwlock_section(int i, int write)
{
    if (write) {
        pthread_rwlock_wrlock(&stress_rwlock);
        shared_sum++;
        n_wr[i]++;
    } else {
        pthread_rwlock_rdlock(&stress_rwlock);
        (void)*(volatile uint64_t *)&shared_sum;
        n_rd[i]++;
    }
    pthread_rwlock_unlock(&stress_rwlock);
}
#endif

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
#ifdef CHURN_LOCKS
        if ((k & 3) == 0)
            stress_mutex_section(i);
        if ((k & 7) == 0)
            stress_rwlock_section(i, (k & 63) == 0);
#endif
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
#ifdef CHURN_LOCKS
    if (held_block) /* the last block the mutex section kept (not a worker's free) */
        free(held_block);
#endif
    FILE *f = argc > 0 ? fopen(argv[0], "w") : NULL;
    for (int i = 0; f && i < NTHREADS; i++) {
        fprintf(f, "%" PRIu64 " %" PRIu64, n_alloc[i], n_free[i]);
#ifdef CHURN_LOCKS
        fprintf(f, " %" PRIu64 " %" PRIu64 " %" PRIu64, n_mutex[i], n_rd[i], n_wr[i]);
#endif
        fputc('\n', f);
    }
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
#ifdef CHURN_LOCKS
    uint64_t want_mutex = 0, want_rd = 0, want_wr = 0;
#endif
    while (f && fscanf(f, "%" SCNu64 " %" SCNu64, &a, &b) == 2) {
        want_alloc += a;
        want_free += b;
#ifdef CHURN_LOCKS
        uint64_t m, rd, wr;
        if (fscanf(f, "%" SCNu64 " %" SCNu64 " %" SCNu64, &m, &rd, &wr) == 3) {
            want_mutex += m;
            want_rd += rd;
            want_wr += wr;
        }
#endif
    }
    if (f)
        fclose(f);
    unlink(counts);
    trace_t t;
    if (trace_load(path, &t) != 0)
        return 1;
    uint64_t allocs = trace_count_site(&t, "churn_alloc", EV_ALLOC, PS_FN_MALLOC, NULL);
    uint64_t per_thread_allocs = (uint64_t)NTHREADS * PER_THREAD;
#ifdef CHURN_LOCKS
    per_thread_allocs += want_mutex; /* one allocation per mutex section */
    /* the lock counts, from perfshim locks --format=json */
    char *text = NULL;
    json_t *j = locks_json_load(path, &text);
    const json_t *locks = json_get(j, "locks");
    const json_t *mx = lock_by_site_fn(locks, "stress_mutex_section");
    const json_t *rw = lock_by_site_fn(locks, "stress_rwlock_section");
    CHECK(j && mx && rw);
    CHECK_U64(mx, "acquisitions", want_mutex);
    CHECK_U64(rw, "acquisitions", want_rd + want_wr);
    CHECK_U64(rw, "read_acquisitions", want_rd);
    CHECK_U64(mx, "allocations_while_held", want_mutex);
    CHECK(want_mutex == (uint64_t)NTHREADS * (PER_THREAD / 4) &&
          want_rd + want_wr == (uint64_t)NTHREADS * (PER_THREAD / 8));
    fprintf(stderr, "churn: locks: mutex %" PRIu64 " (workload %" PRIu64 "), rwlock %" PRIu64
                    " (workload %" PRIu64 "), %" PRIu64 " contended mutex acquisitions\n",
            json_u64(mx, "acquisitions"), want_mutex, json_u64(rw, "acquisitions"),
            want_rd + want_wr, json_u64(mx, "contended"));
    json_free(j);
    free(text);
#endif
    uint64_t frees = 0;
    for (size_t k = 0; k < t.nev; k++) {
        hthread_t *th = trace_thread(&t, t.ev[k].tid);
        frees += t.ev[k].kind == EV_FREE && strncmp(th->name, "churn-", 6) == 0;
    }
    replay_t r;
    trace_replay(&t, &r);
#ifdef CHURN_LOCKS
    int lock_fails = fails;
#else
    int lock_fails = 0;
#endif
    int bad = !t.have_end || t.end.dropped || t.end.events != t.chunk_events ||
                t.decode_error ||
                allocs != want_alloc || frees != want_free ||
                want_alloc != per_thread_allocs || r.unmatched_frees || r.double_allocs;
#ifdef CHURN_LOCKS
    bad |= fails != 0; /* the lock checks */
#endif
#ifdef CHURN_BACKPRESSURE
    if (t.end.chunks_inline == 0) {
        fprintf(stderr, "churn: the producers never compressed their own chunks\n");
        bad = 1;
    }
    fprintf(stderr, "churn: %" PRIu64 " of %" PRIu64 " chunks compressed by app threads\n",
            t.end.chunks_inline, t.end.chunks);
#endif
    fprintf(stderr,
            "churn: trace %" PRIu64 " allocs / %" PRIu64 " frees from the workers (workload: %" PRIu64
            " / %" PRIu64 "), %zu events, end.events %" PRIu64 ", dropped %" PRIu64
            ", unmatched %" PRIu64 ", double %" PRIu64
            " (chunks' events %" PRIu64 ", end record %d, decode error %d, lock checks failed %d): %s\n",
            allocs, frees, want_alloc, want_free, t.nev, t.end.events, t.end.dropped,
            r.unmatched_frees, r.double_allocs, t.chunk_events, t.have_end, t.decode_error, lock_fails,
            bad ? "FAIL" : "ok");
    trace_free(&t);
    if (!bad)
        unlink(path);
    return bad;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
