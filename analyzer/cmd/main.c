/*
 * main.c -- `perfshim COMMAND ...`: dispatches to the command modules.
 *
 * Each command gets argv with its own name as argv[0] and returns the process exit code;
 * 2 is a usage error everywhere.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd/check.h"
#include "cmd/diff.h"
#include "formats/formats.h"
#include "cmd/dump.h"
#include "cmd/locks_report.h"
#include "perfshim/env_options.h"
#include "perfshim/trace_format.h"
#include "cmd/record_cmd.h"
#include "cmd/replay_cmd.h"
#include "cmd/report.h"
#include "core/safeout.h"
#include "core/symbols.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

typedef struct command_s {
    const char *name;
    int (*run)(int argc, char **argv);
} command_t;

static const command_t commands[] = {
    {"record", record_main},
    {"dump", dump_main},
    {"report", report_main},
    {"check", check_main},
    {"locks", locks_main},
    {"diff", diff_main},
    {"html", report_html_main},
    {"replay", replay_main},
};

/* One variable of the environment section: its name, then its help and "(range, default)",
 * wrapped at 100 columns under the help. */
static void usage_env(FILE *f, const char *env, const char *help, const char *fmt, ...)
{
    char text[512], tail[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    snprintf(text, sizeof text, *tail ? "%s (%s)" : "%s", help, tail);
    int col = fprintf(f, "  %-26s", env);
    for (const char *w = text; *w;) {
        size_t n = strcspn(w, " ");
        if (col > 29 && col + 1 + (int)n > 100) {
            fprintf(f, "\n%29s", "");
            col = 29;
        } else {
            fputc(' ', f);
            col++;
        }
        fwrite(w, 1, n, f);
        col += (int)n;
        w += n;
        while (*w == ' ')
            w++;
    }
    fputc('\n', f);
}

static void main_usage(FILE *f)
{
    fputs("usage: perfshim COMMAND [ARGS...]\n"
          "       perfshim [--] PROGRAM [ARGS...]\n"
          "                  record PROGRAM, print the report's first screen and what to run\n"
          "                  next (a word that is a command below stays the command)\n"
          "\n"
          "Commands:\n"
          "  record [-o PATH] [--check [CHECK OPTIONS] --] [--] PROGRAM [ARGS...]\n"
          "                  run PROGRAM under the shim and write a trace\n"
          "  dump TRACE      print every record of a trace, one per line\n"
          "  report [--format=",
          f);
    format_names(f, FORMAT_REPORT); /* the formats' one table (formats/formats.def) */
    fputs("] [--top N] [--stack-depth N] [-o FILE] TRACE\n"
          "                  heap report: summary, top allocation sites, not freed at exit\n"
          "                  (and lock contention when the trace has lock records)\n"
          "  check [--format=",
          f);
    format_names(f, FORMAT_CHECK);
    fputs("] [OPTIONS] TRACE...\n"
          "                  CI gate: leak budgets, suppressions, baseline growth;\n"
          "                  exit 0 pass, 1 budget exceeded, 2 usage or input error\n"
          "  locks [--format=",
          f);
    format_names(f, FORMAT_LOCKS);
    fputs("] [--top N] [--stack-depth N] [-o FILE] TRACE\n"
          "                  lock contention only: locks by wait, sites, holders, threads,\n"
          "                  lock-order cycles\n"
          "  diff [--format=",
          f);
    format_names(f, FORMAT_DIFF);
    fputs("] [--fail-on=RULE] [OPTIONS] BASE NEW\n"
          "                  heap sites of two traces matched by symbolized stack: added,\n"
          "                  removed, grown, shrunk; exit 1 when a --fail-on rule holds\n"
          "  html [--top N] [--stack-depth N] -o FILE TRACE\n"
          "                  the report as one self-contained HTML page: flame graph, timeline,\n"
          "                  thread states, sortable tables (report --format=html)\n"
          "  replay [--allocator=glibc,jemalloc,tcmalloc,mimalloc] [--format=text|json] TRACE\n"
          "                  allocator what-if: TRACE's heap operations replayed against each\n"
          "                  allocator; peak RSS, RSS at the end, time\n"
          "  help            this text\n"
          "  version         print the version\n"
          "\n"
          "Without the command: LD_PRELOAD=/path/to/libperfshim.so PROGRAM [ARGS...]\n"
          "\n"
          "Environment read by the shim (a bad value warns and uses the default):\n",
          f);
#define PS_INT(field, env, def, lo, hi, help)                                                  \
    usage_env(f, env, help, "%d..%d, default %d", lo, hi, def);
#define PS_STR(field, env, def, help) usage_env(f, env, help, *def ? "default %s" : "", def);
    PS_ENV_OPTIONS(PS_INT, PS_STR)
#undef PS_INT
#undef PS_STR
    fputs("Environment read by the commands:\n", f);
#define PS_CMD(env, who, help) usage_env(f, env, help, "read by %s", who);
    PS_CMD_ENV(PS_CMD)
#undef PS_CMD
    fputs("\nSee perfshim(1).\n", f);
}

#ifdef HAVE_CXA_DEMANGLE
char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);
#endif

int main(int argc, char **argv)
{
    safeout_install(); /* no control byte from the input reaches the terminal */
    symbols_exit_fast(); /* a command's symbols go with the process (symbols.h) */
#ifdef HAVE_CXA_DEMANGLE
    symbols_set_demangler(__cxa_demangle);
#endif
    if (argc < 2) {
        main_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        main_usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("perfshim %s (trace format %u)\n", PACKAGE_VERSION, PERFSHIM_TRACE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    /* Not a command: `perfshim PROGRAM [ARGS]` or `perfshim -- PROGRAM` records and reports
     * in one step, like `heaptrack PROGRAM` (a command name always stays the command). */
    if (!strcmp(cmd, "--"))
        return record_oneshot_main(argc - 2, argv + 2);
    if (cmd[0] == '-') {
        fprintf(stderr, "perfshim: unknown option '%s' (see perfshim --help)\n", cmd);
        return 2;
    }
    return record_oneshot_main(argc - 1, argv + 1);
}
