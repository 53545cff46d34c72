/*
 * threads -- 4 named threads allocate known counts and sizes from a named function; every
 * thread's start and exit are in the trace with its name, and its events are exactly its own.
 * Then 9,000 short threads, one after another, each allocate once: every thread's first
 * unwind allocates libunwind's thread block (dynamic TLS), which glibc frees when the stack
 * is reused; none of those frees may reach the trace as an unmatched free, and the shim's
 * pool of 8,192 such blocks must be reused, not exhausted.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"

#define NTHREADS 4
#define PER_THREAD 2000

__attribute__((noinline)) void *thread_site(size_t n) { return malloc(n); }

#define NSHORT 9000
static void *short_thread(void *arg)
{
    free(thread_site(8));
    return arg;
}

void *worker(void *arg);
void *worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    char name[16];
    snprintf(name, sizeof name, "worker-%d", i);
    pthread_setname_np(pthread_self(), name);
    int n = PER_THREAD * (i + 1);
    void **v = malloc((size_t)n * sizeof *v); /* one more allocation, not from thread_site */
    for (int k = 0; k < n; k++)
        v[k] = thread_site(64 + (size_t)i);
    for (int k = 0; k < n; k++)
        free(v[k]);
    free(v);
    return NULL;
}

static void run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NSHORT; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, short_thread, NULL) == 0)
            pthread_join(t, NULL);
    }
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    int status = harness_record(path, NULL, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fprintf(stderr, "workload failed: %d\n", status), 1;
    trace_t t;
    if (trace_load(path, &t) != 0)
        return 1;
    int fails = 0;
    if (!t.have_end || t.end.dropped || t.end.events != t.chunk_events || t.decode_error) {
        fprintf(stderr, "trace incomplete or inconsistent\n");
        fails++;
    }
    for (int i = 0; i < NTHREADS; i++) {
        char name[16];
        snprintf(name, sizeof name, "worker-%d", i);
        hthread_t *th = NULL;
        for (size_t k = 0; k < t.nthreads; k++)
            if (strcmp(t.threads[k].name, name) == 0)
                th = &t.threads[k];
        if (!th || th->started != 1 || th->exited != 1) {
            fprintf(stderr, "%s: start/exit records missing\n", name);
            fails++;
            continue;
        }
        uint64_t allocs = 0, frees = 0, bytes = 0, other = 0;
        for (size_t k = 0; k < t.nev; k++) {
            const ev_t *e = &t.ev[k];
            if (e->tid != th->tid)
                continue;
            const char *fn = trace_frame_fn(&t, e->stack, 0);
            if (e->kind == EV_ALLOC && fn && strcmp(fn, "thread_site") == 0) {
                allocs++;
                bytes += e->size;
            } else if (e->kind == EV_ALLOC && fn && strcmp(fn, "worker") == 0) {
                other++;
            } else if (e->kind == EV_FREE) {
                frees++;
            }
        }
        uint64_t n = PER_THREAD * (uint64_t)(i + 1);
        if (allocs != n || bytes != n * (64 + (uint64_t)i) || frees != n + 1 || other != 1) {
            fprintf(stderr, "%s: allocs %" PRIu64 " bytes %" PRIu64 " frees %" PRIu64 " other %" PRIu64
                    "; expected %" PRIu64 ", %" PRIu64 ", %" PRIu64 ", 1\n", name, allocs, bytes,
                    frees, other, n, n * (64 + (uint64_t)i), n + 1);
            fails++;
        }
    }
    replay_t r;
    trace_replay(&t, &r);
    if (r.unmatched_frees || r.double_allocs) {
        fprintf(stderr, "replay: %" PRIu64 " unmatched frees, %" PRIu64 " double allocs\n",
                r.unmatched_frees, r.double_allocs);
        fails++;
    }
    fprintf(stderr, "threads: %zu events, %zu threads, %s\n", t.nev, t.nthreads, fails ? "FAIL" : "ok");
    trace_free(&t);
    if (!fails)
        unlink(path);
    return fails != 0;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
