/*
 * test.h -- the tiny test framework of perfshim's C tests (test-only names, exempt from the
 * module prefix rule).
 *
 * expect_*() records a failure and continues; assert_*() records it and ends the test.
 * test_skip_if(cond) ends the whole program with automake's SKIP code (77).
 * A test program's main() is `return test_run(tests, n)`: exit 0 when all passed, 1 when any
 * failed, 99 on a hard error (automake's codes). Every check prints "file:line: ..." on failure.
 */
#ifndef PERFSHIM_TEST_H
#define PERFSHIM_TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);
typedef struct { const char *name; test_fn fn; } test_case;

extern int test_failures;
extern jmp_buf test_jmp;

#define TEST(name) static void name(void)
#define TEST_ENTRY(name) { #name, name }

#define test_fail_(stop, ...)                                                                  \
    do {                                                                                       \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                        \
        fprintf(stderr, __VA_ARGS__);                                                          \
        fputc('\n', stderr);                                                                   \
        test_failures++;                                                                       \
        if (stop)                                                                              \
            longjmp(test_jmp, 1);                                                              \
    } while (0)

#define check_true_(stop, c)                                                                   \
    do { if (!(c)) test_fail_(stop, "expected true: %s", #c); } while (0)
#define check_u64_(stop, a, op, b)                                                             \
    do {                                                                                       \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                       \
        if (!(a_ op b_))                                                                       \
            test_fail_(stop, "%s %s %s: %" PRIu64 " vs %" PRIu64, #a, #op, #b, a_, b_);        \
    } while (0)
#define check_str_(stop, a, b)                                                                 \
    do {                                                                                       \
        const char *a_ = (a), *b_ = (b);                                                       \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                 \
            test_fail_(stop, "%s == %s: \"%s\" vs \"%s\"", #a, #b, a_ ? a_ : "(null)",        \
                       b_ ? b_ : "(null)");                                                    \
    } while (0)

#define expect_true(c) check_true_(0, c)
#define assert_true(c) check_true_(1, c)
#define expect_u64_eq(a, b) check_u64_(0, a, ==, b)
#define assert_u64_eq(a, b) check_u64_(1, a, ==, b)
#define expect_u64_ge(a, b) check_u64_(0, a, >=, b)
#define expect_u64_le(a, b) check_u64_(0, a, <=, b)
#define expect_str_eq(a, b) check_str_(0, a, b)
#define assert_str_eq(a, b) check_str_(1, a, b)
#define test_skip_if(c)                                                                        \
    do {                                                                                       \
        if (c) {                                                                               \
            fprintf(stderr, "SKIP: %s\n", #c);                                                 \
            exit(77);                                                                          \
        }                                                                                      \
    } while (0)

int test_run(const test_case *tests, size_t n);

#define TEST_MAIN(...)                                                                         \
    int main(void)                                                                             \
    {                                                                                          \
        static const test_case t_[] = {__VA_ARGS__};                                           \
        return test_run(t_, sizeof(t_) / sizeof(t_[0]));                                       \
    }

#endif /* PERFSHIM_TEST_H */
