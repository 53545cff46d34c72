/*
 * safeout.h -- the analyzer's stdout and stderr never carry a control character from its
 * input: a trace's exe path, command line, thread names, module paths, the symbol names of
 * the files they name, a suppressions file. Without this, a crafted trace could move the
 * cursor, retitle the terminal or rewrite lines it did not write.
 *
 * Contract: safeout_install() (once, from main, before any output) replaces stdout and
 * stderr with streams that write to fds 1 and 2 with every C0 control byte except '\n' and
 * '\t', DEL, and the UTF-8 encodings of the C1 controls (U+0080..U+009F, which some terminals
 * obey) written as "\xNN", so every output path is covered in this one place. JSON output
 * is unchanged by it (formats/json.c escapes those as \u00XX itself). safeout_fopen() opens
 * an output file (-o FILE: created 0666 & ~umask, truncated) through the same filter, so a
 * report is the same bytes in a file as on the terminal; NULL with errno on failure; fclose
 * reports a failed write or close. stderr stays unbuffered. safeout_raw_stderr() is the
 * original stderr, for the analyzer's own terminal control (the progress line).
 * safeout_escape() is the same filter on one buffer, for tests. safeout_binary(f): a binary
 * format's output (pprof's gzip) -- from now on f writes its bytes as they are, unless it is
 * a terminal (then -1: the format is refused there); 0 for a stream that is not safeout's
 * (written as it is anyway).
 */
#ifndef PERFSHIM_SAFEOUT_H
#define PERFSHIM_SAFEOUT_H

#include <stddef.h>
#include <stdio.h>

void safeout_install(void);
FILE *safeout_fopen(const char *path);
FILE *safeout_raw_stderr(void);
int safeout_binary(FILE *f);
/* Escapes src[0..n) into dst (at most cap bytes, NUL-terminated); returns strlen(dst). */
size_t safeout_escape(char *dst, size_t cap, const char *src, size_t n);

#endif /* PERFSHIM_SAFEOUT_H */
