/* test.c -- the runner behind test.h. */
#include "test.h"

int test_failures;
jmp_buf test_jmp;

int test_run(const test_case *tests, size_t n)
{
    volatile int failed_tests = 0;
    for (volatile size_t i = 0; i < n; i++) {
        int before = test_failures;
        if (setjmp(test_jmp) == 0)
            tests[i].fn();
        int bad = test_failures != before;
        failed_tests += bad;
        printf("%s: %s\n", bad ? "FAIL" : "PASS", tests[i].name);
    }
    printf("%zu passed, %d failed\n", n - (size_t)failed_tests, failed_tests);
    return failed_tests ? 1 : 0;
}
