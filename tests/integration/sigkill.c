/*
 * sigkill -- a process killed with SIGKILL mid-run leaves a trace that reads cleanly up to its
 * last whole chunk: periodic flushing bounds the loss, no end record, no decode error, and
 * every free in it matches an allocation in it. Idle: with a writer thread (the program has
 * run a thread), records reach the file within the flush period; single-threaded (no writer
 * thread), they are written by the thread's first event after the flush period.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "perfshim/errors.h"
#include "test.h"

__attribute__((noinline)) void *kill_site(void) { return malloc(32); }
__attribute__((noinline)) void *idle_site(void) { return malloc(24); }
void *volatile keep_idle[11];

static void *thread_once(void *arg)
{
    (void)arg;
    keep_idle[0] = malloc(8);
    free(keep_idle[0]);
    return NULL;
}

static void run(int argc, char **argv)
{
    if (argc > 0 && strcmp(argv[0], "idle") == 0) {
        /* A thread first, so the shim's writer thread runs. Then 10 allocations fill no
         * buffer: only the writer's periodic flush can save them. */
        pthread_t t;
        pthread_create(&t, NULL, thread_once, NULL);
        pthread_join(t, NULL);
        for (int i = 0; i < 10; i++)
            keep_idle[i] = idle_site();
        for (;;)
            pause();
    }
    if (argc > 0 && strcmp(argv[0], "idle1") == 0) {
        /* Single-threaded: no writer thread; the records that waited longer than the flush
         * period are written by the thread's next event (the 11th allocation, which itself
         * stays in the buffer and is lost with it). */
        for (int i = 0; i < 10; i++)
            keep_idle[i] = idle_site();
        struct timespec ts = {0, 300000000};
        nanosleep(&ts, NULL);
        keep_idle[10] = idle_site();
        for (;;)
            pause();
    }
    void *keep[64] = {0};
    for (unsigned long i = 0;; i++) {
        free(keep[i % 64]);
        keep[i % 64] = kill_site();
        if (i % 1000 == 999) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    int status = harness_record(path, NULL, 600);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        return fprintf(stderr, "workload was not killed: status %d\n", status), 1;
    trace_t t;
    if (trace_load(path, &t) != 0)
        return 1;
    int fails = 0;
    uint64_t n = trace_count_site(&t, "kill_site", EV_ALLOC, PS_FN_MALLOC, NULL);
    replay_t r;
    trace_replay(&t, &r);
    if (t.have_end || t.decode_error || t.chunks < 2 || n < 1000 ||
        (t.index_status != 0 && t.index_status != -PS_E_TRUNCATED) || r.unmatched_frees ||
        r.double_allocs) {
        fprintf(stderr,
                "sigkill: end=%d decode=%d chunks=%" PRIu64 " kill_site=%" PRIu64
                " index=%d unmatched=%" PRIu64 " double=%" PRIu64 "\n",
                t.have_end, t.decode_error, t.chunks, n, t.index_status, r.unmatched_frees,
                r.double_allocs);
        fails++;
    }
    fprintf(stderr, "sigkill: %" PRIu64 " chunks, %" PRIu64 " allocations from kill_site, %s\n",
            t.chunks, n, fails ? "FAIL" : "ok");
    trace_free(&t);
    if (!fails)
        unlink(path);

    /* an idle thread's records reach the file within the flush period (100 ms default) */
    char *idle[] = {(char *)"idle", NULL};
    status = harness_record(path, idle, 700);
    if (!WIFSIGNALED(status) || trace_load(path, &t) != 0)
        return fprintf(stderr, "idle workload failed: %d\n", status), 1;
    n = trace_count_site(&t, "idle_site", EV_ALLOC, PS_FN_MALLOC, NULL);
    if (n != 10 || t.have_end) {
        fprintf(stderr, "sigkill idle: %" PRIu64 " of 10 allocations flushed, end=%d\n", n,
                t.have_end);
        fails++;
    }
    trace_free(&t);
    if (!fails)
        unlink(path);

    char *idle1[] = {(char *)"idle1", NULL};
    status = harness_record(path, idle1, 700);
    if (!WIFSIGNALED(status) || trace_load(path, &t) != 0)
        return fprintf(stderr, "idle1 workload failed: %d\n", status), 1;
    n = trace_count_site(&t, "idle_site", EV_ALLOC, PS_FN_MALLOC, NULL);
    if (n != 10 || t.have_end) {
        fprintf(stderr, "sigkill idle1: %" PRIu64 " of 10 allocations flushed, end=%d\n", n,
                t.have_end);
        fails++;
    }
    trace_free(&t);
    if (!fails)
        unlink(path);
    return fails != 0;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
