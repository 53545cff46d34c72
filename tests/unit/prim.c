/* Unit tests of preload/prim.c's descriptor and memory helpers (issue 12): the floor follows
 * RLIMIT_NOFILE (15/16 of it, capped at 4096), a descriptor moved high is close-on-exec, above
 * the floor, the same file, and its old number is free again; prim_read_self reads readable
 * memory and fails, without faulting, on memory that is not; the TSC clock of the records
 * (issue 18) agrees with CLOCK_MONOTONIC within microseconds and never goes back; the clock
 * is read through the vDSO where there is one; prim_call_on_stack runs a function on the
 * stack it is given (its frame there, its value back, the caller's callee-saved registers
 * and stack as they were). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "prim.h"
#include "test.h"
#include "tsc.h"

static void set_nofile(rlim_t soft, struct rlimit *saved)
{
    getrlimit(RLIMIT_NOFILE, saved);
    struct rlimit r = *saved;
    r.rlim_cur = soft < saved->rlim_max ? soft : saved->rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
}

TEST(floor_follows_the_limit)
{
    struct rlimit saved;
    set_nofile(1024, &saved);
    expect_u64_eq(prim_fd_floor(), 960);
    set_nofile(64, &saved);
    expect_u64_eq(prim_fd_floor(), 60);
    set_nofile(8, &saved);
    expect_u64_eq(prim_fd_floor(), 3);
    setrlimit(RLIMIT_NOFILE, &saved);
    if (saved.rlim_cur >= 4096)
        expect_u64_eq(prim_fd_floor(), 3840);
}

TEST(move_high)
{
    struct rlimit saved;
    set_nofile(1024, &saved);
    int fd = open("/dev/null", O_WRONLY);
    assert_true(fd >= 0 && fd < 960);
    struct stat a, b;
    fstat(fd, &a);
    int hi = prim_fd_move_high(fd);
    expect_u64_ge(hi, 960);
    expect_true(fcntl(fd, F_GETFD) < 0); /* the old number is free */
    expect_true(fcntl(hi, F_GETFD) & FD_CLOEXEC);
    fstat(hi, &b);
    expect_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    expect_u64_eq(prim_fd_move_high(hi), hi); /* already high: stays */
    close(hi);
    setrlimit(RLIMIT_NOFILE, &saved);
}

TEST(read_self)
{
    uint64_t v = 0x1234567890abcdefull, got = 0;
    expect_u64_eq(prim_read_self(&got, &v, sizeof v), 0);
    expect_u64_eq(got, v);
    void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    expect_true(prim_read_self(&got, p, sizeof got) != 0); /* no fault */
    munmap(p, 4096);
    expect_true(prim_read_self(&got, p, sizeof got) != 0);
}

typedef struct {
    uint64_t k;
    uint32_t tag;
} hs_t;
PRIM_DEFINE_HEAPSORT(hs_sort, hs_t, k)

/* The allocation-free heapsort the leak scan uses: sorted, and a permutation (each tag once),
 * on sizes 0..300 with few and many equal keys. */
TEST(heapsort)
{
    static hs_t a[300];
    static unsigned char seen[300];
    uint64_t x = 88172645463325252ull;
    for (size_t n = 0; n <= 300; n += (n < 20 ? 1 : 37)) {
        for (uint64_t mod = 3; mod <= (1ull << 40); mod <<= 20) {
            for (size_t i = 0; i < n; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                a[i] = (hs_t){x % mod, (uint32_t)i};
            }
            hs_sort(a, n);
            memset(seen, 0, sizeof seen);
            for (size_t i = 0; i < n; i++) {
                if (i)
                    expect_true(a[i - 1].k <= a[i].k);
                expect_true(!seen[a[i].tag]);
                seen[a[i].tag] = 1;
            }
        }
    }
}

/* ---- the TSC clock (prim_now_ns, issue 18) ---------------------------------------------- */

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

/* |prim_now_ns - CLOCK_MONOTONIC| at one instant, from the tightest of a few bracketing
 * reads (a read the VM preempted says nothing); UINT64_MAX if none was tight. */
static uint64_t clock_error(void)
{
    uint64_t best = UINT64_MAX, err = UINT64_MAX;
    for (int i = 0; i < 20; i++) {
        uint64_t a = prim_mono_ns(), b = prim_now_ns(), c = prim_mono_ns();
        if (c - a >= best)
            continue;
        best = c - a;
        err = b < a ? a - b : b > c ? b - c : 0;
    }
    return best < 20000 ? err : UINT64_MAX;
}

/* Over 3 s of reads at random gaps (1-3 ms, and two long quiet gaps where no read takes a
 * new segment), the TSC clock stays within 5 us of CLOCK_MONOTONIC, and never goes back. */
TEST(clock_agrees_with_monotonic)
{
    tsc_init(); /* starts the TSC clock where the CPU has an invariant TSC */
    if (!tsc_ok) {
        fprintf(stderr, "note: no invariant TSC: prim_now_ns is clock_gettime\n");
        return;
    }
    uint64_t t0 = prim_mono_ns(), prev = prim_now_ns(), worst = 0, checked = 0;
    uint64_t x = 12345;
    int long_gaps = 0;
    while (prim_mono_ns() - t0 < 3000000000ull) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t gap = 1000000 + x % 2000000;
        if (long_gaps < 2 && prim_mono_ns() - t0 > (long_gaps + 1) * 1000000000ull) {
            gap = 700000000; /* no read for 0.7 s: the segment ends long before the next */
            long_gaps++;
        }
        sleep_ns(gap);
        uint64_t now = prim_now_ns();
        expect_u64_ge(now, prev);
        prev = now;
        uint64_t e = clock_error();
        if (e != UINT64_MAX) {
            checked++;
            if (e > worst)
                worst = e;
        }
    }
    uint64_t g = __atomic_load_n(&prim_clock.gen, __ATOMIC_ACQUIRE);
    /* the TSC clock is the one read, when it is on (prim.h: PRIM_TSC_CLOCK) */
    expect_true(!PRIM_TSC_CLOCK || prim_clock.seg[g & 1].span != 0);
    fprintf(stderr, "TSC clock: worst |error| %llu ns over %llu checks, %llu segments\n",
            (unsigned long long)worst, (unsigned long long)checked, (unsigned long long)g);
    expect_u64_ge(checked, 100);
    expect_u64_le(worst, 5000);
}

/* Causality across threads: a thread that sees another's timestamp (published with a
 * release store) then reads the clock gets no less. 2 threads x 2 M reads, across many
 * segment ends. */
static uint64_t last_seen;
static volatile int clock_bad;
static void *clock_thread(void *arg)
{
    (void)arg;
    uint64_t mine = 0;
    for (int i = 0; i < 2000000; i++) {
        uint64_t seen = __atomic_load_n(&last_seen, __ATOMIC_ACQUIRE);
        uint64_t now = prim_now_ns();
        if (now < seen || now < mine)
            clock_bad = 1;
        mine = now;
        uint64_t cur = seen;
        while (cur < now &&
               !__atomic_compare_exchange_n(&last_seen, &cur, now, 0, __ATOMIC_RELEASE,
                                            __ATOMIC_ACQUIRE))
            ;
    }
    return NULL;
}

TEST(clock_monotonic_across_threads)
{
    tsc_init();
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_true(pthread_create(&th[i], NULL, clock_thread, NULL) == 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    expect_true(!clock_bad);
}

/* prim_now_ns calls the vDSO's clock_gettime directly where the kernel maps a vDSO (glibc's
 * otherwise, as under valgrind), and reads CLOCK_MONOTONIC. */
TEST(clock_through_the_vdso)
{
    if (getauxval(AT_SYSINFO_EHDR))
        expect_true(prim_vdso_cgt != clock_gettime);
    else
        expect_true(prim_vdso_cgt == clock_gettime);
    if (PRIM_TSC_CLOCK)
        return;
    for (int i = 0; i < 1000; i++) {
        uint64_t a = prim_now_ns();
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        uint64_t b = prim_now_ns(), m = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
        expect_true(a <= m && m <= b);
    }
}

static uintptr_t seen_frame;
static uint64_t on_other(void *arg)
{
    volatile char local = 0;
    seen_frame = (uintptr_t)&local;
    return *(uint64_t *)arg * 3;
}

TEST(call_on_stack)
{
    static unsigned char stk[16384] __attribute__((aligned(16)));
    uint64_t v = 14;
    volatile uint64_t before = 0x1234567890abcdefull; /* a local of this frame */
    uint64_t r = prim_call_on_stack(stk + sizeof stk, on_other, &v);
    expect_u64_eq(r, 42);
    expect_u64_eq(before, 0x1234567890abcdefull);
#if defined(__x86_64__)
    expect_true(seen_frame >= (uintptr_t)stk && seen_frame < (uintptr_t)stk + sizeof stk);
#endif
    /* many calls: the caller's stack pointer comes back each time */
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    for (int i = 0; i < 1000; i++)
        r += prim_call_on_stack(stk + sizeof stk, on_other, &v);
    expect_u64_eq(r, 42 + 1000 * 42);
    expect_u64_eq((uintptr_t)__builtin_frame_address(0), here);
}

TEST_MAIN(TEST_ENTRY(floor_follows_the_limit), TEST_ENTRY(move_high), TEST_ENTRY(read_self),
          TEST_ENTRY(heapsort), TEST_ENTRY(clock_monotonic_across_threads),
          TEST_ENTRY(clock_agrees_with_monotonic), TEST_ENTRY(clock_through_the_vdso),
          TEST_ENTRY(call_on_stack))
