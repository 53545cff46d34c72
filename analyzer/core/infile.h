/*
 * infile.h -- the one way the analyzer opens a file it reads (traces, --suppressions,
 * --baseline, modules and debug files named by a trace): a regular file or nothing.
 *
 * Contract: a FIFO, device, socket or directory is refused before anything reads it, so no
 * input can make the analyzer block (a FIFO without a writer blocks open(2) and read(2)
 * forever) or read endlessly (/dev/zero). The file is opened with O_NONBLOCK, checked with
 * fstat on the descriptor (no race with a rename), and the flag is cleared again. Any caller,
 * any thread. infile_open returns the descriptor (O_CLOEXEC), or -PS_E_OPEN with "PATH:
 * STRERROR" in err, or -PS_E_INVAL (not a regular file) with "PATH: is a FIFO, not a regular
 * file". infile_fopen is the same as a stdio stream ("rb"); NULL on error.
 */
#ifndef PERFSHIM_INFILE_H
#define PERFSHIM_INFILE_H

#include <stddef.h>
#include <stdio.h>

int infile_open(const char *path, char *err, size_t errlen);
FILE *infile_fopen(const char *path, char *err, size_t errlen);
/* What a st_mode is, for messages: "a FIFO", "a directory", ... "a regular file". */
const char *infile_kind(unsigned mode);

#endif /* PERFSHIM_INFILE_H */
