/*
 * locks_check.h -- helpers for the lock integration tests (test-only names): run
 * `perfshim locks --format=json` in-process on a recorded trace and find locks by the
 * function of their call sites.
 *
 * Contract: locks_json_load() returns the parsed JSON (json_free it) or NULL after printing
 * why. lock_by_site_fn() returns the first element of `arr` (a "locks" or "condvars" array)
 * one of whose sites' innermost frame is function `fn`, or NULL. CHECK/CHECK_U64 count
 * failures in the including file's `fails`.
 */
#ifndef PERFSHIM_LOCKS_CHECK_H
#define PERFSHIM_LOCKS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#include "check.h"
#include "json_mini.h"
/* harness.h has its own replay_t, so locks_report.h (analyzer replay.h) cannot be included */
int locks_main(int argc, char **argv);


static inline json_t *locks_json_load(const char *trace, char **text_out)
{
    char out[4300];
    snprintf(out, sizeof out, "%s.json", trace);
    char *argv[] = {(char *)"locks", (char *)"--format=json", (char *)"-q", (char *)"-o", out,
                    (char *)trace, NULL};
    if (locks_main(6, argv) != 0) {
        fprintf(stderr, "locks_main failed\n");
        return NULL;
    }
    FILE *f = fopen(out, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0, got;
    char *b = malloc(cap);
    while (b && (got = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap)
            b = realloc(b, cap *= 2);
    }
    fclose(f);
    if (!b)
        return NULL;
    b[n] = 0;
    char err[256];
    json_t *j = json_parse(b, err, sizeof err);
    if (!j)
        fprintf(stderr, "%s: %s\n", out, err);
    else
        unlink(out);
    *text_out = b;
    return j;
}

/* Runs the workload under the shim into `trace` (harness_record) and loads its lock JSON;
 * NULL after saying why. */
static inline json_t *locks_record_load(const char *trace, char **text_out)
{
    int status = harness_record(trace, NULL, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "workload failed (a result differed from the truth): %d\n", status);
        return NULL;
    }
    return locks_json_load(trace, text_out);
}

static inline const char *frame_fn(const json_t *stack, size_t i)
{
    return json_str_of(json_at(stack, i), "function");
}

static inline const json_t *lock_by_site_fn(const json_t *arr, const char *fn)
{
    for (size_t i = 0; arr && i < arr->n; i++) {
        const json_t *sites = json_get(json_at(arr, i), "sites");
        for (size_t k = 0; sites && k < sites->n; k++) {
            const char *f = frame_fn(json_get(json_at(sites, k), "stack"), 0);
            if (f && !strcmp(f, fn))
                return json_at(arr, i);
        }
    }
    return NULL;
}

/* The sum of `key` over a lock's sites. */
static inline uint64_t sites_sum(const json_t *lock, const char *key)
{
    const json_t *sites = json_get(lock, "sites");
    uint64_t s = 0;
    for (size_t k = 0; sites && k < sites->n; k++)
        s += json_u64(json_at(sites, k), key);
    return s;
}

/* A lock test's end: its verdict, the JSON on failure (kept with the trace for a look),
 * else the trace removed. Returns the test's status. */
static inline int locks_finish(const char *name, json_t *j, char *text, const char *path)
{
    fprintf(stderr, "%s: %s\n", name, fails ? "FAIL" : "ok");
    if (fails)
        fprintf(stderr, "%s\n", text);
    json_free(j);
    free(text);
    if (!fails)
        unlink(path);
    return fails != 0;
}

#endif /* PERFSHIM_LOCKS_CHECK_H */
