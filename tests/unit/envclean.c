/* Unit tests of preload/envclean.c: the shim's entry leaves LD_PRELOAD (others kept), in
 * environ in place and in an exec's envp when it still carries the inherited value. */
#include <stdlib.h>
#include <string.h>

#include "envclean.h"
#include "test.h"

extern char **environ;

TEST(value)
{
    char out[256];
    expect_u64_eq(envclean_value("/x/libperfshim.so", out, sizeof out), 0);
    expect_str_eq(out, "");
    expect_u64_eq(envclean_value("liba.so:/x/libperfshim.so libb.so", out, sizeof out), 15);
    expect_str_eq(out, "liba.so:libb.so");
    expect_u64_eq(envclean_value("::liba.so::", out, sizeof out), 7);
    expect_str_eq(out, "liba.so");
    char small[4];
    expect_u64_ge(envclean_value("liba.so", small, sizeof small), sizeof small); /* too long */
    char inplace[] = "/p/libperfshim.so:/q/libother.so";
    envclean_value(inplace, inplace, sizeof inplace);
    expect_str_eq(inplace, "/q/libother.so");
}

/* Runs last: it installs a fake environ. */
TEST(scrub_and_exec_envp)
{
    char e0[] = "A=1", e1[] = "LD_PRELOAD=/x/libperfshim.so", e2[] = "B=2";
    char e3[] = "LD_PRELOAD=/x/libperfshim.so"; /* a duplicate: ld.so reads the last one */
    char *fake[] = {e0, e1, e2, e3, NULL};
    char *orig_e1 = e1; /* what an environment copied before the constructor still holds */
    char **saved = environ;
    environ = fake;
    envclean_scrub_environ();
    expect_str_eq(fake[0], "A=1");
    expect_str_eq(fake[1], "B=2");
    expect_true(fake[2] == NULL);
    environ = saved;

    /* an exec's envp carrying the inherited value: cleaned in a copy; the original untouched */
    char *envp[] = {e0, orig_e1, e2, NULL};
    envclean_buf_t b;
    char *const *out = envclean_envp(envp, &b);
    expect_true(out != envp);
    expect_str_eq(out[0], "A=1");
    expect_str_eq(out[1], "B=2");
    expect_true(out[2] == NULL);
    expect_true(envp[1] == orig_e1);
    envclean_release(&b);

    /* a value the app set itself is its own */
    char own[] = "LD_PRELOAD=/y/libperfshim.so";
    char *envp2[] = {own, NULL};
    expect_true(envclean_envp(envp2, &b) == envp2);
    envclean_release(&b);

    /* a large environment goes to imem */
    char **big = calloc(1001, sizeof *big);
    for (int i = 0; i < 999; i++)
        big[i] = e0;
    big[999] = orig_e1;
    out = envclean_envp(big, &b);
    expect_true(out != big && b.heap != NULL);
    size_t n = 0;
    while (out[n])
        n++;
    expect_u64_eq(n, 999);
    envclean_release(&b);
    free(big);
}

TEST_MAIN(TEST_ENTRY(value), TEST_ENTRY(scrub_and_exec_envp))
