/*
 * replay_cmd.c -- see replay_cmd.h.
 *
 * The op file goes to a private directory (mkdtemp in $TMPDIR) unless --keep-ops names it;
 * each allocator's driver runs with LD_PRELOAD set to that allocator alone (glibc: none), its
 * stdout read back as one line of key=value (driver/replay_driver.c says which).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cmd/replay_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analyses/whatif.h"
#include "cmd/cliopt.h"
#include "core/doc.h"
#include "core/fmt.h"
#include "core/pass.h"
#include "core/safeout.h"
#include "core/tracemodel.h"
#include "formats/formats.h"
#include "perfshim/errors.h"

#ifndef PS_PKGLIBEXECDIR
#define PS_PKGLIBEXECDIR "/usr/local/libexec/perfshim"
#endif
#define DRIVER_NAME "perfshim-replay-driver"
#ifndef PS_JEMALLOC_LIB
#define PS_JEMALLOC_LIB "libjemalloc.so.2"
#endif

/* X(name, library preloaded (NULL: none), a symbol only that allocator defines); jemalloc,
 * the project's declared dependency: the library configure found (config.h) */
#define REPLAY_ALLOCATORS(X)                                                                   \
    X(glibc, NULL, NULL)                                                                       \
    X(jemalloc, PS_JEMALLOC_LIB, "mallctl")                                                    \
    X(tcmalloc, "libtcmalloc_minimal.so.4", "tc_malloc")                                       \
    X(mimalloc, "libmimalloc.so.2", "mi_malloc")

typedef struct known_s {
    const char *name, *lib, *sym;
} known_t;

static const known_t known[] = {
#define X(name, lib, sym) {#name, lib, sym},
    REPLAY_ALLOCATORS(X)
#undef X
};
#define NKNOWN (sizeof known / sizeof known[0])

enum alloc_status { ST_OK, ST_NOT_INSTALLED, ST_FAILED };
static const char *const status_names[] = {"ok", "not installed", "failed"};

typedef struct result_s {
    const char *name, *lib, *sym;
    enum alloc_status status;
    char message[256];
    uint64_t peak_rss, end_rss, baseline_rss, wall_ns, cpu_ns, failed, waited;
} result_t;

#define MAX_ALLOCATORS 16

static void replay_usage(FILE *f)
{
    fputs("usage: perfshim replay [OPTIONS] TRACE\n"
          "Allocator what-if: replays TRACE's heap operations (per thread, in order: sizes,\n"
          "alignments, lifetimes, cross-thread frees) against each allocator, each in a process\n"
          "of its own, and compares peak RSS, RSS at the end and time with the recorded run.\n"
          "  --allocator=LIST    comma-separated: glibc, jemalloc, tcmalloc, mimalloc, or the\n"
          "                      path of an allocator .so (default: all four)\n"
          "  --order=free|recorded  free (default): each thread in its order, a cross-thread\n"
          "                      free after its allocation, the rest as fast as it runs;\n"
          "                      recorded: the recorded interleaving of all threads' ops\n"
          "  --keep-ops FILE     write the op file to FILE and keep it (default: a temporary)\n"
          "  -o, --output FILE   write to FILE instead of stdout\n"
          "Environment: PERFSHIM_LIBEXEC  the directory of " DRIVER_NAME "\n"
          "Exit status: 0 written, 1 an allocator's replay failed, 2 usage error, unreadable\n"
          "input or output error.\n",
          f);
    format_help(f, FORMAT_REPLAY);
}

/* ---- the driver ---------------------------------------------------------------------- */

static bool replay_exec_ok(const char *path, char *out)
{
    if (access(path, X_OK) != 0 || strlen(path) >= PATH_MAX)
        return false;
    snprintf(out, PATH_MAX, "%s", path);
    return true;
}

/* $PERFSHIM_LIBEXEC, beside this binary, the install layout and build tree relative to it,
 * the configured pkglibexecdir. */
static int replay_find_driver(char *out)
{
    char cand[PATH_MAX + 64];
    const char *env = getenv("PERFSHIM_LIBEXEC");
    if (env && *env) {
        snprintf(cand, sizeof cand, "%s/" DRIVER_NAME, env);
        if (replay_exec_ok(cand, out))
            return 0;
        fprintf(stderr, "perfshim: replay: PERFSHIM_LIBEXEC=%s: no executable " DRIVER_NAME
                        " there\n", env);
        return -PS_E_OPEN;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            static const char *const rel[] = {"", "../libexec/perfshim/", "../driver/"};
            for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
                snprintf(cand, sizeof cand, "%s/%s" DRIVER_NAME, exe, rel[i]);
                if (replay_exec_ok(cand, out))
                    return 0;
            }
        }
    }
    if (replay_exec_ok(PS_PKGLIBEXECDIR "/" DRIVER_NAME, out))
        return 0;
    fprintf(stderr, "perfshim: replay: cannot find " DRIVER_NAME " (beside perfshim, in "
                    PS_PKGLIBEXECDIR "; set PERFSHIM_LIBEXEC)\n");
    return -PS_E_OPEN;
}

/* Reads fd to its end into buf (the rest is dropped). */
static void replay_slurp(int fd, char *buf, size_t n)
{
    size_t got = 0;
    char sink[512];
    for (;;) {
        ssize_t r = got + 1 < n ? read(fd, buf + got, n - 1 - got) : read(fd, sink, sizeof sink);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (got + 1 < n)
            got += (size_t)r;
    }
    buf[got] = '\0';
}

static bool replay_field(const char *line, const char *key, uint64_t *v)
{
    size_t k = strlen(key);
    for (const char *p = line; (p = strstr(p, key)) != NULL; p += k)
        if ((p == line || p[-1] == ' ') && p[k] == '=') {
            char *end;
            errno = 0;
            *v = strtoull(p + k + 1, &end, 10);
            return errno == 0 && end != p + k + 1;
        }
    return false;
}

/* Runs the driver on the op file with the allocator of r; fills r. */
static void replay_run_one(const char *driver, const char *ops, result_t *r)
{
    if (r->lib && strchr(r->lib, '/') && access(r->lib, R_OK) != 0) {
        r->status = ST_NOT_INSTALLED;
        snprintf(r->message, sizeof r->message, "%.200s: %s", r->lib, strerror(errno));
        return;
    }
    int out[2], err[2];
    if (pipe(out) != 0 || pipe(err) != 0) {
        r->status = ST_FAILED;
        snprintf(r->message, sizeof r->message, "pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        r->status = ST_FAILED;
        snprintf(r->message, sizeof r->message, "fork: %s", strerror(errno));
        close(out[0]), close(out[1]), close(err[0]), close(err[1]);
        return;
    }
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]), close(out[1]), close(err[0]), close(err[1]);
        if (r->lib)
            setenv("LD_PRELOAD", r->lib, 1);
        else
            unsetenv("LD_PRELOAD");
        char *argv[] = {(char *)driver, (char *)ops, (char *)r->sym, NULL};
        execv(driver, argv);
        fprintf(stderr, "cannot run %s: %s\n", driver, strerror(errno));
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    char line[1024], msg[1024];
    /* the driver writes one short line to each: read stderr after stdout's end */
    replay_slurp(out[0], line, sizeof line);
    replay_slurp(err[0], msg, sizeof msg);
    close(out[0]);
    close(err[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    /* the last line the driver wrote on stderr (ld.so may have said something before) */
    char *nl;
    while ((nl = strrchr(msg, '\n')) && nl[1] == '\0')
        *nl = '\0';
    const char *last = (nl = strrchr(msg, '\n')) ? nl + 1 : msg;
    if (!strncmp(last, "perfshim-replay-driver: ", 24))
        last += 24;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
        r->status = ST_NOT_INSTALLED;
        snprintf(r->message, sizeof r->message, "%s could not be preloaded", r->lib);
        return;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        r->status = ST_FAILED;
        if (WIFSIGNALED(st))
            snprintf(r->message, sizeof r->message, "the replay died of signal %d%s%.200s",
                     WTERMSIG(st), *last ? ": " : "", last);
        else
            snprintf(r->message, sizeof r->message, "%.250s", *last ? last : "the replay failed");
        return;
    }
    if (!replay_field(line, "peak_rss_bytes", &r->peak_rss) ||
        !replay_field(line, "end_rss_bytes", &r->end_rss) ||
        !replay_field(line, "baseline_rss_bytes", &r->baseline_rss) ||
        !replay_field(line, "wall_ns", &r->wall_ns) || !replay_field(line, "cpu_ns", &r->cpu_ns) ||
        !replay_field(line, "failed", &r->failed) || !replay_field(line, "waited", &r->waited)) {
        r->status = ST_FAILED;
        snprintf(r->message, sizeof r->message, "unreadable driver output");
        return;
    }
    r->status = ST_OK;
}

/* ---- the document -------------------------------------------------------------------- */

/* "1.0321": a / b, four decimals; NULL when b is 0 */
static const char *replay_ratio(char *buf, size_t n, uint64_t a, uint64_t b)
{
    if (!b)
        return NULL;
    uint64_t q = (uint64_t)((double)a * 10000.0 / (double)b + 0.5);
    snprintf(buf, n, "%" PRIu64 ".%04" PRIu64, q / 10000, q % 10000);
    return buf;
}

static void replay_emit(doc_t *d, const char *trace, const tracemodel_t *m, const whatif_t *w,
                        const result_t *res, size_t nres)
{
    char b1[32], b2[32], b3[32];
    doc_obj(d, NULL);
    doc_str(d, "format", "perfshim-replay");
    doc_u64(d, "version", 1);
    doc_u64(d, "schema_version", DOC_SCHEMA_VERSION);
    doc_linef(d, "perfshim allocator replay: %s (pid %" PRIu32 ")%s", m->exe ? m->exe : "?",
              m->pid, m->complete ? "" : " [partial trace]");
    doc_obj(d, "trace");
    doc_str(d, "path", trace);
    doc_str(d, "exe", m->exe);
    doc_u64(d, "pid", m->pid);
    doc_bool(d, "complete", m->complete);
    doc_end(d);

    doc_title(d, "RECORDED RUN");
    doc_nl(d);
    doc_obj(d, "recorded");
    doc_u64(d, "rss_samples", w->rss_samples);
    doc_label(d, "peak RSS", DOC_UNIT_BYTES);
    doc_u64_or_null(d, "peak_rss_bytes", w->have_rss, w->rss_peak_bytes);
    doc_u64_or_null(d, "peak_rss_total_bytes", w->have_rss, w->rss_peak_total_bytes);
    doc_label(d, "RSS at the end", DOC_UNIT_BYTES);
    doc_u64_or_null(d, "end_rss_bytes", w->have_rss, w->rss_end_bytes);
    doc_label(d, "peak live heap", DOC_UNIT_BYTES);
    doc_u64(d, "heap_peak_bytes", w->heap_peak_bytes);
    doc_label(d, "not freed", DOC_UNIT_BYTES);
    doc_u64(d, "heap_end_bytes", w->heap_end_bytes);
    doc_label(d, "duration", DOC_UNIT_NS);
    doc_u64(d, "duration_ns", w->duration_ns);
    doc_end(d);
    if (w->have_rss)
        doc_linef(d, "  (RSS: the largest of %" PRIu64 " samples, the recorder's own memory "
                     "taken out; %s with it)",
                  w->rss_samples, fmt_bytes(b1, sizeof b1, w->rss_peak_total_bytes));
    else
        doc_line(d, "  (no RSS samples in this trace: nothing to compare the replay's RSS with)");

    doc_title(d, "REPLAYED");
    doc_nl(d);
    doc_obj(d, "ops");
    doc_label(d, "threads", DOC_UNIT_COUNT);
    doc_u64(d, "threads", w->threads);
    doc_label(d, "ops", DOC_UNIT_COUNT);
    doc_u64(d, "ops", w->ops);
    doc_u64(d, "blocks", w->blocks);
    doc_u64(d, "allocations", w->allocations);
    doc_u64(d, "frees", w->frees);
    doc_u64(d, "reallocs", w->reallocs);
    doc_u64(d, "bytes_allocated", w->bytes_allocated);
    doc_u64(d, "skipped_releases", w->skipped_releases);
    doc_u64(d, "skipped_failed", w->skipped_failed);
    doc_end(d);
    doc_linef(d, "  %" PRIu64 " allocations, %" PRIu64 " frees, %" PRIu64 " reallocs (%s); "
                 "skipped: %" PRIu64 " releases of unknown blocks, %" PRIu64 " failed "
                 "allocations",
              w->allocations, w->frees, w->reallocs, fmt_bytes(b1, sizeof b1, w->bytes_allocated),
              w->skipped_releases, w->skipped_failed);
    doc_line(d, "  every block is written whole once when allocated (memset; a realloc: the "
                "grown part)");
    static const doc_col_t tcols[] = {
        {"tid", "thread", 8, DOC_UNIT_COUNT, NULL, NULL},
        {"ops", "ops", 10, DOC_UNIT_COUNT, NULL, NULL},
        {"cross_thread_waits", "waits", 8, DOC_UNIT_COUNT, NULL, NULL},
        {"approximated", "approximated", 13, DOC_UNIT_COUNT, NULL, NULL},
    };
    bool rec = w->recorded_order;
    doc_obj(d, "order");
    doc_str(d, "mode", rec ? "recorded" : "free");
    doc_u64(d, "cross_thread_waits", w->waits);
    doc_u64(d, "approximated", rec ? 0 : w->switches);
    if (w->threads > 1 && rec)
        doc_linef(d, "  order: the recorded interleaving (--order=recorded): %" PRIu64 " ops "
                     "wait for the other thread's op before them; per thread:",
                  w->waits);
    else if (w->threads > 1)
        doc_linef(d, "  order: each thread's own order kept, and %" PRIu64 " cross-thread "
                     "releases wait for their allocation; approximated: the %" PRIu64
                     " changes of thread in the recorded order (the threads run freely, as "
                     "fast as they can, in any interleaving; --order=recorded keeps it); per "
                     "thread, where:",
                  w->waits, w->switches);
    else
        doc_line(d, "  order: one thread, its recorded order kept exactly");
    if (w->threads <= 1)
        doc_only(d, DOC_DATA);
    doc_columns(d, tcols, sizeof tcols / sizeof tcols[0], 0);
    doc_list(d, "threads");
    for (uint64_t i = 0; i < w->threads; i++) {
        doc_obj(d, NULL);
        doc_u64(d, "tid", w->thread[i].tid);
        doc_u64(d, "ops", w->thread[i].ops);
        doc_u64(d, "cross_thread_waits", w->thread[i].waits);
        doc_u64(d, "approximated", rec ? 0 : w->thread[i].switches);
        doc_end(d);
    }
    doc_end(d);
    doc_only(d, DOC_ALL);
    doc_end(d);
    doc_line(d, "  time: the ops run back to back (the recorded gaps between them are not "
                "replayed)");

    static const doc_col_t cols[] = {
        {"name", "allocator", 10, DOC_UNIT_STR, NULL, NULL},
        {"status", "status", 14, DOC_UNIT_STR, NULL, NULL},
        {"peak_rss_bytes", "peak RSS", 11, DOC_UNIT_BYTES, NULL, NULL},
        {"peak_vs_recorded", "x recorded", 11, DOC_UNIT_STR, NULL, NULL},
        {"end_rss_bytes", "RSS at end", 11, DOC_UNIT_BYTES, NULL, NULL},
        {"wall_ns", "wall", 10, DOC_UNIT_NS, NULL, NULL},
        {"cpu_ns", "cpu", 10, DOC_UNIT_NS, NULL, NULL},
    };
    doc_title(d, "ALLOCATORS");
    doc_nl(d);
    doc_columns(d, cols, sizeof cols / sizeof cols[0], 0);
    doc_list(d, "allocators");
    for (size_t i = 0; i < nres; i++) {
        const result_t *r = &res[i];
        bool ok = r->status == ST_OK;
        doc_obj(d, NULL);
        doc_str(d, "name", r->name);
        doc_str(d, "library", r->lib);
        doc_str(d, "status", status_names[r->status]);
        doc_str(d, "message", r->message[0] ? r->message : NULL);
        doc_u64_or_null(d, "peak_rss_bytes", ok, r->peak_rss);
        const char *ratio = ok && w->have_rss ? replay_ratio(b2, sizeof b2, r->peak_rss,
                                                             w->rss_peak_bytes)
                                              : NULL;
        if (ratio)
            doc_num(d, "peak_vs_recorded", ratio);
        else
            doc_null(d, "peak_vs_recorded");
        doc_u64_or_null(d, "end_rss_bytes", ok, r->end_rss);
        doc_u64_or_null(d, "baseline_rss_bytes", ok, r->baseline_rss);
        doc_u64_or_null(d, "wall_ns", ok, r->wall_ns);
        doc_u64_or_null(d, "cpu_ns", ok, r->cpu_ns);
        doc_u64_or_null(d, "failed_allocations", ok, r->failed);
        doc_u64_or_null(d, "waited_ops", ok, r->waited);
        doc_end(d);
    }
    doc_end(d);
    for (size_t i = 0; i < nres; i++)
        if (res[i].message[0])
            doc_linef(d, "  %s: %s", res[i].name, res[i].message);
    for (size_t i = 0; i < nres; i++)
        if (res[i].status == ST_OK && res[i].failed)
            doc_linef(d, "  %s: %" PRIu64 " allocations returned NULL in the replay",
                      res[i].name, res[i].failed);
    doc_linef(d, "  (peak: VmHWM of the replay's process, its baseline included: %s for %s "
                 "before the first op; x recorded: peak / the recorded peak RSS%s)",
              nres && res[0].status == ST_OK ? fmt_bytes(b3, sizeof b3, res[0].baseline_rss)
                                             : "-",
              nres ? res[0].name : "-", w->have_rss ? "" : ", none here");
    doc_end(d);
}

/* ---- command ------------------------------------------------------------------------- */

static int replay_parse_allocators(const char *list, result_t *res, size_t *nres)
{
    *nres = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= 256) {
            fprintf(stderr, "perfshim: replay: --allocator: empty or too long name in '%s'\n",
                    list);
            return -1;
        }
        char name[256];
        memcpy(name, p, n);
        name[n] = '\0';
        if (*nres == MAX_ALLOCATORS) {
            fprintf(stderr, "perfshim: replay: --allocator: more than %d allocators\n",
                    MAX_ALLOCATORS);
            return -1;
        }
        result_t *r = &res[*nres];
        memset(r, 0, sizeof *r);
        const known_t *k = NULL;
        for (size_t i = 0; i < NKNOWN; i++)
            if (!strcmp(known[i].name, name))
                k = &known[i];
        if (k) {
            r->name = k->name;
            r->lib = k->lib;
            r->sym = k->sym;
        } else if (strchr(name, '/')) {
            if (strpbrk(name, " :")) {
                fprintf(stderr, "perfshim: replay: --allocator: %s: LD_PRELOAD cannot name a "
                                "path with a space or colon\n", name);
                return -1;
            }
            if (!(r->name = r->lib = strdup(name)))
                return -1;
        } else {
            fprintf(stderr, "perfshim: replay: unknown allocator '%s' (one of:", name);
            for (size_t i = 0; i < NKNOWN; i++)
                fprintf(stderr, " %s", known[i].name);
            fputs(", or the path of an allocator .so)\n", stderr);
            return -1;
        }
        (*nres)++;
        p += n;
        if (*p == ',')
            p++;
    }
    if (!*nres) {
        fprintf(stderr, "perfshim: replay: --allocator: no allocator named\n");
        return -1;
    }
    return 0;
}

static void replay_free_names(result_t *res, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (res[i].lib && res[i].lib == res[i].name)
            free((char *)res[i].name);
}

int replay_main(int argc, char **argv)
{
    enum { OPT_ALLOC = 256, OPT_KEEP, OPT_ORDER };
    static const struct option own[] = {
        {"allocator", required_argument, NULL, OPT_ALLOC},
        {"keep-ops", required_argument, NULL, OPT_KEEP},
        {"order", required_argument, NULL, OPT_ORDER},
        {NULL, 0, NULL, 0},
    };
    struct option longopts[16];
    cliopt_common_t co;
    cliopt_init(&co, "replay", FORMAT_REPLAY, NULL, 0);
    const char *keep = NULL, *list = "glibc,jemalloc,tcmalloc,mimalloc";
    bool recorded = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "ho:q",
                            cliopt_longopts(CLIOPT(FORMAT) | CLIOPT(OUTPUT) | CLIOPT(QUIET) |
                                                CLIOPT(HELP),
                                            own, longopts, 16),
                            NULL)) != -1) {
        int k = cliopt_common(&co, c, optarg);
        if (k < 0)
            return 2;
        if (k)
            continue;
        switch (c) {
        case 'h':
            replay_usage(stdout);
            return 0;
        case OPT_ALLOC:
            list = optarg;
            break;
        case OPT_KEEP:
            keep = optarg;
            break;
        case OPT_ORDER: {
            static const char *const orders[] = {"free", "recorded"};
            int i = cliopt_choice("replay", "--order", optarg, orders, 2);
            if (i < 0)
                return 2;
            recorded = i == 1;
            break;
        }
        default:
            cliopt_unknown("replay", argv);
            replay_usage(stderr);
            return 2;
        }
    }
    if (cliopt_trace("replay", argc, argv) < 0) {
        replay_usage(stderr);
        return 2;
    }
    const format_t *fmt = co.format;
    const char *output = co.output;
    const char *trace = argv[optind];
    result_t res[MAX_ALLOCATORS];
    size_t nres = 0;
    if (replay_parse_allocators(list, res, &nres) < 0) {
        replay_free_names(res, nres);
        return 2;
    }
    char driver[PATH_MAX];
    if (replay_find_driver(driver) < 0) {
        replay_free_names(res, nres);
        return 2;
    }
    /* the output first: a bad -o costs no replay */
    FILE *o = output ? safeout_fopen(output) : stdout;
    if (!o) {
        fprintf(stderr, "perfshim: replay: %s: %s\n", output, strerror(errno));
        replay_free_names(res, nres);
        return 2;
    }
    /* the op file: --keep-ops, or a private temporary directory */
    char dir[PATH_MAX] = "", ops[PATH_MAX + 16];
    if (keep) {
        snprintf(ops, sizeof ops, "%s", keep);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/perfshim-replay.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            fprintf(stderr, "perfshim: replay: cannot create a temporary directory %s: %s\n",
                    dir, strerror(errno));
            if (o != stdout)
                fclose(o);
            replay_free_names(res, nres);
            return 2;
        }
        snprintf(ops, sizeof ops, "%s/ops", dir);
    }
    int status = 0;
    whatif_t w = {.path = ops, .recorded_order = recorded};
    tracemodel_t *m = calloc(1, sizeof(*m));
    char err[512];
    pass_sink_t sink = {&whatif_ops, &w, NULL};
    int rc = m ? pass_run(trace, m, &sink, 1, err, sizeof err) : -PS_E_NOMEM;
    if (m && sink.state)
        whatif_ops.free(sink.state, &w);
    if (rc < 0) {
        if (w.err[0])
            fprintf(stderr, "perfshim: replay: %s\n", w.err);
        else if (!m)
            fprintf(stderr, "perfshim: replay: %s\n", ps_strerror(rc));
        else
            fprintf(stderr, "perfshim: %s\n", err);
        status = 2;
        goto out;
    }
    if (!m->complete)
        fprintf(stderr, "perfshim: warning: partial trace: %s\n", m->partial_reason);
    for (size_t i = 0; i < nres; i++) {
        replay_run_one(driver, ops, &res[i]);
        if (res[i].status == ST_FAILED)
            status = 1;
    }
    doc_t d;
    if ((rc = fmt->open(&d, o)) == 0) {
        replay_emit(&d, trace, m, &w, res, nres);
        rc = doc_close(&d);
    }
    if (rc < 0) {
        fprintf(stderr, "perfshim: replay: %s\n", ps_strerror(rc));
        status = 2;
    }
    if (fflush(o) != 0 || ferror(o)) {
        fprintf(stderr, "perfshim: replay: cannot write output: %s\n", strerror(errno));
        status = 2;
    }
out:
    if (o != stdout && fclose(o) != 0)
        status = 2;
    if (!keep) {
        remove(ops);
        rmdir(dir);
    }
    if (m) {
        tracemodel_free(m);
        free(m);
    }
    free(w.thread);
    replay_free_names(res, nres);
    return status;
}
