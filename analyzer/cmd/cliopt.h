/*
 * cliopt.h -- option values shared by the analyzer's commands (report, check, locks): one of
 * a few names (--format, --metric), a count (--top, --stack-depth) and a duration
 * (--short-lived).
 *
 * Contract: on a bad value each prints one line, "perfshim: CMD: ...", on stderr and returns
 * -1 (cliopt_choice) or -PS_E_INVAL (cliopt_count); the caller exits with its usage status.
 * cliopt_choice returns the index of arg in names. cliopt_count takes a decimal 0..1000000.
 *
 * The options several commands share (--format, --output, --top, --stack-depth, --quiet and
 * the symbolization ones) are one line each of CLIOPT_COMMON: a command names the ones it
 * takes with a mask, builds its getopt_long table with cliopt_longopts() (those, then its own)
 * and hands every option to cliopt_common() before its own switch. cliopt_unknown() says the
 * one line for an unknown option, cliopt_trace() checks that exactly one trace was given.
 *
 * The convention of every command: options may come anywhere on the line, before or after the
 * trace (getopt_long without '+': GNU permutation), and `--` ends them. The one exception is
 * `record`, whose option parsing stops at PROGRAM so that PROGRAM's own options reach it.
 */
#ifndef PERFSHIM_CLIOPT_H
#define PERFSHIM_CLIOPT_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/symbols.h"
#include "formats/formats.h"

int cliopt_choice(const char *cmd, const char *what, const char *arg, const char *const *names,
                  size_t n);
int cliopt_count(const char *cmd, const char *opt, const char *arg, int *out);
/* A duration: a decimal number with a unit ns, us, ms or s (none: ns), into *ns; 0 or
 * -PS_E_INVAL after the one line. */
int cliopt_duration(const char *cmd, const char *opt, const char *arg, uint64_t *ns);

/* X(id, long name, has_arg, getopt value): --output, --quiet and --help keep their short
 * letters (-o, -q, -h) as values, so one case serves both spellings. */
#define CLIOPT_COMMON(X)                                                                           \
    X(FORMAT, "format", required_argument, CLIOPT_V_FORMAT)                                        \
    X(DEPTH, "stack-depth", required_argument, CLIOPT_V_DEPTH)                                     \
    X(TOP, "top", required_argument, CLIOPT_V_TOP)                                                 \
    X(OUTPUT, "output", required_argument, 'o')                                                    \
    X(QUIET, "quiet", no_argument, 'q')                                                            \
    X(SYSROOT, "sysroot", required_argument, CLIOPT_V_SYSROOT)                                     \
    X(DEBUGDIR, "debug-dir", required_argument, CLIOPT_V_DEBUGDIR)                                 \
    X(STDFRAMES, "show-std-frames", no_argument, CLIOPT_V_STDFRAMES)                               \
    X(FULLNAMES, "full-names", no_argument, CLIOPT_V_FULLNAMES)                                    \
    X(PARTIAL, "allow-partial", no_argument, CLIOPT_V_PARTIAL)                                     \
    X(HELP, "help", no_argument, 'h')

/* getopt values of the shared long options; a command's own stay below CLIOPT_V_FORMAT */
enum cliopt_val {
    CLIOPT_V_FORMAT = 0x1000,
    CLIOPT_V_DEPTH,
    CLIOPT_V_TOP,
    CLIOPT_V_SYSROOT,
    CLIOPT_V_DEBUGDIR,
    CLIOPT_V_STDFRAMES,
    CLIOPT_V_FULLNAMES,
    CLIOPT_V_PARTIAL
};
enum cliopt_id {
#define CLIOPT_ID(id, name, has_arg, val) CLIOPT_I_##id,
    CLIOPT_COMMON(CLIOPT_ID)
#undef CLIOPT_ID
        CLIOPT_I_COUNT
};
#define CLIOPT(id) (1u << CLIOPT_I_##id)
/* every shared option (diff takes them all; each other command masks some out) */
#define CLIOPT_ALL ((1u << CLIOPT_I_COUNT) - 1)

/* The shared options' values. cmd and family (FORMAT_* of formats.h) say whose they are. */
typedef struct cliopt_common_s {
    const char *cmd;
    unsigned family;
    const format_t *format; /* the family's default until --format */
    const char *output;     /* NULL: stdout */
    int stack_depth;        /* -1: the format's default */
    int top;
    bool allow_partial;
    symbols_opts_t sym; /* --quiet, --sysroot, --debug-dir, --show-std-frames, --full-names */
} cliopt_common_t;

/* Sets the defaults: the family's "text" format (or def_format), depth -1, top. */
void cliopt_init(cliopt_common_t *o, const char *cmd, unsigned family, const char *def_format,
                 int top);
/* The getopt_long table: the shared options in mask, then own (NULL-terminated, may be NULL),
 * then the terminator, into out (cap entries: 32 is enough for any command). */
const struct option *cliopt_longopts(unsigned mask, const struct option *own, struct option *out,
                                     size_t cap);
/* 1: c was a shared option and is taken, 0: it is not one of them (the command's own, or
 * --help, which is left to the command), -1: its value is bad (one line said). */
int cliopt_common(cliopt_common_t *o, int c, const char *arg);
/* "perfshim: CMD: unknown option '...' or missing argument" for getopt_long's '?'. */
void cliopt_unknown(const char *cmd, char **argv);
/* 0 when argv has exactly one operand left at optind; else the line and -1. */
int cliopt_trace(const char *cmd, int argc, char **argv);

#endif /* PERFSHIM_CLIOPT_H */
