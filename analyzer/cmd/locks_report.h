/*
 * locks_report.h -- the lock contention report: the "LOCK CONTENTION" text section and the
 * "locks" / "condvars" / "threads" / "lock_order_cycles" JSON keys that `perfshim report`
 * includes when a trace has lock records, and `perfshim locks [OPTIONS] TRACE`, which prints
 * only them.
 *
 * Contract: analyzer-only. The section writers take a replay whose locks_finish() has run
 * (rp->locks non-NULL) and an open symbolizer; they return 0 or a negative PS_E_*.
 * locks_json() writes the keys without braces, starting with a comma, so it appends to an
 * open JSON object. locks_main() returns the exit status like report_main (0 written, 2 usage
 * or unreadable input); a trace without lock records gives an empty report, status 0.
 * JSON key names are an interface: add keys, never rename or remove them.
 */
#ifndef PERFSHIM_LOCKS_REPORT_H
#define PERFSHIM_LOCKS_REPORT_H

#include <stdio.h>

#include "analyses/replay.h"
#include "core/symbols.h"

/* depth: frames per stack (-1: all); top: locks/sites/holders listed per text section */
int locks_text(FILE *o, const replay_t *rp, symbols_t *sym, int depth, int top);
int locks_json(FILE *o, const replay_t *rp, symbols_t *sym, int depth);
int locks_main(int argc, char **argv);

#endif /* PERFSHIM_LOCKS_REPORT_H */
