/*
 * leaks_basic -- a workload whose leaks are known exactly, recorded under the shim and run
 * through `perfshim report --format=json` (in-process): every site's definite / indirect /
 * reachable blocks and bytes, the holder of the indirect list nodes, and the summary totals
 * must match the truth below. tests/integration/leaks_valgrind.sh runs the same workload
 * under valgrind memcheck and compares its totals with ours.
 *
 * Truth (sites are the functions that call the allocator):
 *   leak_malloc    3 x malloc(100)             definite  3 blocks  300 bytes
 *   leak_calloc    calloc(5, 20)               definite  1 block   100 bytes
 *   leak_realloc   realloc(malloc(10), 200)    definite  1 block   200 bytes (seed: 0 live)
 *   leak_memalign  posix_memalign(64, 96)      definite  1 block    96 bytes
 *   leak_aligned   aligned_alloc(128, 256)     definite  1 block   256 bytes
 *   list_head      the lost head, 32 bytes     definite  1 block    32 bytes
 *   list_node      3 nodes the head holds      indirect  3 blocks   96 bytes, held by list_head
 *   keep_global    kept in a global            reachable 1 block   500 bytes
 *   keep_child     kept in keep_global's block reachable 1 block    50 bytes
 *   churn          10 x malloc + free          nothing
 * Totals: definite 8 blocks 984 bytes, indirect 3 / 96, reachable 2 / 550.
 * The app exports __lsan_default_suppressions() (-rdynamic) suppressing leak_calloc, which
 * `perfshim check` honours (tests/integration/check.sh).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "json_mini.h"
#include "report.h"
#include <inttypes.h>
#include <sys/wait.h>
#include <unistd.h>

struct node {
    struct node *next;
    char pad[24];
}; /* 32 bytes */

void *volatile g_keep; /* a root in the program's .bss */

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "# from the app\nleak:leak_calloc\n";
}

__attribute__((noipa)) void *leak_malloc(void) { return malloc(100); }
__attribute__((noipa)) void *leak_calloc(void) { return calloc(5, 20); }
__attribute__((noipa)) void *realloc_seed(void) { return malloc(10); }
__attribute__((noipa)) void *leak_realloc(void *p) { return realloc(p, 200); }
__attribute__((noipa)) void *leak_memalign(void)
{
    void *p = NULL;
    return posix_memalign(&p, 64, 96) == 0 ? p : NULL;
}
__attribute__((noipa)) void *leak_aligned(void) { return aligned_alloc(128, 256); }
__attribute__((noipa)) struct node *list_head(void) { return calloc(1, sizeof(struct node)); }
__attribute__((noipa)) struct node *list_node(void) { return calloc(1, sizeof(struct node)); }
__attribute__((noipa)) void *keep_global(void) { return malloc(500); }
__attribute__((noipa)) void *keep_child(void) { return malloc(50); }
__attribute__((noipa)) void churn(void)
{
    for (int i = 0; i < 10; i++) {
        void *volatile p = malloc(64);
        free(p);
    }
}

static volatile int three = 3; /* loops the compiler cannot unroll: one call site each */

/* Each pointer is dropped as its function returns; the caller keeps none. (noipa: GCC
 * would otherwise see these as malloc-like and drop the stores into the lost list.) */
__attribute__((noipa)) static void make_leaks(void)
{
    for (int i = 0; i < three; i++)
        leak_malloc();
    leak_calloc();
    leak_realloc(realloc_seed());
    leak_memalign();
    leak_aligned();
    struct node *h = list_head();
    struct node **tail = &h->next;
    for (int i = 0; i < three; i++) {
        *tail = list_node();
        tail = &(*tail)->next;
    }
    char *k = keep_global();
    memcpy(k, &(void *){keep_child()}, sizeof(void *));
    g_keep = k;
    churn();
}

/* Overwrites the dead stack below the caller, where stale copies of the lost pointers lie. */
__attribute__((noipa)) static void scrub_stack(void)
{
    volatile char buf[32768];
    memset((char *)buf, 0, sizeof buf);
}

static void run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    make_leaks();
    scrub_stack();
}

/* ---- checks ------------------------------------------------------------------------------- */

typedef struct truth_s {
    const char *fn, *kind;
    uint64_t blocks, bytes;
    const char *holder; /* indirect: the function of the definite leak that holds it */
} truth_t;

static const truth_t truth[] = {
    {"leak_malloc", "definite", 3, 300, NULL},   {"leak_calloc", "definite", 1, 100, NULL},
    {"leak_realloc", "definite", 1, 200, NULL},  {"leak_memalign", "definite", 1, 96, NULL},
    {"leak_aligned", "definite", 1, 256, NULL},  {"list_head", "definite", 1, 32, NULL},
    {"list_node", "indirect", 3, 96, "list_head"}, {"keep_global", "reachable", 1, 500, NULL},
    {"keep_child", "reachable", 1, 50, NULL},
};

static const char *top_fn(const json_t *leak)
{
    return json_str_of(json_at(json_get(leak, "stack"), 0), "function");
}

static int failures;
#define WANT(cond, ...)                                                                        \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                              \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)
#define WANT_U64(got, want, what)                                                              \
    WANT((uint64_t)(got) == (uint64_t)(want), "%s: %" PRIu64 ", want %" PRIu64, what,         \
         (uint64_t)(got), (uint64_t)(want))

static int check(trace_t *unused, const char *trace_path)
{
    (void)unused;
    char *args[] = {NULL};
    int st = harness_record(trace_path, args, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "workload failed: status %d\n", st);
        return 99;
    }
    char out[4300];
    snprintf(out, sizeof out, "%s.json", trace_path);
    char *argv[] = {"report", "--format=json", "-q", "-o", out, (char *)trace_path, NULL};
    if (report_main(6, argv) != 0)
        return 99;
    FILE *f = fopen(out, "r");
    static char text[1 << 22];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = 0;
    char err[256];
    json_t *j = json_parse(text, err, sizeof err);
    if (!j) {
        fprintf(stderr, "report JSON does not parse: %s\n", err);
        return 99;
    }
    const json_t *sum = json_get(j, "summary"), *leaks = json_get(j, "leaks");
    WANT_U64(json_u64(sum, "leaked_definite_blocks"), 8, "definite blocks");
    WANT_U64(json_u64(sum, "leaked_definite_bytes"), 984, "definite bytes");
    WANT_U64(json_u64(sum, "leaked_indirect_blocks"), 3, "indirect blocks");
    WANT_U64(json_u64(sum, "leaked_indirect_bytes"), 96, "indirect bytes");
    WANT_U64(json_u64(sum, "reachable_blocks"), 2, "reachable blocks");
    WANT_U64(json_u64(sum, "reachable_bytes"), 550, "reachable bytes");
    if (!leaks || leaks->type != JSON_ARRAY) {
        fprintf(stderr, "no leaks array\n");
        return 1;
    }
    for (size_t t = 0; t < sizeof truth / sizeof truth[0]; t++) {
        const truth_t *w = &truth[t];
        int found = 0;
        for (size_t i = 0; i < leaks->n; i++) {
            const json_t *l = json_at(leaks, i);
            const char *fn = top_fn(l);
            if (!fn || strcmp(fn, w->fn))
                continue;
            found++;
            const char *kind = json_str_of(l, "kind");
            WANT(kind && !strcmp(kind, w->kind), "%s: kind %s, want %s", w->fn,
                 kind ? kind : "(none)", w->kind);
            WANT_U64(json_u64(l, "blocks"), w->blocks, w->fn);
            WANT_U64(json_u64(l, "bytes"), w->bytes, w->fn);
            if (w->holder) {
                const json_t *h = json_at(leaks, json_u64(l, "held_by"));
                WANT(h && top_fn(h) && !strcmp(top_fn(h), w->holder), "%s is held by %s",
                     w->fn, w->holder);
            }
        }
        WANT(found == 1, "%d leak entries for %s, want 1", found, w->fn);
    }
    /* the whole definite + indirect total is exactly ours: no false leak from the runtime */
    uint64_t lost = 0;
    for (size_t i = 0; i < leaks->n; i++) {
        const json_t *l = json_at(leaks, i);
        const char *k = json_str_of(l, "kind"), *fn = top_fn(l);
        WANT(!fn || (strcmp(fn, "realloc_seed") && strcmp(fn, "churn")), "leak entry for %s",
             fn);
        if (k && strcmp(k, "reachable"))
            lost += json_u64(l, "bytes");
    }
    WANT_U64(lost, 1080, "definite + indirect bytes over all entries");
    json_free(j);
    if (!failures) {
        unlink(out);
        unlink(trace_path);
    }
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
