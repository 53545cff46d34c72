/*
 * check.h -- soft assertions for integration tests that compare a recorded trace or a report
 * with the workload's known truth (test-only names).
 *
 * Contract: CHECK(cond) and CHECK_U64(json, key, want) print the file, line and what differs
 * on stderr and count a failure in the including file's `fails`; the test returns non-zero
 * when fails > 0. CHECK_U64 reads an integer member of a json_mini object (json_mini.h).
 */
#ifndef PERFSHIM_TESTS_CHECK_H
#define PERFSHIM_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>

#include "json_mini.h"

static int fails;

#define CHECK(c)                                                                               \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);             \
            fails++;                                                                           \
        }                                                                                      \
    } while (0)

#define CHECK_U64(j, key, want)                                                                \
    do {                                                                                       \
        uint64_t got_ = json_u64(j, key);                                                      \
        if (got_ != (uint64_t)(want)) {                                                        \
            fprintf(stderr, "%s:%d: %s: %" PRIu64 ", expected %" PRIu64 "\n", __FILE__,        \
                    __LINE__, key, got_, (uint64_t)(want));                                    \
            fails++;                                                                           \
        }                                                                                      \
    } while (0)

#endif /* PERFSHIM_TESTS_CHECK_H */
