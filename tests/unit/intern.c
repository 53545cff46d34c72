/*
 * tests/unit/intern.c -- the interning table (analyzer/core/intern.c): dense indexes in the
 * order first seen, keys with NULs, and intern_fmt's keys whole however long (the speedscope
 * and pprof formats built their keys in a 1 KiB buffer and cut a long C++ name: speedscope
 * then read past the key's end, pprof merged two functions alike in their first KiB).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/intern.h"
#include "test.h"

TEST(dense_indexes_and_nul_bytes)
{
    intern_t t = {0};
    bool added;
    expect_u64_eq(intern_get(&t, "a\0b", 3, &added), 0);
    expect_true(added);
    expect_u64_eq(intern_get(&t, "a\0c", 3, &added), 1);
    expect_u64_eq(intern_get(&t, "a\0b", 3, &added), 0);
    expect_true(!added);
    expect_u64_eq(intern_str(&t, NULL, NULL), 2); /* "" */
    for (int i = 0; i < 5000; i++) { /* past rehashes */
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        expect_u64_eq(intern_str(&t, k, NULL), 3 + (uint64_t)i);
    }
    size_t len;
    const char *k = intern_key(&t, 1, &len);
    expect_u64_eq(len, 3);
    expect_true(memcmp(k, "a\0c", 4) == 0); /* NUL-terminated too */
    intern_free(&t);
}

TEST(fmt_keys_whole_however_long)
{
    intern_t t = {0};
    enum { L = 3000 };
    char *a = malloc(L + 1), *b = malloc(L + 1);
    assert_true(a && b);
    memset(a, 'x', L);
    memcpy(b, a, L);
    a[L] = b[L] = 0;
    b[L - 1] = 'y'; /* alike in their first 2999 bytes */
    bool added;
    long i = intern_fmt(&t, &added, "%s%c%s%c%u", a, 0, "file.cc", 0, 7u);
    long j = intern_fmt(&t, &added, "%s%c%s%c%u", b, 0, "file.cc", 0, 7u);
    expect_u64_eq(i, 0);
    expect_u64_eq(j, 1);
    expect_true(added);
    expect_u64_eq(intern_fmt(&t, &added, "%s%c%s%c%u", a, 0, "file.cc", 0, 7u), 0);
    expect_true(!added);
    size_t len;
    const char *k = intern_key(&t, 1, &len);
    expect_u64_eq(len, L + 1 + 7 + 1 + 1);
    /* split at its NULs as speedscope_write does: name, file, line, all there */
    expect_u64_eq(strlen(k), L);
    expect_true(strcmp(k + L + 1, "file.cc") == 0);
    expect_true(strcmp(k + L + 1 + 8, "7") == 0);
    /* a short key stays on the stack's path: the same index rules */
    expect_u64_eq(intern_fmt(&t, NULL, "%s", "short"), 2);
    free(a);
    free(b);
    intern_free(&t);
}

int main(void)
{
    static const test_case t[] = {
        TEST_ENTRY(dense_indexes_and_nul_bytes),
        TEST_ENTRY(fmt_keys_whole_however_long),
    };
    return test_run(t, sizeof t / sizeof t[0]);
}
