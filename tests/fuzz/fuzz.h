/*
 * fuzz.h -- the libFuzzer entry point every target in tests/fuzz/ defines (test-only names).
 *
 * Contract: one target per parser/decoder of untrusted input, in tests/fuzz/<target>.c,
 * defining LLVMFuzzerTestOneInput(). It must never crash, leak or hang on any input; its
 * return value is 0. The same file is built two ways: with clang -fsanitize=fuzzer (fuzzing,
 * scripts/test, `make -C tests/fuzz`-style by scripts/fuzz) and with regression_driver.c by gcc
 * in `make check`, which replays every input of tests/fuzz/corpus/<target>/ (seeds and every
 * crash found earlier). Adding a target: the .c file, a corpus directory, and its name in
 * FUZZ_TARGETS (Makefile.am and scripts/fuzz).
 */
#ifndef PERFSHIM_FUZZ_H
#define PERFSHIM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* PERFSHIM_FUZZ_H */
