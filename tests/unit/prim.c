/* Unit tests of preload/prim.c's descriptor and memory helpers (issue 12): the floor follows
 * RLIMIT_NOFILE (15/16 of it, capped at 4096), a descriptor moved high is close-on-exec, above
 * the floor, the same file, and its old number is free again; prim_read_self reads readable
 * memory and fails, without faulting, on memory that is not. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prim.h"
#include "test.h"

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

TEST_MAIN(TEST_ENTRY(floor_follows_the_limit), TEST_ENTRY(move_high), TEST_ENTRY(read_self),
          TEST_ENTRY(heapsort))
