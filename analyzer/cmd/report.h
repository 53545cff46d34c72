/*
 * report.h -- `perfshim report [OPTIONS] TRACE`: the heap report of a trace (workload summary,
 * top allocation sites by count / bytes / peak contribution, blocks not freed at exit, size
 * histogram) as text, JSON ("perfshim-report" version 1) or folded stacks for flame graphs.
 *
 * Contract: called from main.c's dispatch with argv[0] = "report"; returns the exit status:
 * 0 report written (also for a partial trace: the report says "partial" and one warning line
 * naming the offset goes to stderr), 2 usage error, unreadable input (missing file, not a
 * trace, newer format version) or output error. Prints "perfshim: ..." lines on stderr.
 *
 * JSON key names are an interface: add keys, never rename or remove them.
 */
#ifndef PERFSHIM_REPORT_H
#define PERFSHIM_REPORT_H

int report_main(int argc, char **argv);
/* `perfshim html [OPTIONS] TRACE -o FILE`: report_main with --format=html (formats/html.c):
 * the self-contained HTML page; the same options and exit status. */
int report_html_main(int argc, char **argv);

#endif /* PERFSHIM_REPORT_H */
