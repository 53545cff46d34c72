/*
 * tests/unit/profile_formats.c -- the profile view's plug-ins on a profile built by hand
 * (analyzer/formats/{intern,speedscope,massif,chrome_trace}.c): the interning table's dense
 * indices through growth; speedscope's frames written once and each profile's weights; massif's
 * 1% threshold grouping the small sites into one "in N places" line; chrome-trace's times exact
 * to the ns; the time axis costing nothing for a renderer without one.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/profile.h"
#include "core/intern.h"
#include "test.h"

int speedscope_format(void *view, FILE *o);
int massif_format(void *view, FILE *o);
int chrome_trace_format(void *view, FILE *o);

static const char *const types[] = {"allocations", "bytes", "peak", "leaked", "inuse"};
static const char *const units[] = {"count", "bytes", "bytes", "bytes", "bytes"};

static sym_frame_t frame(const char *fn, uint64_t addr)
{
    return (sym_frame_t){.address = addr, .function = fn, .file = "a.c", .line = 7};
}

/* Renders with fn: a profile of `nsites` leaf functions under main, each with values v(i). */
static char *render(int (*fn)(void *, FILE *), size_t nsites, uint64_t big, bool time_axis)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    profile_t p;
    static profile_meta_t meta = {.exe = "/bin/app", .pid = 42, .peak_bytes = 0,
                                  .peak_time_ns = 1500};
    if (!o || fn(&p, o) != 0)
        return NULL;
    profile_types(&p, types, units, 5);
    meta.peak_bytes = big + nsites;
    profile_meta(&p, &meta);
    for (size_t i = 0; i <= nsites; i++) {
        char name[32];
        snprintf(name, sizeof name, i ? "small%zu" : "big", i);
        sym_frame_t fr[2] = {frame(name, 0x1000 + i), frame("main", 0x2000)};
        uint64_t b = i ? 1 : big, v[5] = {1, b, b, 0, b};
        expect_u64_eq(profile_sample(&p, fr, 2, v), 0);
    }
    if (time_axis) {
        expect_u64_eq(profile_counter(&p, "heap", 0, 0), 0);
        expect_u64_eq(profile_counter(&p, "heap", 1500, big + nsites), 0);
        expect_u64_eq(profile_counter(&p, "heap", 3001, big + nsites), 0);
        expect_u64_eq(profile_thread(&p, 42, ""), 0);
        expect_u64_eq(profile_span(&p, 43, 1234567, 1, "mutex 0x10 at f", "f (a.c:7)"), 0);
    }
    expect_u64_eq(profile_close(&p), 0);
    fclose(o);
    return buf;
}

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

TEST(intern_dense_through_growth)
{
    intern_t t = {0};
    char k[32];
    for (int i = 0; i < 5000; i++) {
        bool added;
        snprintf(k, sizeof k, "key%d", i);
        assert_u64_eq(intern_str(&t, k, &added), (uint64_t)i);
        expect_true(added);
    }
    for (int i = 4999; i >= 0; i--) {
        bool added;
        snprintf(k, sizeof k, "key%d", i);
        expect_u64_eq(intern_str(&t, k, &added), (uint64_t)i);
        expect_true(!added);
        expect_str_eq(intern_key(&t, (size_t)i, NULL), k);
    }
    expect_u64_eq(intern_get(&t, "a\0b", 3, NULL), 5000); /* bytes, not C strings */
    expect_u64_eq(intern_get(&t, "a\0c", 3, NULL), 5001);
    intern_free(&t);
}

TEST(speedscope_frames_once_weights_per_type)
{
    char *s = render(speedscope_format, 3, 1000, true); /* the time axis: ignored */
    assert_true(s != NULL);
    expect_u64_eq(count(s, "{\"name\":\"main\""), 1); /* shared by every stack */
    expect_u64_eq(count(s, "\"type\":\"sampled\""), 5);
    expect_true(strstr(s, "\"name\":\"bytes\",\"unit\":\"bytes\",\"startValue\":0,"
                          "\"endValue\":1003") != NULL);
    expect_true(strstr(s, "\"name\":\"allocations\",\"unit\":\"none\",\"startValue\":0,"
                          "\"endValue\":4") != NULL);
    /* leaked is 0 everywhere: an empty profile */
    expect_true(strstr(s, "\"name\":\"leaked\",\"unit\":\"bytes\",\"startValue\":0,"
                          "\"endValue\":0,\"samples\":[],\"weights\":[]") != NULL);
    free(s);
}

TEST(massif_threshold_groups_small_sites)
{
    /* 1000 bytes at one site, 1 byte at each of 50 others: those are under 1% of 1050 */
    char *s = render(massif_format, 50, 1000, true);
    assert_true(s != NULL);
    expect_true(strstr(s, "snapshot=1\n#-----------\ntime=0.001\nmem_heap_B=1050\n"
                          "mem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=peak\n"
                          "n2: 1050 (heap allocation functions)") != NULL);
    expect_true(strstr(s, "\n n1: 1000 0x1000: big (a.c:7)\n  n0: 1000 0x2000: main (a.c:7)\n")
                != NULL);
    expect_true(strstr(s, "\n n0: 50 in 50 places, all below massif's threshold (1.00%)\n") !=
                NULL);
    expect_true(strstr(s, "snapshot=2\n#-----------\ntime=0.003\nmem_heap_B=1050\n"
                          "mem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=detailed\n") != NULL);
    free(s);
    s = render(massif_format, 0, 0, false); /* no time axis: one detailed snapshot */
    assert_true(s != NULL);
    expect_u64_eq(count(s, "snapshot="), 1);
    free(s);
}

TEST(chrome_trace_exact_times)
{
    char *s = render(chrome_trace_format, 2, 10, true);
    assert_true(s != NULL);
    expect_true(strstr(s, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":42,\"tid\":42,"
                          "\"args\":{\"name\":\"main\"}}") != NULL);
    expect_true(strstr(s, "{\"name\":\"heap\",\"ph\":\"C\",\"ts\":1.500,\"pid\":42,\"tid\":42,"
                          "\"args\":{\"live_bytes\":12}}") != NULL);
    expect_true(strstr(s, "\"ph\":\"X\",\"ts\":1234.567,\"dur\":0.001,\"pid\":42,\"tid\":43,"
                          "\"args\":{\"site\":\"f (a.c:7)\",\"wait_ns\":1}}") != NULL);
    expect_u64_eq(count(s, "\"ph\":\"X\""), 1); /* stacks are not events */
    free(s);
}

TEST_MAIN(TEST_ENTRY(intern_dense_through_growth),
          TEST_ENTRY(speedscope_frames_once_weights_per_type),
          TEST_ENTRY(massif_threshold_groups_small_sites), TEST_ENTRY(chrome_trace_exact_times))
