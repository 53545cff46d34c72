/*
 * cxx_ops -- C++ operator new/delete under the shim (workload in cxx_work.cc): every form is
 * recorded with its own function id and the C++ call site as first frame, exact counts and
 * sizes per form; std::bad_alloc still reaches the app (recorded as a failed allocation);
 * exceptions unwind through allocating frames; and the report lists exactly the deliberate
 * mismatches (new[] -> delete x3, new[] -> free x2, malloc -> delete x4, new -> free x1) with
 * both stacks, and no double or invalid free. A second run with PERFSHIM_FREE_STACKS=2 also
 * gives free()'s stack.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "json_mini.h"
#include "report.h"
#include "test.h"

int cx_run(void);

static void run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int caught = cx_run();
    exit(caught == 5 ? 0 : 3);
}

#define SITE(t, fn, kind, afn, n, bytes)                                                       \
    do {                                                                                       \
        uint64_t b_, n_ = trace_count_site(t, fn, kind, afn, &b_);                             \
        if (n_ != (uint64_t)(n) || b_ != (uint64_t)(bytes)) {                                  \
            fprintf(stderr, "%s fn %d: %" PRIu64 " events, %" PRIu64 " bytes; expected %d and " \
                    "%llu\n", fn, afn, n_, b_, (int)(n), (unsigned long long)(bytes));         \
            fails++;                                                                           \
        }                                                                                      \
    } while (0)

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = 0;
    fclose(f);
    return s;
}

static const char *top_fn(const json_t *stack)
{
    return json_str_of(json_at(stack, 0), "function");
}

/* The summed count of the errors of `kind` whose alloc stack starts in alloc_top and whose free
 * function is free_fn (one call site can be several stacks: a loop unrolled by the compiler);
 * each must have a free stack starting in want_free_top (NULL: no free stack). */
static uint64_t find_error(const json_t *errs, const char *kind, const char *alloc_top,
                           const char *free_fn, const char *want_free_top)
{
    uint64_t n = 0;
    for (size_t i = 0; i < errs->n; i++) {
        const json_t *e = json_at(errs, i);
        const char *k = json_str_of(e, "kind"), *ff = json_str_of(e, "free_fn");
        const char *at = top_fn(json_get(e, "alloc_stack"));
        if (!k || strcmp(k, kind) || !ff || strcmp(ff, free_fn) || !at || strcmp(at, alloc_top))
            continue;
        const char *ft = top_fn(json_get(e, "free_stack"));
        if (want_free_top ? !ft || strcmp(ft, want_free_top) : ft != NULL) {
            fprintf(stderr, "%s %s: free stack starts at %s, expected %s\n", kind, alloc_top,
                    ft ? ft : "(none)", want_free_top ? want_free_top : "(none)");
            return 0;
        }
        n += json_u64(e, "count");
    }
    return n;
}

static int check_report(const char *path, int free_stacks_all)
{
    char json_path[4300];
    snprintf(json_path, sizeof json_path, "%s.json", path);
    char *argv[] = {(char *)"report", (char *)"--format=json", (char *)"-o", json_path,
                    (char *)path, NULL};
    if (report_main(5, argv) != 0)
        return fprintf(stderr, "report failed\n"), 1;
    char *text = read_all(json_path), err[256];
    json_t *j = text ? json_parse(text, err, sizeof err) : NULL;
    free(text);
    if (!j)
        return fprintf(stderr, "cannot parse %s\n", json_path), 1;
    const json_t *sum = json_get(j, "summary"), *errs = json_get(j, "errors");
    CHECK(json_u64(sum, "mismatched_frees") == 10);
    CHECK(json_u64(sum, "double_frees") == 0);
    CHECK(json_u64(sum, "invalid_frees") == 0);
    CHECK(errs && errs->type == JSON_ARRAY && errs->n >= 4);
    if (errs && errs->type == JSON_ARRAY) {
        const char *ft = free_stacks_all ? "cx_mm_free" : NULL;
        CHECK(find_error(errs, "mismatched_free", "cx_mm_new_array", "operator delete",
                         "cx_mm_delete_scalar") == 3);
        CHECK(find_error(errs, "mismatched_free", "cx_mm_new_array", "free", ft) == 2);
        CHECK(find_error(errs, "mismatched_free", "cx_mm_malloc", "operator delete",
                         "cx_mm_delete_scalar") == 4);
        CHECK(find_error(errs, "mismatched_free", "cx_mm_new", "free", ft) == 1);
    }
    json_free(j);
    unlink(json_path);
    return 0;
}

static int check_once(const char *path, int free_stacks_all)
{
    int status = harness_record(path, NULL, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "workload failed: status %d\n", status);
        return 1;
    }
    trace_t t;
    if (trace_load(path, &t) != 0)
        return 1;
    CHECK(t.have_end && t.index_status == 0 && t.decode_error == 0);
    CHECK(t.end.dropped == 0 && t.end.events == t.chunk_events);
    SITE(&t, "cx_new", EV_ALLOC, PS_FN_NEW, 5, 5 * 48);
    SITE(&t, "cx_new_b", EV_ALLOC, PS_FN_NEW, 6, 6 * 48);
    SITE(&t, "cx_new_nothrow", EV_ALLOC, PS_FN_NEW_NOTHROW, 4, 4 * 64);
    SITE(&t, "cx_new_aligned", EV_ALLOC, PS_FN_NEW_ALIGNED, 3, 3 * 128);
    SITE(&t, "cx_new_aligned_b", EV_ALLOC, PS_FN_NEW_ALIGNED, 2, 2 * 128);
    SITE(&t, "cx_new_aligned_nothrow", EV_ALLOC, PS_FN_NEW_ALIGNED_NOTHROW, 2, 2 * 256);
    SITE(&t, "cx_new_array", EV_ALLOC, PS_FN_NEW_ARRAY, 7, 7 * 100);
    SITE(&t, "cx_new_array_b", EV_ALLOC, PS_FN_NEW_ARRAY, 3, 3 * 100);
    SITE(&t, "cx_new_array_nothrow", EV_ALLOC, PS_FN_NEW_ARRAY_NOTHROW, 4, 4 * 200);
    SITE(&t, "cx_new_array_aligned", EV_ALLOC, PS_FN_NEW_ARRAY_ALIGNED, 3, 3 * 300);
    SITE(&t, "cx_new_array_aligned_b", EV_ALLOC, PS_FN_NEW_ARRAY_ALIGNED, 2, 2 * 300);
    SITE(&t, "cx_new_array_aligned_nothrow", EV_ALLOC, PS_FN_NEW_ARRAY_ALIGNED_NOTHROW, 2,
         2 * 400);
    SITE(&t, "cx_expr_new", EV_ALLOC, PS_FN_NEW, 10, 10 * 48);
    SITE(&t, "cx_expr_new_array", EV_ALLOC, PS_FN_NEW_ARRAY, 10, 10 * 100);
    SITE(&t, "cx_mm_new_array", EV_ALLOC, PS_FN_NEW_ARRAY, 5, 5 * 32);
    SITE(&t, "cx_mm_malloc", EV_ALLOC, PS_FN_MALLOC, 4, 4 * 40);
    SITE(&t, "cx_mm_new", EV_ALLOC, PS_FN_NEW, 1, 24);
    SITE(&t, "cx_thrower", EV_ALLOC, PS_FN_NEW, 9, 9 * 48);
    /* std::bad_alloc: recorded as two failed new[] of 64 TiB; nothing else allocated there */
    SITE(&t, "cx_bad_alloc", EV_ALLOC, 0, 2, 2 * ((uint64_t)1 << 46));
    uint64_t failed = 0;
    for (size_t i = 0; i < t.nev; i++)
        failed += t.ev[i].kind == EV_ALLOC && t.ev[i].ptr == 0 && t.ev[i].fn == PS_FN_NEW_ARRAY;
    CHECK(failed == 2);
    /* each delete form from cx_run, with its stack (recorded by default for delete) */
    SITE(&t, "cx_run", EV_FREE, PS_FN_DELETE, 5, 0);
    SITE(&t, "cx_run", EV_FREE, PS_FN_DELETE_SIZED, 6 + 10, 0); /* + `delete S48*` (sized) */
    SITE(&t, "cx_run", EV_FREE, PS_FN_DELETE_NOTHROW, 4, 0);
    SITE(&t, "cx_run", EV_FREE, PS_FN_DELETE_ALIGNED, 3, 0);
    SITE(&t, "cx_run", EV_FREE, PS_FN_DELETE_SIZED_ALIGNED, 2, 0);
    SITE(&t, "cx_run", EV_FREE, PS_FN_DELETE_ALIGNED_NOTHROW, 2, 0);
    SITE(&t, "cx_run", EV_FREE, PS_FN_DELETE_ARRAY, 7 + 10, 0); /* + `delete[] int*` */
    SITE(&t, "cx_run", EV_FREE, PS_FN_DELETE_ARRAY_SIZED, 3, 0);
    SITE(&t, "cx_run", EV_FREE, PS_FN_DELETE_ARRAY_NOTHROW, 4, 0);
    SITE(&t, "cx_run", EV_FREE, PS_FN_DELETE_ARRAY_ALIGNED, 3, 0);
    SITE(&t, "cx_run", EV_FREE, PS_FN_DELETE_ARRAY_SIZED_ALIGNED, 2, 0);
    SITE(&t, "cx_run", EV_FREE, PS_FN_DELETE_ARRAY_ALIGNED_NOTHROW, 2, 0);
    SITE(&t, "cx_mm_delete_scalar", EV_FREE, PS_FN_DELETE, 7, 0);
    SITE(&t, "cx_mm_free", EV_FREE, PS_FN_FREE, free_stacks_all ? 3 : 0, 0);
    replay_t r;
    trace_replay(&t, &r);
    CHECK(r.unmatched_frees == 0 && r.double_allocs == 0);
    trace_free(&t);
    check_report(path, free_stacks_all);
    return 0;
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    if (check_once(path, 0))
        return 1;
    setenv("PERFSHIM_FREE_STACKS", "2", 1);
    if (check_once(path, 1))
        return 1;
    fprintf(stderr, "cxx_ops: %s\n", fails ? "FAIL" : "ok");
    if (!fails)
        unlink(path);
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
