/*
 * main.c -- `perfshim COMMAND ...`: dispatches to the command modules.
 *
 * Each command gets argv with its own name as argv[0] and returns the process exit code;
 * 2 is a usage error everywhere.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <string.h>

#include "cmd/check.h"
#include "cmd/dump.h"
#include "cmd/locks_report.h"
#include "perfshim/trace_format.h"
#include "cmd/record_cmd.h"
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
};

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
          "  report [--format=text|json|folded] [--top N] [--stack-depth N] [-o FILE] TRACE\n"
          "                  heap report: summary, top allocation sites, not freed at exit\n"
          "                  (and lock contention when the trace has lock records)\n"
          "  check [OPTIONS] TRACE...\n"
          "                  CI gate: leak budgets, suppressions, baseline growth;\n"
          "                  exit 0 pass, 1 budget exceeded, 2 usage or input error\n"
          "  locks [--format=text|json] [--top N] [--stack-depth N] [-o FILE] TRACE\n"
          "                  lock contention only: locks by wait, sites, holders, threads,\n"
          "                  lock-order cycles\n"
          "  help            this text\n"
          "  version         print the version\n"
          "\n"
          "Without the command: LD_PRELOAD=/path/to/libperfshim.so PROGRAM [ARGS...]\n"
          "\n"
          "Environment read by the shim (a bad value warns and uses the default):\n"
          "  PERFSHIM_OUTPUT     trace path template: %p pid, %e program name, %% '%'\n"
          "                      (default perfshim.%e.%p.trace; never overwritten)\n"
          "  PERFSHIM_DEPTH      max stack frames, 1..256 (default 64)\n"
          "  PERFSHIM_FLUSH_MS   flush interval in ms, 1..60000 (default 100)\n"
          "  PERFSHIM_RSS_MS     RSS sampling interval in ms, 0 = off (default 10)\n"
          "  PERFSHIM_BUFFER_KB  per-thread event buffer, 4..4096 (default 64)\n"
          "  PERFSHIM_QUEUE_MB   memory for buffers waiting to be written, 1..1024 (default 16)\n"
          "  PERFSHIM_ZSTD_LEVEL zstd level, -5..19 (default 1)\n"
          "  PERFSHIM_ENABLE     0 turns recording off\n"
          "  PERFSHIM_LOG        0 silent, 1 warnings (default), 2 info, 3 debug\n"
          "  PERFSHIM_LEAK_CHECK 0 turns the live set and the exit-time leak scan off\n"
          "  PERFSHIM_SNAPSHOT_SIGNAL  signal number that takes a live-set snapshot (0 = none)\n"
          "                      (default 16; 1 times every hold)\n"
          "Read by `perfshim record`:\n"
          "  PERFSHIM_LIB        path of libperfshim.so to preload\n"
          "\n"
          "See perfshim(1).\n",
          f);
}

#ifdef HAVE_CXA_DEMANGLE
char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);
#endif

int main(int argc, char **argv)
{
    safeout_install(); /* no control byte from the input reaches the terminal */
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
