/*
 * locks_report.h -- `perfshim locks [OPTIONS] TRACE`, which prints only the lock results in
 * any document format of formats/formats.def (text the default) through
 * analyses/locks_emit.c.
 *
 * Contract: analyzer-only. locks_main() returns the exit status like report_main (0 written, 2 usage or unreadable
 * input); a trace without lock records gives an empty report, status 0.
 */
#ifndef PERFSHIM_LOCKS_REPORT_H
#define PERFSHIM_LOCKS_REPORT_H

int locks_main(int argc, char **argv);

#endif /* PERFSHIM_LOCKS_REPORT_H */
