/*
 * locks_report.h -- the lock contention report: the "LOCK CONTENTION" text section that
 * `perfshim report` includes when a trace has lock records, and `perfshim locks [OPTIONS]
 * TRACE`, which prints only the lock results (text, or any document format of
 * formats/formats.def through analyses/locks_emit.c).
 *
 * Contract: analyzer-only. locks_text() takes a replay whose locks_finish() has run
 * (rp->locks non-NULL) and an open symbolizer; it returns 0 or a negative PS_E_*.
 * locks_main() returns the exit status like report_main (0 written, 2 usage or unreadable
 * input); a trace without lock records gives an empty report, status 0.
 */
#ifndef PERFSHIM_LOCKS_REPORT_H
#define PERFSHIM_LOCKS_REPORT_H

#include <stdio.h>

#include "analyses/replay.h"
#include "core/symbols.h"

/* depth: frames per stack (-1: all); top: locks/sites/holders listed per text section */
int locks_text(FILE *o, const replay_t *rp, symbols_t *sym, int depth, int top);
int locks_main(int argc, char **argv);

#endif /* PERFSHIM_LOCKS_REPORT_H */
