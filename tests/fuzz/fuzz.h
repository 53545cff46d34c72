/*
 * fuzz.h -- the libFuzzer entry point every target in tests/fuzz/ defines (test-only names).
 *
 * Contract: one target per parser/decoder of untrusted input, in tests/fuzz/<target>.c,
 * defining LLVMFuzzerTestOneInput(). It must never crash, leak or hang on any input; its
 * return value is 0. The same file is built two ways: with clang -fsanitize=fuzzer (fuzzing,
 * scripts/test, `make -C tests/fuzz`-style by scripts/fuzz) and with regression_driver.c by gcc
 * in `make check`, which replays every input of tests/fuzz/corpus/<target>/ (seeds and every
 * crash found earlier; inputs named slow-* are replayed there but scripts/fuzz does not fuzz
 * from them). Adding a target: the .c file, a corpus directory, and its name in
 * FUZZ_TARGETS (Makefile.am and scripts/fuzz).
 */
#ifndef PERFSHIM_FUZZ_H
#define PERFSHIM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The FIFO every target tries as its input once (the analyzer must refuse it, never block on
 * it). A fixed path, so that a corpus trace can name it as a module: the trace_reader seed
 * seed-module-fifo does. Nothing ever opens it for writing. */
#define FUZZ_FIFO "/tmp/perfshim-fuzz.fifo"
static inline const char *fuzz_fifo(void)
{
    struct stat st;
    if (lstat(FUZZ_FIFO, &st) != 0 && mkfifo(FUZZ_FIFO, 0600) != 0) {
        perror(FUZZ_FIFO);
        abort();
    }
    return FUZZ_FIFO;
}

#endif /* PERFSHIM_FUZZ_H */
