/*
 * clock_trace -- the trace's timestamps are CLOCK_MONOTONIC (issue 18: they come from the TSC,
 * prim.h): for ~3 s, with a 0.6 s quiet gap, the workload reads CLOCK_MONOTONIC, allocates a
 * block of a size used once, and reads it again; every such allocation's timestamp in the
 * trace lies between its two reads, within 5 us, and the timestamps of the thread's events
 * never go back.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"

#define K 300
#define BASE_SIZE 100000u
#define TOL_NS 5000u

static uint64_t mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t before[K], after[K];
static void *volatile sink;

static void run(int argc, char **argv)
{
    if (argc < 1)
        exit(2);
    for (int i = 0; i < K; i++) {
        struct timespec gap = {0, i == K / 2 ? 600000000 : 10000000};
        nanosleep(&gap, NULL);
        before[i] = mono();
        void *p = malloc(BASE_SIZE + (size_t)i);
        after[i] = mono();
        sink = p;
        free(p);
    }
    FILE *f = fopen(argv[argc - 1], "w"); /* the brackets, for the check */
    if (!f)
        exit(2);
    for (int i = 0; i < K; i++)
        fprintf(f, "%" PRIu64 " %" PRIu64 "\n", before[i], after[i]);
    fclose(f);
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    char brackets[4096];
    snprintf(brackets, sizeof brackets, "%s.brackets", path);
    char *args[] = {brackets, NULL};
    int status = harness_record(path, args, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "workload failed: status %d\n", status);
        return 1;
    }
    FILE *f = fopen(brackets, "r");
    if (!f)
        return 1;
    for (int i = 0; i < K; i++)
        if (fscanf(f, "%" SCNu64 " %" SCNu64, &before[i], &after[i]) != 2) {
            fclose(f);
            return 1;
        }
    fclose(f);
    trace_t t;
    if (trace_load(path, &t) != 0)
        return 1;
    int fails = 0, found = 0;
    uint64_t worst = 0, prev = 0;
    for (size_t j = 0; j < t.nev; j++) {
        const ev_t *e = &t.ev[j];
        if (e->tid == t.threads[0].tid) {
            if (e->ts < prev) {
                fprintf(stderr, "event %zu: ts %" PRIu64 " < the previous %" PRIu64 "\n", j,
                        e->ts, prev);
                fails++;
            }
            prev = e->ts;
        }
        if (e->kind != EV_ALLOC || e->size < BASE_SIZE || e->size >= BASE_SIZE + K)
            continue;
        int i = (int)(e->size - BASE_SIZE);
        found++;
        uint64_t err = e->ts < before[i] ? before[i] - e->ts
                       : e->ts > after[i] ? e->ts - after[i] : 0;
        if (err > worst)
            worst = err;
        if (err > TOL_NS) {
            fprintf(stderr, "allocation %d: ts %" PRIu64 " outside [%" PRIu64 ", %" PRIu64
                    "] by %" PRIu64 " ns\n", i, e->ts, before[i], after[i], err);
            fails++;
        }
    }
    if (found != K) {
        fprintf(stderr, "%d of %d allocations found\n", found, K);
        fails++;
    }
    fprintf(stderr, "clock_trace: %d allocations, worst distance from CLOCK_MONOTONIC %" PRIu64
            " ns, %s\n", found, worst, fails ? "FAIL" : "ok");
    trace_free(&t);
    if (!fails) {
        unlink(path);
        unlink(brackets);
    }
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
