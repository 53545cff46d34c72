/*
 * report_basic -- a workload with known truth per call site, recorded under the shim and run
 * through `perfshim report --format=json` (report_main, in-process); the JSON must give the
 * exact totals of each site, and each site's first frame must be the named function at the
 * source line of its allocation call (file:line from DWARF).
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

#define N_A 1000
#define N_B 300
#define N_B_KEPT 100
#define N_LEAK 7

/* Each LINE_* is on the line of its allocation call: the line the report must name. */
__attribute__((noinline)) void *site_a(void) { return malloc(48); } enum { LINE_A = __LINE__ };
__attribute__((noinline)) void *site_b(void) { return calloc(4, 25); } enum { LINE_B = __LINE__ };
__attribute__((noinline)) void *site_leak(void) { return malloc(1000); } enum { LINE_LEAK = __LINE__ };
__attribute__((noinline)) void *site_grow(void *p, size_t n) { return realloc(p, n); } enum { LINE_GROW = __LINE__ };
__attribute__((noinline)) void site_free(void *p) { free(p); }

static void *volatile sink;
static void *kept[N_B_KEPT];

static void run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    static void *a[N_A];
    for (int i = 0; i < N_A; i++)
        a[i] = site_a();
    for (int i = 0; i < N_A; i++)
        site_free(a[i]);
    for (int i = 0; i < N_B; i++) {
        void *p = site_b();
        if (i % 3 == 0)
            kept[i / 3] = p; /* 100 of the 300 stay allocated */
        else
            site_free(p);
    }
    void *p = NULL;
    for (size_t n = 16; n <= 4096; n *= 2) /* 9 reallocs, the first from NULL */
        p = site_grow(p, n);
    site_free(p);
    for (int i = 0; i < N_LEAK; i++)
        sink = site_leak();
}

static const json_t *find_site(const json_t *sites, const char *fn)
{
    for (size_t i = 0; i < (sites ? sites->n : 0); i++) {
        const json_t *top = json_at(json_get(json_at(sites, i), "stack"), 0);
        const char *f = json_str_of(top, "function");
        if (f && !strcmp(f, fn))
            return json_at(sites, i);
    }
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = s ? strlen(s) : 0, k = strlen(suffix);
    return s && n >= k && !strcmp(s + n - k, suffix) && (n == k || s[n - k - 1] == '/');
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    size_t got;
    while (b && (got = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap)
            b = realloc(b, cap *= 2);
    }
    fclose(f);
    if (b)
        b[n] = 0;
    return b;
}


static void check_site(const json_t *sites, const char *fn, uint64_t allocs, uint64_t bytes,
                       uint64_t nf_blocks, uint64_t nf_bytes, uint64_t line)
{
    const json_t *s = find_site(sites, fn);
    if (!s) {
        fprintf(stderr, "no site whose first frame is %s\n", fn);
        fails++;
        return;
    }
    fprintf(stderr, "checking %s\n", fn);
    CHECK_U64(s, "allocations", allocs);
    CHECK_U64(s, "bytes", bytes);
    CHECK_U64(s, "not_freed_blocks", nf_blocks);
    CHECK_U64(s, "not_freed_bytes", nf_bytes);
    const json_t *top = json_at(json_get(s, "stack"), 0);
    const char *file = json_str_of(top, "file");
    if (!ends_with(file, "report_basic.c")) {
        fprintf(stderr, "%s: file %s, expected .../report_basic.c\n", fn, file ? file : "null");
        fails++;
    }
    CHECK_U64(top, "line", line);
    /* the second frame is the caller in run(), from this file too */
    const json_t *second = json_at(json_get(s, "stack"), 1);
    CHECK(second && json_str_of(second, "function") &&
          !strcmp(json_str_of(second, "function"), "run"));
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    int status = harness_record(path, NULL, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "workload failed: status %d\n", status);
        return 1;
    }
    char json_path[4300];
    snprintf(json_path, sizeof json_path, "%s.json", path);
    char *argv[] = {(char *)"report", (char *)"--format=json", (char *)"-q", (char *)"-o",
                    json_path, (char *)path, NULL};
    int rc = report_main(6, argv);
    if (rc != 0) {
        fprintf(stderr, "report_main returned %d\n", rc);
        return 1;
    }
    char *text = read_file(json_path);
    char err[256];
    json_t *j = text ? json_parse(text, err, sizeof err) : NULL;
    if (!j) {
        fprintf(stderr, "cannot parse %s: %s\n", json_path, text ? err : "unreadable");
        free(text);
        return 1;
    }
    CHECK(json_str_of(j, "format") && !strcmp(json_str_of(j, "format"), "perfshim-report"));
    CHECK_U64(j, "version", 1);
    const json_t *sum = json_get(j, "summary"), *sites = json_get(j, "sites");
    CHECK(json_get(sum, "complete") && json_get(sum, "complete")->b);
    CHECK_U64(sum, "dropped", 0);
    CHECK_U64(sum, "unmatched_frees", 0);
    CHECK_U64(sum, "threads", 1);
    /* the workload's own allocations are a lower bound of the totals (libc may add some) */
    uint64_t grow_bytes = 16 + 32 + 64 + 128 + 256 + 512 + 1024 + 2048 + 4096;
    CHECK(json_u64(sum, "allocations") >= N_A + N_B + 9 + N_LEAK);
    CHECK(json_u64(sum, "bytes_allocated") >= N_A * 48 + N_B * 100 + grow_bytes + N_LEAK * 1000);
    CHECK(json_u64(sum, "not_freed_blocks") >= N_B_KEPT + N_LEAK);
    CHECK(json_u64(sum, "peak_heap_bytes") >= N_A * 48);
    check_site(sites, "site_a", N_A, N_A * 48, 0, 0, LINE_A);
    check_site(sites, "site_b", N_B, N_B * 100, N_B_KEPT, N_B_KEPT * 100, LINE_B);
    check_site(sites, "site_leak", N_LEAK, N_LEAK * 1000, N_LEAK, N_LEAK * 1000, LINE_LEAK);
    check_site(sites, "site_grow", 9, grow_bytes, 0, 0, LINE_GROW);
    /* the heap grows monotonically while site_a's 1000 blocks are allocated and is never
     * that large again: the global peak is the moment the last of them was allocated */
    CHECK_U64(find_site(sites, "site_a"), "peak_bytes", N_A * 48);
    CHECK_U64(find_site(sites, "site_leak"), "peak_bytes", 0);
    /* temporary, as heaptrack counts them (verified with heaptrack 1.4 on the same loops):
     * site_b's 200 blocks freed right after their allocation; of site_a's, one: a[0] is
     * freed right after a[999] was allocated, and heaptrack compares (size, stack), not the
     * address; site_grow's 9: each realloc frees the block the previous one returned, and
     * the last is freed right after */
    CHECK_U64(find_site(sites, "site_b"), "temporary", N_B - N_B_KEPT);
    CHECK_U64(find_site(sites, "site_a"), "temporary", 1);
    CHECK_U64(find_site(sites, "site_grow"), "temporary", 9);
    CHECK(json_u64(sum, "temporary_allocations") >= N_B - N_B_KEPT);
    /* the timeline adds up to the summary, ends at the live heap and holds the peak */
    const json_t *slices = json_get(json_get(j, "timeline"), "slices");
    uint64_t ta = 0, tf = 0, tb = 0, tmax = 0;
    CHECK(slices && slices->n == 20);
    for (size_t i = 0; slices && i < slices->n; i++) {
        const json_t *sl = json_at(slices, i);
        ta += json_u64(sl, "allocations");
        tf += json_u64(sl, "frees");
        tb += json_u64(sl, "bytes_allocated");
        if (json_u64(sl, "live_bytes_max") > tmax)
            tmax = json_u64(sl, "live_bytes_max");
    }
    CHECK(ta == json_u64(sum, "allocations"));
    CHECK(tf == json_u64(sum, "frees"));
    CHECK(tb == json_u64(sum, "bytes_allocated"));
    CHECK(tmax == json_u64(sum, "peak_heap_bytes"));
    CHECK(slices && json_u64(json_at(slices, slices->n - 1), "live_bytes") ==
                        json_u64(sum, "not_freed_bytes"));
    /* sites are sorted by allocations, descending */
    for (size_t i = 1; sites && i < sites->n; i++)
        CHECK(json_u64(json_at(sites, i - 1), "allocations") >=
              json_u64(json_at(sites, i), "allocations"));
    /* leaks name sites that hold blocks */
    const json_t *leaks = json_get(j, "leaks");
    CHECK(leaks && leaks->n >= 2);
    fprintf(stderr, "report_basic: %zu sites, %s\n", sites ? sites->n : 0, fails ? "FAIL" : "ok");
    json_free(j);
    free(text);
    if (!fails) {
        unlink(path);
        unlink(json_path);
    }
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
