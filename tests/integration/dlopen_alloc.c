/*
 * dlopen_alloc -- a library loaded with dlopen allocates in its constructor (3 x 111 B), in a
 * function (5 x 333 B) and in its destructor (2 x 222 B), then is unloaded with dlclose before
 * the process ends. The report (symbolized from the module map, after the library is gone from
 * the process) must give exactly these counts at those functions, in that library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "json_mini.h"
#include "report.h"
#include "test.h"

static char lib_path[4200];

static void run(int argc, char **argv)
{
    if (argc < 1)
        exit(2);
    void *h = dlopen(argv[0], RTLD_NOW);
    if (!h)
        exit(3);
    void (*work)(int) = (void (*)(int))dlsym(h, "dlo_work");
    if (!work)
        exit(4);
    work(5);
    if (dlclose(h) != 0)
        exit(5);
    free(malloc(10)); /* after dlclose: a new module map is not needed, the old one stays */
}


/* Sums the sites whose first frame is fn (a loop the compiler unrolled is several sites);
 * every one must be in libdlo. */
static void check_site(const json_t *sites, const char *fn, uint64_t n, uint64_t bytes,
                       uint64_t frees)
{
    uint64_t got_n = 0, got_b = 0, got_f = 0;
    int in_lib = 1;
    for (size_t i = 0; sites && i < sites->n; i++) {
        const json_t *s = json_at(sites, i), *top = json_at(json_get(s, "stack"), 0);
        const char *f = json_str_of(top, "function"), *mod = json_str_of(top, "module");
        if (!f || strcmp(f, fn))
            continue;
        got_n += json_u64(s, "allocations");
        got_b += json_u64(s, "bytes");
        got_f += json_u64(s, "frees");
        in_lib &= mod && strstr(mod, "libdlo") != NULL;
    }
    if (got_n != n || got_b != bytes || got_f != frees || !in_lib) {
        fprintf(stderr, "%s: allocations %" PRIu64 " bytes %" PRIu64 " frees %" PRIu64
                " in libdlo %d; expected %" PRIu64 "/%" PRIu64 "/%" PRIu64 "\n",
                fn, got_n, got_b, got_f, in_lib, n, bytes, frees);
        fails++;
    }
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    const char *b = getenv("top_builddir");
    snprintf(lib_path, sizeof lib_path, "%s/tests/integration/.libs/libdlo.so", b ? b : ".");
    if (access(lib_path, R_OK) != 0)
        return fprintf(stderr, "SKIP: %s not built\n", lib_path), 77;
    char *args[] = {lib_path, NULL};
    int status = harness_record(path, args, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fprintf(stderr, "workload failed: status %d\n", status), 1;
    char json[4300];
    snprintf(json, sizeof json, "%s.json", path);
    char *argv[] = {(char *)"report", (char *)"--format=json", (char *)"-o", json,
                    (char *)path, NULL};
    CHECK(report_main(5, argv) == 0);
    FILE *f = fopen(json, "rb");
    char *text = calloc(1, 1 << 22);
    size_t n = f ? fread(text, 1, (1 << 22) - 1, f) : 0;
    text[n] = 0;
    if (f)
        fclose(f);
    char err[200];
    json_t *j = json_parse(text, err, sizeof err);
    CHECK(j != NULL);
    const json_t *sites = json_get(j, "sites");
    check_site(sites, "dlo_ctor_alloc", 3, 333, 3);
    check_site(sites, "dlo_work_alloc", 5, 5 * 333, 5);
    check_site(sites, "dlo_dtor_alloc", 2, 444, 2);
    CHECK(json_get(json_get(j, "summary"), "complete")->b);
    json_free(j);
    free(text);
    fprintf(stderr, "dlopen_alloc: %s\n", fails ? "FAIL" : "ok");
    if (!fails) {
        unlink(json);
        unlink(path);
    }
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
