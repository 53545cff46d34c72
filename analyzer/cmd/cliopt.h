/*
 * cliopt.h -- option values shared by the analyzer's commands (report, check, locks): one of
 * a few names (--format, --metric), a count (--top, --stack-depth) and a duration
 * (--short-lived).
 *
 * Contract: on a bad value each prints one line, "perfshim: CMD: ...", on stderr and returns
 * -1 (cliopt_choice) or -PS_E_INVAL (cliopt_count); the caller exits with its usage status.
 * cliopt_choice returns the index of arg in names. cliopt_count takes a decimal 0..1000000.
 *
 * The convention of every command: options may come anywhere on the line, before or after the
 * trace (getopt_long without '+': GNU permutation), and `--` ends them. The one exception is
 * `record`, whose option parsing stops at PROGRAM so that PROGRAM's own options reach it.
 */
#ifndef PERFSHIM_CLIOPT_H
#define PERFSHIM_CLIOPT_H

#include <stddef.h>
#include <stdint.h>

int cliopt_choice(const char *cmd, const char *what, const char *arg, const char *const *names,
                  size_t n);
int cliopt_count(const char *cmd, const char *opt, const char *arg, int *out);
/* A duration: a decimal number with a unit ns, us, ms or s (none: ns), into *ns; 0 or
 * -PS_E_INVAL after the one line. */
int cliopt_duration(const char *cmd, const char *opt, const char *arg, uint64_t *ns);

#endif /* PERFSHIM_CLIOPT_H */
