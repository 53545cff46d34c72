/*
 * replay_driver.c -- perfshim-replay-driver: runs an op file (perfshim/replay_ops.h) against
 * the allocator of its own process (glibc's, or the one LD_PRELOAD put first) and prints what
 * it cost. `perfshim replay` (analyzer/cmd/replay_cmd.c) writes the op file and runs this
 * program once per allocator, each in its own process.
 *
 * usage: perfshim-replay-driver OPFILE [SYMBOL]
 *   SYMBOL: a function the allocator under test defines (mallctl for jemalloc): when the
 *   process does not have it, the allocator was not loaded: exit 3, one line.
 * Output (stdout, one line, exit 0):
 *   peak_rss_bytes=N end_rss_bytes=N baseline_rss_bytes=N wall_ns=N cpu_ns=N ops=N
 *   failed=N waited=N
 * peak: VmHWM at the end; end: VmRSS after the last op (the blocks the trace never released
 * are still allocated); baseline: VmRSS after setup, before the first op (the driver, its id
 * table and buffers, the threads); wall_ns: from the first op to the last thread's end;
 * cpu_ns: user + system time of the process in that span; failed: allocations that returned
 * NULL; waited: ops that had to wait for another thread.
 * Bad op file: one line "perfshim-replay-driver: OPFILE: ..." on stderr, exit 2.
 *
 * What an op does to memory: every allocated block is written whole once (memset), as the
 * program would have written it -- an upper bound of the pages the program touched; a
 * realloc writes the grown part only (the allocator copies the rest). calloc is called as
 * calloc and written too. Each recorded thread is one driver thread; they start together and
 * run their ops as fast as they can, in order, waiting only where an op releases a block of
 * another thread that it has not allocated yet (replay_ops.h "Order").
 *
 * The driver's own memory (the id table, op buffers, progress counters) comes from mmap, not
 * from the allocator under test, and is touched before the baseline is taken.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "perfshim/replay_ops.h"

#define BUF_OPS 1024 /* ops read at once per thread (40 KiB) */

typedef struct progress_s {
    uint64_t done; /* ops this thread has finished (release store) */
    char pad[56];
} progress_t;

typedef struct dthread_s {
    uint32_t index;
    ps_ops_thread_t t;
    ps_op_t *buf;
    uint64_t failed, waited;
    pthread_t th;
} dthread_t;

static const char *g_path;
static int g_fd;
static ps_ops_header_t g_h;
static dthread_t *g_th;
static progress_t *g_prog;
static void **g_slot;     /* id -> block */
static int g_start;       /* 1: go */
static int g_stop;        /* 1: an error, every thread stops */
static unsigned g_waiting, g_active;
static char g_err[256];
static pthread_mutex_t g_err_lock = PTHREAD_MUTEX_INITIALIZER;

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "perfshim-replay-driver: %s\n", line);
    exit(code);
}

/* The first error of any thread; every thread stops at its next op. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    pthread_mutex_lock(&g_err_lock);
    if (!g_err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_err, sizeof g_err, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&g_err_lock);
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
}

static void *map(size_t bytes)
{
    if (!bytes)
        bytes = 1;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die(2, "%s: cannot map %zu bytes: %s", g_path, bytes, strerror(errno));
    memset(p, 0, bytes); /* touched now: part of the baseline */
    return p;
}

/* A "Name:  N kB" line of /proc/self/status, in bytes; 0 when absent. */
static uint64_t status_kb(const char *name)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    size_t len = strlen(name);
    for (char *l = buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (!strncmp(l, name, len) && l[len] == ':')
            return strtoull(l + len + 1, NULL, 10) * 1024;
    return 0;
}

static uint64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t progress_sum(void)
{
    uint64_t s = 0;
    for (uint32_t i = 0; i < g_h.nthreads; i++)
        s += __atomic_load_n(&g_prog[i].done, __ATOMIC_ACQUIRE);
    return s;
}

/* Waits until thread w has done `need` ops. Returns false when every running thread waits
 * and nothing moves (circular waits in the op file) or another thread failed. */
static bool wait_for(uint32_t w, uint64_t need)
{
    unsigned spins = 0;
    uint64_t last_sum = UINT64_MAX, still_since = 0; /* every running thread waiting, since */
    bool counted = false;
    while (__atomic_load_n(&g_prog[w].done, __ATOMIC_ACQUIRE) < need) {
        if (__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE))
            break;
        if (++spins < 64) {
            __builtin_ia32_pause();
            continue;
        }
        if (!counted) {
            __atomic_add_fetch(&g_waiting, 1, __ATOMIC_ACQ_REL);
            counted = true;
        }
        if (spins < 20000) { /* the thread it waits for runs on the CPU this one yields */
            sched_yield();
            continue;
        }
        struct timespec ts = {0, 50000}; /* 50 us */
        nanosleep(&ts, NULL);
        uint64_t sum = progress_sum();
        if (__atomic_load_n(&g_waiting, __ATOMIC_ACQUIRE) ==
                __atomic_load_n(&g_active, __ATOMIC_ACQUIRE) &&
            sum == last_sum) {
            /* a waiter whose op just came may not have run yet: a second of it */
            uint64_t now = now_ns(CLOCK_MONOTONIC);
            if (!still_since)
                still_since = now;
            else if (now - still_since > 1000000000ull) {
                __atomic_sub_fetch(&g_waiting, 1, __ATOMIC_ACQ_REL);
                return false;
            }
        } else {
            still_since = 0;
        }
        last_sum = sum;
    }
    if (counted)
        __atomic_sub_fetch(&g_waiting, 1, __ATOMIC_ACQ_REL);
    return __atomic_load_n(&g_prog[w].done, __ATOMIC_ACQUIRE) >= need;
}

static void touch(void *p, uint64_t from, uint64_t to)
{
    if (p && to > from)
        memset((char *)p + from, 0xa5, to - from);
}

/* Checks op i of thread d; returns a message or NULL. */
static const char *op_bad(const dthread_t *d, const ps_op_t *op)
{
    if (op->kind < PS_OP_MALLOC || op->kind > PS_OP_FREE)
        return "unknown op kind";
    if (op->id >= g_h.nblocks || (op->kind == PS_OP_REALLOC && op->id2 >= g_h.nblocks))
        return "block id out of range";
    if (op->kind == PS_OP_ALIGNED && (op->align_log2 < 3 || op->align_log2 > 30))
        return "alignment out of range";
    if (op->wait_thread != PS_OPS_NO_WAIT &&
        (op->wait_thread >= g_h.nthreads || op->wait_thread == d->index || op->wait_op == 0 ||
         op->wait_op > g_th[op->wait_thread].t.count))
        return "wait names no op of another thread";
    return NULL;
}

static void run_op(dthread_t *d, const ps_op_t *op)
{
    void *p = NULL;
    switch (op->kind) {
    case PS_OP_MALLOC:
        p = malloc(op->size);
        break;
    case PS_OP_CALLOC:
        p = calloc(1, op->size);
        break;
    case PS_OP_ALIGNED:
        if (posix_memalign(&p, (size_t)1 << op->align_log2, op->size) != 0)
            p = NULL;
        break;
    case PS_OP_REALLOC: {
        void *old = __atomic_exchange_n(&g_slot[op->id], NULL, __ATOMIC_ACQ_REL);
        p = realloc(old, op->size);
        if (!p && op->size) {
            d->failed++;
            p = old; /* still the program's: its release names the new id */
        } else if (p) {
            touch(p, old ? op->old_size : 0, op->size);
        }
        __atomic_store_n(&g_slot[op->id2], p, __ATOMIC_RELEASE);
        return;
    }
    case PS_OP_FREE:
        free(__atomic_exchange_n(&g_slot[op->id], NULL, __ATOMIC_ACQ_REL));
        return;
    }
    if (!p && op->size)
        d->failed++;
    touch(p, 0, op->size);
    __atomic_store_n(&g_slot[op->id], p, __ATOMIC_RELEASE);
}

static void *thread_main(void *arg)
{
    dthread_t *d = arg;
    while (!__atomic_load_n(&g_start, __ATOMIC_ACQUIRE))
        sched_yield();
    uint64_t i = 0;
    while (i < d->t.count && !__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        size_t n = d->t.count - i < BUF_OPS ? (size_t)(d->t.count - i) : BUF_OPS;
        size_t want = n * sizeof(ps_op_t), got = 0;
        while (got < want) {
            ssize_t r = pread(g_fd, (char *)d->buf + got, want - got,
                              (off_t)(d->t.offset + i * sizeof(ps_op_t) + got));
            if (r <= 0) {
                fail("%s: thread %" PRIu32 ": cannot read its ops: %s", g_path, d->index,
                     r < 0 ? strerror(errno) : "file cut short");
                goto out;
            }
            got += (size_t)r;
        }
        for (size_t k = 0; k < n; k++, i++) {
            const ps_op_t *op = &d->buf[k];
            const char *bad = op_bad(d, op);
            if (bad) {
                fail("%s: thread %" PRIu32 " op %" PRIu64 ": %s", g_path, d->index, i, bad);
                goto out;
            }
            if (op->wait_thread != PS_OPS_NO_WAIT) {
                if (__atomic_load_n(&g_prog[op->wait_thread].done, __ATOMIC_ACQUIRE) <
                    op->wait_op)
                    d->waited++;
                if (!wait_for(op->wait_thread, op->wait_op)) {
                    fail("%s: thread %" PRIu32 " op %" PRIu64 ": circular waits (it waits "
                         "for thread %" PRIu32 " op %" PRIu64 ")",
                         g_path, d->index, i, op->wait_thread, op->wait_op - 1);
                    goto out;
                }
            }
            run_op(d, op);
            __atomic_store_n(&g_prog[d->index].done, i + 1, __ATOMIC_RELEASE);
        }
    }
out:
    __atomic_sub_fetch(&g_active, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

static void load(const char *path)
{
    g_path = path;
    if ((g_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        die(2, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(g_fd, &st) != 0 || !S_ISREG(st.st_mode))
        die(2, "%s: not a regular file", path);
    uint64_t size = (uint64_t)st.st_size;
    if (pread(g_fd, &g_h, sizeof g_h, 0) != (ssize_t)sizeof g_h)
        die(2, "%s: not an op file (shorter than its header)", path);
    if (memcmp(g_h.magic, PS_OPS_MAGIC, 4) != 0)
        die(2, "%s: not an op file (bad magic)", path);
    if (g_h.version > PS_OPS_VERSION)
        die(2, "%s: op file version %" PRIu32 " is newer than this driver (%u)", path,
            g_h.version, PS_OPS_VERSION);
    if (g_h.nthreads > PS_OPS_MAX_THREADS)
        die(2, "%s: %" PRIu32 " threads: more than %u", path, g_h.nthreads, PS_OPS_MAX_THREADS);
    uint64_t table_end = sizeof g_h + (uint64_t)g_h.nthreads * sizeof(ps_ops_thread_t);
    if (table_end > size)
        die(2, "%s: cut short: %" PRIu64 " bytes, its thread table ends at %" PRIu64, path, size,
            table_end);
    if (g_h.nblocks > g_h.nops || g_h.nblocks > UINT32_MAX)
        die(2, "%s: %" PRIu64 " blocks for %" PRIu64 " ops", path, g_h.nblocks, g_h.nops);
    g_th = map(((size_t)g_h.nthreads ? g_h.nthreads : 1) * sizeof(*g_th));
    uint64_t total = 0;
    for (uint32_t i = 0; i < g_h.nthreads; i++) {
        dthread_t *d = &g_th[i];
        d->index = i;
        if (pread(g_fd, &d->t, sizeof d->t, (off_t)(sizeof g_h + i * sizeof d->t)) !=
            (ssize_t)sizeof d->t)
            die(2, "%s: cannot read thread %" PRIu32 ": %s", path, i, strerror(errno));
        if (d->t.offset < table_end || d->t.count > size / sizeof(ps_op_t) ||
            d->t.offset > size - d->t.count * sizeof(ps_op_t))
            die(2, "%s: thread %" PRIu32 ": %" PRIu64 " ops at offset %" PRIu64
                   " do not fit the file (%" PRIu64 " bytes)",
                path, i, d->t.count, d->t.offset, size);
        total += d->t.count;
    }
    if (total != g_h.nops)
        die(2, "%s: the threads hold %" PRIu64 " ops, the header says %" PRIu64, path, total,
            g_h.nops);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || argv[1][0] == '-') {
        fprintf(stderr, "usage: perfshim-replay-driver OPFILE [SYMBOL]\n"
                        "(run by `perfshim replay`; see perfshim(1))\n");
        return 2;
    }
    if (argc == 3 && !dlsym(RTLD_DEFAULT, argv[2]))
        die(3, "allocator not loaded (no symbol %s in this process)", argv[2]);
    load(argv[1]);
    g_prog = map(((size_t)g_h.nthreads ? g_h.nthreads : 1) * sizeof(*g_prog));
    g_slot = map((size_t)g_h.nblocks * sizeof(void *));
    g_active = g_h.nthreads;
    for (uint32_t i = 0; i < g_h.nthreads; i++) {
        g_th[i].buf = map(BUF_OPS * sizeof(ps_op_t));
        int rc = pthread_create(&g_th[i].th, NULL, thread_main, &g_th[i]);
        if (rc != 0)
            die(2, "%s: cannot start thread %" PRIu32 " of %" PRIu32 ": %s", g_path, i,
                g_h.nthreads, strerror(rc));
    }
    uint64_t baseline = status_kb("VmRSS");
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    __atomic_store_n(&g_start, 1, __ATOMIC_RELEASE);
    uint64_t failed = 0, waited = 0;
    for (uint32_t i = 0; i < g_h.nthreads; i++) {
        pthread_join(g_th[i].th, NULL);
        failed += g_th[i].failed;
        waited += g_th[i].waited;
    }
    uint64_t t1 = now_ns(CLOCK_MONOTONIC);
    getrusage(RUSAGE_SELF, &r1);
    if (g_err[0])
        die(2, "%s", g_err);
#define TV_NS(tv) ((uint64_t)(tv).tv_sec * 1000000000ull + (uint64_t)(tv).tv_usec * 1000ull)
    uint64_t cpu = TV_NS(r1.ru_utime) + TV_NS(r1.ru_stime) - TV_NS(r0.ru_utime) -
                   TV_NS(r0.ru_stime);
#undef TV_NS
    printf("peak_rss_bytes=%" PRIu64 " end_rss_bytes=%" PRIu64 " baseline_rss_bytes=%" PRIu64
           " wall_ns=%" PRIu64 " cpu_ns=%" PRIu64 " ops=%" PRIu64 " failed=%" PRIu64
           " waited=%" PRIu64 "\n",
           status_kb("VmHWM"), status_kb("VmRSS"), baseline, t1 - t0, cpu, g_h.nops, failed,
           waited);
    return fflush(stdout) == 0 ? 0 : 2;
}
