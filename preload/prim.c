/* prim.c -- Linux implementation of prim.h (raw syscalls, no libc allocation). */
#include <config.h>
#include "prim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "perfshim/errors.h"

uint64_t prim_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

uint64_t prim_realtime_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

pid_t prim_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

int prim_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -PS_E_IO;
        }
        if (n == 0)
            return -PS_E_IO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t prim_read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return (ssize_t)got;
}

void *prim_map(size_t len, int noreserve)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0), -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void prim_unmap(void *p, size_t len)
{
    if (p)
        munmap(p, len);
}

uint64_t prim_rss_bytes(void)
{
    char buf[128];
    ssize_t n = prim_read_file("/proc/self/statm", buf, sizeof buf - 1);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    /* "size resident shared ..." in pages */
    const char *p = buf;
    while (*p && *p != ' ')
        p++;
    uint64_t pages = 0;
    while (*p == ' ')
        p++;
    while (*p >= '0' && *p <= '9')
        pages = pages * 10 + (uint64_t)(*p++ - '0');
    return pages * prim_page_size();
}

int prim_thread_alive(pid_t tid)
{
    return !(syscall(SYS_tgkill, getpid(), tid, 0) < 0 && errno == ESRCH);
}

void prim_thread_name(char out[16])
{
    out[0] = 0;
    if (prctl(PR_GET_NAME, out, 0, 0, 0) != 0)
        out[0] = 0;
    out[15] = 0;
}

void prim_futex_wait(int *addr, int val, uint64_t timeout_ns)
{
    struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, timeout_ns ? &ts : NULL, NULL, 0);
}

void prim_futex_wake(int *addr, int n)
{
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

size_t prim_page_size(void)
{
    static size_t ps;
    if (!ps)
        ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

int prim_fd_floor(void)
{
    struct rlimit rl;
    rlim_t soft = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    if (soft == RLIM_INFINITY || soft > 4096)
        soft = 4096;
    if (soft < 16)
        return 3;
    return (int)(soft - soft / 16);
}

int prim_fd_move_high(int fd)
{
    int floor = prim_fd_floor();
    if (fd < 0 || fd >= floor)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, floor);
    if (n < 0)
        return fd;
    close(fd);
    return n;
}

int prim_read_self(void *dst, const void *src, size_t n)
{
    struct iovec l = {dst, n}, r = {(void *)(uintptr_t)src, n};
    ssize_t got = process_vm_readv(getpid(), &l, 1, &r, 1, 0);
    return got == (ssize_t)n ? 0 : -PS_E_IO;
}

void *prim_map_wipeonfork(void)
{
    size_t len = prim_page_size();
    void *p = prim_map(len, 0);
    if (p && madvise(p, len, MADV_WIPEONFORK) != 0) {
        prim_unmap(p, len);
        p = NULL;
    }
    return p;
}

int prim_protect(void *addr, size_t len, int writable)
{
    return mprotect(addr, len, PROT_READ | (writable ? PROT_WRITE : 0)) == 0 ? 0 : -PS_E_IO;
}
