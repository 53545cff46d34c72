/*
 * tests/unit/symbols.c -- symbols made ready ahead (symwarm, analyzer/core/symbols.h) move
 * work, not results: this test program's own return addresses resolve to the same frames
 * (function, file, line, inlined chain) with symbols loaded cold and with a symwarm's modules
 * adopted; the warm thread's module is taken over (symbols_adopted), and is not when the
 * symwarm ran with other options (another sysroot) or was stopped unused. And libc's frames
 * (its DWARF is in a separate debug file with compressed sections, where installed) are the
 * same with the sections inflated ahead on a second thread (core/dwarfinfo.c) and without
 * (PERFSHIM_NO_PREFETCH). Addresses only counted first (symbols_depth) count the frames they
 * resolve to, and resolve afterwards as cold.
 */
#include <config.h>

#include <elf.h>
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/symbols.h"
#include "test.h"

#define NIPS 5

static uint64_t ips[NIPS];
static ps_segment_t segs[8];
static tm_module_t mod;

/* Each records its own return address (an address in the function that called it). */
__attribute__((noinline, noipa)) static void ra0(void)
{
    ips[0] = (uint64_t)(uintptr_t)__builtin_return_address(0);
}
__attribute__((noinline, noipa)) static void ra1(void)
{
    ips[1] = (uint64_t)(uintptr_t)__builtin_return_address(0);
}
__attribute__((noinline, noipa)) static void caller(void)
{
    ra0();
    ra1();
    ips[2] = (uint64_t)(uintptr_t)__builtin_return_address(0);
}

/* ips[4]: a return address in code inlined into its caller (an inlined frame with the
 * file:line of the call it was inlined at) */
__attribute__((noinline, noipa)) static void ra4(void)
{
    ips[4] = (uint64_t)(uintptr_t)__builtin_return_address(0);
}
static inline __attribute__((always_inline)) void inlined_call(void)
{
    ra4();
    __asm__ volatile("" ::: "memory"); /* not a tail call: the return address is in here */
}
__attribute__((noinline, noipa)) static void inlined_caller(void)
{
    inlined_call();
}

/* This program as the trace's module: its path, load base and PT_LOAD segments. */
static int self_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size, (void)arg;
    mod.base = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum && mod.nseg < 8; i++)
        if (info->dlpi_phdr[i].p_type == PT_LOAD)
            segs[mod.nseg++] = (ps_segment_t){info->dlpi_phdr[i].p_vaddr,
                                              info->dlpi_phdr[i].p_memsz,
                                              info->dlpi_phdr[i].p_flags, 0};
    return 1; /* the first object is the program */
}

static void setup(void)
{
    static char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        abort();
    exe[n] = 0;
    mod.path = exe;
    mod.segs = segs;
    dl_iterate_phdr(self_module, NULL);
    caller();
    inlined_caller();
    ips[3] = (uint64_t)(uintptr_t)&setup + 1; /* (lookups use ip - 1) */
}

/* One address's frames as one line: "function file:line [inlined]|..." */
static void frames_line(symbols_t *s, uint64_t ip, char *out, size_t cap)
{
    const sym_frame_t *f;
    unsigned n;
    size_t o = 0;
    out[0] = 0;
    if (symbols_frames(s, ip, &f, &n) != 0)
        return;
    for (unsigned i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s %s:%u%s|", f[i].function ? f[i].function : "?",
                              f[i].file ? f[i].file : "?", f[i].line, f[i].inlined ? " inl" : "");
}

static const symbols_opts_t opts = {.quiet = true};

TEST(a_warm_module_resolves_as_a_cold_one)
{
    char cold[NIPS][1024], warm[NIPS][1024];
    symbols_t *s = NULL;
    assert_u64_eq(symbols_open(&s, &mod, 1, &opts), 0);
    for (int i = 0; i < NIPS; i++)
        frames_line(s, ips[i], cold[i], sizeof cold[i]);
    symbols_close(s);
    /* the cold path resolves them at all: the program's functions with file:line */
    expect_true(strstr(cold[0], "caller ") != NULL && strstr(cold[0], "symbols.c:") != NULL);
    expect_true(strstr(cold[3], "setup ") != NULL);

    symwarm_t *w = NULL;
    assert_u64_eq(symwarm_start(&w, &mod, 1, ips, NIPS, &opts), 0);
    assert_true(w != NULL);
    symwarm_wait(w);
    assert_u64_eq(symbols_open(&s, &mod, 1, &opts), 0);
    symbols_adopt(s, w);
    expect_u64_eq(symbols_adopted(s), 1);
    for (int i = 0; i < NIPS; i++) {
        frames_line(s, ips[i], warm[i], sizeof warm[i]);
        expect_str_eq(warm[i], cold[i]);
    }
    symbols_close(s);
}

TEST(a_symwarm_with_other_options_or_stopped_gives_nothing)
{
    /* another sysroot: the warm thread's module is another file's, not adopted */
    symbols_opts_t other = opts;
    other.sysroot = "/nonexistent-sysroot";
    symwarm_t *w = NULL;
    assert_u64_eq(symwarm_start(&w, &mod, 1, ips, NIPS, &other), 0);
    symwarm_wait(w);
    symbols_t *s = NULL;
    assert_u64_eq(symbols_open(&s, &mod, 1, &opts), 0);
    symbols_adopt(s, w);
    expect_u64_eq(symbols_adopted(s), 0);
    char line[1024];
    frames_line(s, ips[0], line, sizeof line);
    expect_true(strstr(line, "caller ") != NULL); /* s loads it itself */
    symbols_close(s);
    /* stopped unused: freed, nothing left running */
    w = NULL;
    assert_u64_eq(symwarm_start(&w, &mod, 1, ips, NIPS, &opts), 0);
    symwarm_free(w);
    symbols_adopt(NULL, NULL); /* (no symwarm: nothing to do) */
}

/* libc as a trace's module (path, base, PT_LOAD segments, GNU build-id: its debug file is
 * found by it), and addresses in it: functions libc calls back into ours from. */
static tm_module_t libc_mod;
static ps_segment_t libc_segs[8];
static char libc_path[PATH_MAX];

static int libc_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size, (void)arg;
    const char *slash = strrchr(info->dlpi_name, '/');
    if (!slash || strncmp(slash + 1, "libc.so", 7) != 0)
        return 0;
    snprintf(libc_path, sizeof libc_path, "%s", info->dlpi_name);
    libc_mod.path = libc_path;
    libc_mod.base = info->dlpi_addr;
    libc_mod.segs = libc_segs;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && libc_mod.nseg < 8)
            libc_segs[libc_mod.nseg++] = (ps_segment_t){ph->p_vaddr, ph->p_memsz, ph->p_flags, 0};
        if (ph->p_type != PT_NOTE)
            continue;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        for (size_t o = 0; o + sizeof(ElfW(Nhdr)) <= ph->p_filesz;) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(p + o);
            size_t name = o + sizeof(*nh), desc = name + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && nh->n_descsz <= 256 &&
                desc + nh->n_descsz <= ph->p_filesz && !memcmp(p + name, "GNU", 4)) {
                memcpy(libc_mod.buildid, p + desc, nh->n_descsz);
                libc_mod.buildid_len = nh->n_descsz;
            }
            o = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    return 1;
}

static uint64_t qsort_ra;
__attribute__((noinline, noipa)) static int by_value(const void *a, const void *b)
{
    if (!qsort_ra)
        qsort_ra = (uint64_t)(uintptr_t)__builtin_return_address(0);
    return *(const int *)a - *(const int *)b;
}

/* The frames of n addresses in libc with its DWARF sections inflated ahead on a second
 * thread (ahead) and without (alone: PERFSHIM_NO_PREFETCH), the variable restored after. */
static void frames_ahead_and_alone(const symbols_opts_t *o, const uint64_t *lips, int n,
                                   char (*ahead)[2048], char (*alone)[2048])
{
    const char *was = getenv("PERFSHIM_NO_PREFETCH");
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            unsetenv("PERFSHIM_NO_PREFETCH");
        else
            setenv("PERFSHIM_NO_PREFETCH", "1", 1);
        symbols_t *s = NULL;
        assert_u64_eq(symbols_open(&s, &libc_mod, 1, o), 0);
        for (int i = 0; i < n; i++)
            frames_line(s, lips[i], pass ? alone[i] : ahead[i], 2048);
        symbols_close(s);
    }
    if (was)
        setenv("PERFSHIM_NO_PREFETCH", was, 1);
    else
        unsetenv("PERFSHIM_NO_PREFETCH");
}

TEST(libc_frames_the_same_with_sections_inflated_ahead)
{
    dl_iterate_phdr(libc_module, NULL);
    if (!libc_mod.path) {
        printf("# no libc module found: nothing to compare\n");
        return;
    }
    int v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (i * 37) % 64;
    qsort(v, 64, sizeof v[0], by_value);
    uint64_t lips[3] = {qsort_ra, (uint64_t)(uintptr_t)&qsort + 1,
                        (uint64_t)(uintptr_t)&strtol + 1};
    char ahead[3][2048], alone[3][2048];
    frames_ahead_and_alone(&opts, lips, 3, ahead, alone);
    for (int i = 0; i < 3; i++) {
        printf("# %s\n", alone[i]);
        expect_str_eq(ahead[i], alone[i]);
    }
}

/* The same, on a copy of libc's debug file with 64 bytes at `at` of its size spoiled (in
 * libc's: .debug_line at 0.62, .debug_loclists at 0.8, .debug_info at 0.3), found first
 * through debug_dir: no crash, and the same frames either way. */
static void spoiled_same(double at)
{
    if (!libc_mod.path)
        dl_iterate_phdr(libc_module, NULL);
    if (!libc_mod.path || libc_mod.buildid_len < 2) {
        printf("# no libc module with a build-id: nothing to compare\n");
        return;
    }
    char hex[2 * 256 + 1], src[PATH_MAX], dir[] = "/tmp/perfshim-symbols.XXXXXX";
    char sub[PATH_MAX], dst[PATH_MAX + 2 * 256 + 16];
    for (uint32_t i = 0; i < libc_mod.buildid_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", libc_mod.buildid[i]);
    snprintf(src, sizeof src, "/usr/lib/debug/.build-id/%.2s/%s.debug", hex, hex + 2);
    FILE *in = fopen(src, "rb");
    if (!in) {
        printf("# no %s: nothing to compare\n", src);
        return;
    }
    assert_true(mkdtemp(dir) != NULL);
    snprintf(sub, sizeof sub, "%s/.build-id", dir);
    assert_true(mkdir(sub, 0700) == 0);
    snprintf(sub, sizeof sub, "%s/.build-id/%.2s", dir, hex);
    assert_true(mkdir(sub, 0700) == 0);
    snprintf(dst, sizeof dst, "%s/%s.debug", sub, hex + 2);
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size);
    assert_true(buf && fread(buf, 1, (size_t)size, in) == (size_t)size);
    fclose(in);
    for (long i = 0; i < 64; i++)
        buf[(long)(at * (double)size) + i] ^= 0x5a;
    FILE *out = fopen(dst, "wb");
    assert_true(out && fwrite(buf, 1, (size_t)size, out) == (size_t)size);
    fclose(out);
    free(buf);
    symbols_opts_t o = opts;
    o.debug_dir = dir;
    uint64_t lips[2] = {(uint64_t)(uintptr_t)&qsort + 1, (uint64_t)(uintptr_t)&strtol + 1};
    char ahead[2][2048], alone[2][2048];
    frames_ahead_and_alone(&o, lips, 2, ahead, alone);
    for (int i = 0; i < 2; i++) {
        printf("# spoiled at %.2f: %s\n", at, alone[i]);
        expect_str_eq(ahead[i], alone[i]);
    }
    unlink(dst);
    rmdir(sub);
    snprintf(sub, sizeof sub, "%s/.build-id", dir);
    rmdir(sub);
    rmdir(dir);
}

TEST(a_spoiled_debug_file_resolves_the_same_with_sections_inflated_ahead)
{
    spoiled_same(0.62);
    spoiled_same(0.8);
    spoiled_same(0.3);
}

/* One address's frame count (symbols_depth) as a line's "|" count. */
static unsigned bars(const char *line)
{
    unsigned n = 0;
    for (; *line; line++)
        n += *line == '|';
    return n;
}

/* Addresses counted first (symbols_depth: the CU's scopes without its line table) count as
 * many frames as they resolve to, and resolve afterwards (line table read then) to the same
 * frames as cold: the program's and libc's (its inlined frames, where its DWARF is
 * installed); symbols_module_name names the module the frames give. */
TEST(counted_first_resolves_as_cold)
{
    if (!libc_mod.path)
        dl_iterate_phdr(libc_module, NULL);
    int v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (i * 37) % 64;
    qsort(v, 64, sizeof v[0], by_value);
    const tm_module_t *mods[2] = {&mod, &libc_mod};
    uint64_t lips[3] = {qsort_ra, (uint64_t)(uintptr_t)&qsort + 1,
                        (uint64_t)(uintptr_t)&strtol + 1};
    for (int k = 0; k < 2; k++) {
        if (!mods[k]->path)
            continue;
        const uint64_t *a = k ? lips : ips;
        int n = k ? 3 : NIPS;
        char cold[NIPS][2048], counted[NIPS][2048];
        symbols_t *s = NULL;
        assert_u64_eq(symbols_open(&s, mods[k], 1, &opts), 0);
        for (int i = 0; i < n; i++)
            frames_line(s, a[i], cold[i], sizeof cold[i]);
        symbols_close(s);
        assert_u64_eq(symbols_open(&s, mods[k], 1, &opts), 0);
        unsigned depth[NIPS];
        for (int i = 0; i < n; i++)
            assert_u64_eq(symbols_depth(s, a[i], &depth[i]), 0);
        for (int i = 0; i < n; i++) {
            frames_line(s, a[i], counted[i], sizeof counted[i]);
            printf("# %u: %s\n", depth[i], counted[i]);
            expect_str_eq(counted[i], cold[i]);
            expect_u64_eq(depth[i], bars(cold[i]));
            if (k == 0 && i == 4) /* the inlined one: two frames */
                expect_true(depth[i] == 2 && strstr(cold[i], "inlined_call ") &&
                            strstr(cold[i], " inl|inlined_caller ") &&
                            !strstr(cold[i], "inlined_caller ?")); /* where it was inlined */
            const sym_frame_t *f;
            unsigned m;
            assert_u64_eq(symbols_frames(s, a[i], &f, &m), 0);
            expect_true(symbols_module_name(s, a[i]) == f[0].module_name);
            expect_u64_eq(symbols_depth(s, a[i], &m), 0);
            expect_u64_eq(m, depth[i]);
        }
        symbols_close(s);
    }
}

int main(void)
{
    setup();
    static const test_case tests[] = {TEST_ENTRY(a_warm_module_resolves_as_a_cold_one),
                                      TEST_ENTRY(a_symwarm_with_other_options_or_stopped_gives_nothing),
                                      TEST_ENTRY(libc_frames_the_same_with_sections_inflated_ahead),
                                      TEST_ENTRY(a_spoiled_debug_file_resolves_the_same_with_sections_inflated_ahead),
                                      TEST_ENTRY(counted_first_resolves_as_cold)};
    return test_run(tests, sizeof tests / sizeof tests[0]);
}
