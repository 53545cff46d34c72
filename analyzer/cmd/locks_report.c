/*
 * locks_report.c -- see locks_report.h.
 *
 * The document, in every format (text, JSON, ...), is analyses/locks_emit.c's; a profile
 * format (chrome-trace) gets the time axis of the lock waits (locks_emit_waits) only.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cmd/locks_report.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cliopt.h"
#include "formats/formats.h"
#include "analyses/analysis.h"
#include "analyses/locks_emit.h"
#include "core/doc.h"
#include "core/profile.h"
#include "analyses/locks.h"
#include "core/safeout.h"
#include "perfshim/errors.h"

/* ---- command ------------------------------------------------------------------------- */

static void locks_usage(FILE *f)
{
    fputs("usage: perfshim locks [OPTIONS] TRACE\n"
          "Lock contention of TRACE: locks ranked by wait, their sites and holders, threads'\n"
          "time waiting, lock-order cycles.\n"
          "  --stack-depth N     frames per stack (default 8 for text, all otherwise)\n"
          "  --top N             locks, sites and holders listed in text (default 10)\n"
          "  -o, --output FILE   write to FILE instead of stdout\n"
          "  -q, --quiet         no symbolization warnings\n"
          "  --show-std-frames   text: show library frames (C++ std, libc, allocator; folded\n"
          "                      by default, --stack-depth counting the program's frames)\n"
          "  --full-names        text: full C++ names (template arguments and parameters\n"
          "                      collapsed to <…> and (…) by default)\n"
          "Exit status: 0 written, 2 usage error, unreadable input or output error.\n",
          f);
    format_help(f, FORMAT_LOCKS);
}

int locks_main(int argc, char **argv)
{
    struct option longopts[16];
    cliopt_common_t co;
    cliopt_init(&co, "locks", FORMAT_LOCKS, NULL, 10);
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "ho:q",
                            cliopt_longopts(CLIOPT(FORMAT) | CLIOPT(DEPTH) | CLIOPT(TOP) |
                                                CLIOPT(OUTPUT) | CLIOPT(QUIET) | CLIOPT(HELP) |
                                                CLIOPT(STDFRAMES) | CLIOPT(FULLNAMES),
                                            NULL, longopts, 16),
                            NULL)) != -1) {
        int k = cliopt_common(&co, c, optarg);
        if (k < 0)
            return 2;
        if (k)
            continue;
        if (c == 'h') {
            locks_usage(stdout);
            return 0;
        }
        cliopt_unknown("locks", argv);
        locks_usage(stderr);
        return 2;
    }
    if (cliopt_trace("locks", argc, argv) < 0) {
        locks_usage(stderr);
        return 2;
    }
    const format_t *fmt = co.format;
    int depth = co.stack_depth, top = co.top;
    const char *output = co.output;
    symbols_opts_t so = co.sym;
    replay_t rp;
    char err[512];
    symbols_t *sym = NULL;
    /* the lock analysis only: no heap replay; each wait kept for a timeline format */
    if (analyses_load(argv[optind],
                      ANALYSIS_LOCKS | (fmt->view == FORMAT_PROFILE ? ANALYSIS_WAITS : 0u), &rp,
                      NULL, err, sizeof err) < 0) {
        fprintf(stderr, "perfshim: %s\n", err);
        analyses_free(&rp, NULL, sym);
        return 2;
    }
    if (!rp.complete)
        fprintf(stderr, "perfshim: warning: partial trace: %s\n", rp.partial_reason);
    int status = 0;
    FILE *o = NULL;
    int rc = analyses_symbols(&rp, NULL, &so, &sym, err, sizeof err);
    if (rc < 0) {
        /* rc: reported below */
    } else if (!(o = output ? safeout_fopen(output) : stdout)) {
        fprintf(stderr, "perfshim: locks: %s: %s\n", output, strerror(errno));
        status = 2;
    } else if (fmt->view == FORMAT_PROFILE) { /* the waits on the time axis */
        profile_t p;
        profile_meta_t meta = {.exe = rp.exe,
                               .cmdline = rp.cmdline,
                               .pid = rp.pid,
                               .start_ns = rp.start_ns,
                               .duration_ns = rp.duration_ns};
        if ((rc = fmt->open(&p, o)) == 0) {
            profile_meta(&p, &meta);
            rc = locks_emit_waits(&p, &rp, sym);
            int rc2 = profile_close(&p);
            rc = rc < 0 ? rc : rc2;
        }
        if (fflush(o) != 0 || ferror(o)) {
            fprintf(stderr, "perfshim: locks: cannot write output: %s\n", strerror(errno));
            status = 2;
        }
        if (o != stdout && fclose(o) != 0)
            status = 2;
    } else {
        doc_t d; /* the other formats of the table that `locks` takes are document ones */
        if ((rc = fmt->open(&d, o)) == 0) {
            doc_obj(&d, NULL);
            doc_str(&d, "format", "perfshim-locks");
            doc_u64(&d, "version", 1);
            doc_u64(&d, "schema_version", DOC_SCHEMA_VERSION);
            doc_linef(&d, "perfshim lock report: %s (pid %" PRIu32 ")%s", rp.exe, rp.pid,
                      rp.complete ? "" : " [partial trace]");
            if (!rp.locks)
                doc_title(&d, "no lock records in this trace");
            rc = locks_emit(&d, &rp, sym, depth, top);
            doc_end(&d);
            int rc2 = doc_close(&d);
            rc = rc < 0 ? rc : rc2;
        }
        if (fflush(o) != 0 || ferror(o)) {
            fprintf(stderr, "perfshim: locks: cannot write output: %s\n", strerror(errno));
            status = 2;
        }
        if (o != stdout && fclose(o) != 0)
            status = 2;
    }
    if (rc < 0) {
        fprintf(stderr, "perfshim: locks: %s\n", ps_strerror(rc));
        status = 2;
    }
    analyses_free(&rp, NULL, sym);
    return status;
}
