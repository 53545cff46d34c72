/* Unit tests of preload/options.c: defaults, valid values, bad values fall back with a
 * warning, and the output template expands %p %e %% and rejects what it cannot. */
#include <string.h>

#include "options.h"
#include "test.h"

static const char *const *env;

static const char *fake_get(const char *name)
{
    for (const char *const *e = env; e && *e; e += 2)
        if (strcmp(e[0], name) == 0)
            return e[1];
    return NULL;
}

TEST(defaults)
{
    options_t o;
    env = NULL;
    expect_u64_eq(options_load(&o, fake_get), 0);
    expect_u64_eq(o.depth, 64);
    expect_u64_eq(o.flush_ms, 100);
    expect_u64_eq(o.rss_ms, 10);
    expect_u64_eq(o.enable, 1);
    expect_str_eq(o.output, "perfshim.%e.%p.trace");
}

TEST(valid_and_invalid_values)
{
    options_t o;
    static const char *const e[] = {"PERFSHIM_DEPTH", "128", "PERFSHIM_FLUSH_MS", "abc",
                                    "PERFSHIM_RSS_MS", "0", "PERFSHIM_BUFFER_KB", "99999",
                                    "PERFSHIM_ZSTD_LEVEL", "-3", "PERFSHIM_OUTPUT", "/tmp/t.%p",
                                    NULL};
    env = e;
    expect_u64_eq(options_load(&o, fake_get), 2); /* FLUSH_MS and BUFFER_KB */
    expect_u64_eq(o.depth, 128);
    expect_u64_eq(o.flush_ms, 100);
    expect_u64_eq(o.rss_ms, 0);
    expect_u64_eq(o.buffer_kb, 1024);
    expect_true(o.zstd_level == -3);
    expect_str_eq(o.output, "/tmp/t.%p");
}

TEST(bad_output_template_falls_back)
{
    options_t o;
    static const char *const e[] = {"PERFSHIM_OUTPUT", "x.%q", NULL};
    env = e;
    expect_u64_eq(options_load(&o, fake_get), 1);
    expect_str_eq(o.output, "perfshim.%e.%p.trace");
}

TEST(expand)
{
    char out[64];
    expect_u64_eq(options_expand_output("a.%e.%p.%%", 42, "prog", out, sizeof out), 0);
    expect_str_eq(out, "a.prog.42.%");
    expect_true(options_expand_output("%z", 1, "p", out, sizeof out) != 0);
    expect_true(options_expand_output("", 1, "p", out, sizeof out) != 0);
    expect_true(options_expand_output("%e%e%e%e", 1, "0123456789abcdef", out, sizeof out) != 0);
}

/* issue 12: a snapshot handler on a fault signal turns a crash into an endless loop */
TEST(snapshot_signal_refuses_fatal_signals)
{
    options_t o;
    static const char *const bad[] = {"11", "7", "8", "4", "6", "5", "31", "9", "19", "32", "33"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *const e[] = {"PERFSHIM_SNAPSHOT_SIGNAL", bad[i], NULL};
        env = e;
        expect_u64_eq(options_load(&o, fake_get), 1);
        expect_u64_eq(o.snapshot_signal, 0);
    }
    static const char *const ok[] = {"PERFSHIM_SNAPSHOT_SIGNAL", "12", NULL};
    env = ok;
    expect_u64_eq(options_load(&o, fake_get), 0);
    expect_u64_eq(o.snapshot_signal, 12);
}

TEST_MAIN(TEST_ENTRY(defaults), TEST_ENTRY(valid_and_invalid_values),
          TEST_ENTRY(bad_output_template_falls_back), TEST_ENTRY(expand),
          TEST_ENTRY(snapshot_signal_refuses_fatal_signals))
