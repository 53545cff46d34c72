/*
 * baseline.h -- the numbers of a previous run that `perfshim check --baseline` compares with:
 * read from the JSON of `perfshim report --format=json` or `perfshim check --format=json`.
 *
 * Contract: analyzer-only. baseline_load() reads at most 64 MiB, validates the whole file as
 * JSON with yajl's parser (nesting at most 64 deep) and takes the top-level "summary" object's
 * non-negative integer members "peak_heap_bytes", "bytes_allocated" and "allocations", all
 * required. Returns 0, or a negative PS_E_* with one line in err naming the file and, for bad
 * JSON, the byte offset; for a member of the wrong type, the member and what it is instead
 * ("baseline F: \"summary.allocations\" is a string, expected a non-negative integer").
 */
#ifndef PERFSHIM_BASELINE_H
#define PERFSHIM_BASELINE_H

#include <stddef.h>
#include <stdint.h>

typedef struct baseline_s {
    uint64_t peak_heap_bytes, bytes_allocated, allocations;
} baseline_t;

int baseline_load(const char *path, baseline_t *b, char *err, size_t errlen);

#endif /* PERFSHIM_BASELINE_H */
