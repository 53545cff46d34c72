/*
 * dump.h -- `perfshim dump TRACE`: every record of a trace, decoded, one line each, in file
 * order. The line format is stable: tests and scripts grep it (see docs/perfshim.1).
 *
 * Contract: called once from main() with the arguments after "perfshim" (argv[0] is "dump").
 * Writes records to stdout and one diagnostic line to stderr. Returns the process exit code:
 * 0 complete trace (clean index, every chunk decoded, an `end` record seen); 1 incomplete or
 * corrupt trace (every record before the problem is printed first); 2 usage error or input
 * that cannot be read as a trace at all (cannot open, not a trace, newer format version).
 */
#ifndef PERFSHIM_DUMP_H
#define PERFSHIM_DUMP_H

int dump_main(int argc, char **argv);

#endif /* PERFSHIM_DUMP_H */
