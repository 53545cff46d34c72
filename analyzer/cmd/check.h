/*
 * check.h -- `perfshim check [OPTIONS] TRACE...`: turns traces into a CI verdict.
 *
 * Contract: check_main() is called from main.c's dispatch (argv[0] = "check") and from
 * `perfshim record --check`; it returns the exit status, documented and stable:
 *   0  every budget holds
 *   1  a budget is exceeded (the output names each one, by how much, and the top stacks)
 *   2  usage error, unreadable or unsuitable input (a trace without a leak scan, a bad
 *      suppressions or baseline file), or an output error; one "perfshim: check: ..." line
 * The budgets: leaked bytes (--max-leaked-bytes, default 0) and leaked blocks
 * (--max-leaked-blocks; default 0 when neither budget is given, so a leaked malloc(0) fails
 * the default gate; not checked when only --max-leaked-bytes is), both over the kinds of
 * --leak-kinds (default definite,indirect) minus suppressed call sites and what they hold;
 * with --baseline, peak heap, bytes allocated and allocations may each grow by at most
 * --max-growth percent (default 0). Several traces (a process and its children) are summed.
 *
 * The result the output writers share (check.c text and document, formats/ci_report.c SARIF
 * and JUnit) is analyses/checkres.h.
 */
#ifndef PERFSHIM_CHECK_H
#define PERFSHIM_CHECK_H

#include "analyses/checkres.h"

int check_main(int argc, char **argv);

#endif /* PERFSHIM_CHECK_H */
