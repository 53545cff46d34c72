/* prim.c -- Linux implementation of prim.h (raw syscalls, no libc allocation). */
#include <config.h>
#include "prim.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "perfshim/errors.h"

/* ---- the vDSO's clock_gettime, called directly (prim.h) ----------------------------------- */
prim_vdso_cgt_t prim_vdso_cgt = clock_gettime; /* glibc's, called without its PLT stub */

/* Finds __vdso_clock_gettime in the vDSO the kernel mapped (its ELF image, from the auxiliary
 * vector: no loader lock, no allocation); NULL where there is none (valgrind hides it). */
static prim_vdso_cgt_t vdso_find(void)
{
    const unsigned char *base = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
    if (!base)
        return NULL;
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)(const void *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_phentsize != sizeof(ElfW(Phdr)))
        return NULL;
    /* symbol values are link-time addresses: the image is at base - the first PT_LOAD's */
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(const void *)(base + eh->e_phoff);
    uintptr_t load = UINTPTR_MAX;
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD) {
            load = (uintptr_t)ph[i].p_vaddr - (uintptr_t)ph[i].p_offset;
            break;
        }
    if (load == UINTPTR_MAX)
        return NULL;
    const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(const void *)(base + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum ||
            sh[i].sh_entsize != sizeof(ElfW(Sym)))
            continue;
        const ElfW(Sym) *sym = (const ElfW(Sym) *)(const void *)(base + sh[i].sh_offset);
        const char *str = (const char *)(base + sh[sh[i].sh_link].sh_offset);
        size_t n = sh[i].sh_size / sizeof(ElfW(Sym));
        for (size_t k = 0; k < n; k++)
            if (ELF64_ST_TYPE(sym[k].st_info) == STT_FUNC && sym[k].st_shndx != SHN_UNDEF &&
                strcmp(str + sym[k].st_name, "__vdso_clock_gettime") == 0)
                return (prim_vdso_cgt_t)(uintptr_t)(base + (sym[k].st_value - load));
    }
    return NULL;
}

/* At load (before it the clock is clock_gettime itself: same clock, a call more). */
__attribute__((constructor)) static void vdso_init(void)
{
    prim_vdso_cgt_t f = vdso_find();
    if (f)
        __atomic_store_n(&prim_vdso_cgt, f, __ATOMIC_RELAXED);
}

uint64_t prim_mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- the TSC clock (prim.h) ---------------------------------------------------------------- */
prim_clock_t prim_clock __attribute__((aligned(64)));

#define CLOCK_SPAN_MIN_NS 1000000ull    /* the first segment: 1 ms */
#define CLOCK_SPAN_MAX_NS 134217728ull  /* then doubling up to 2^27 ns */
#define CLOCK_PAIR_GAP_NS 20000ull      /* a pair read further apart: no rate from it */
#define CLOCK_WAIT_SPIN 64               /* reads that wait for a resync: pauses first, */
#define CLOCK_WAIT_MAX 256               /* then sched_yield, then the segment's end */

/* the last resync's pair, and the lock of the one thread making the next segment (0: free,
 * else the TSC at its acquisition: a lock older than CLOCK_STALE_TICKS is taken over, e.g. in
 * a fork child whose parent forked during a resync) */
static uint64_t last_ns, last_tsc, span_ns;
static uint64_t resync_lock;

static inline uint64_t rdtsc_ordered(void)
{
#if defined(__x86_64__)
    uint32_t lo, hi;
    __asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
#else
    return 0;
#endif
}

static uint64_t seg_eval(const prim_clock_seg_t *s, uint64_t t)
{
    if (t <= s->base_tsc)
        return s->base_ns;
    return s->base_ns + (uint64_t)(((unsigned __int128)(t - s->base_tsc) * s->mult) >> 32);
}

static void seg_load(prim_clock_seg_t *out, const prim_clock_seg_t *s)
{
    out->base_tsc = __atomic_load_n(&s->base_tsc, __ATOMIC_RELAXED);
    out->base_ns = __atomic_load_n(&s->base_ns, __ATOMIC_RELAXED);
    out->mult = __atomic_load_n(&s->mult, __ATOMIC_RELAXED);
    out->span = __atomic_load_n(&s->span, __ATOMIC_RELAXED);
}

/* Lock held: publishes s as the next segment. */
static void seg_publish(uint64_t g, const prim_clock_seg_t *s)
{
    prim_clock_seg_t *d = &prim_clock.seg[(g + 1) & 1];
    __atomic_store_n(&d->base_tsc, s->base_tsc, __ATOMIC_RELAXED);
    __atomic_store_n(&d->base_ns, s->base_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&d->mult, s->mult, __ATOMIC_RELAXED);
    __atomic_store_n(&d->span, s->span, __ATOMIC_RELAXED);
    __atomic_store_n(&prim_clock.gen, g + 1, __ATOMIC_RELEASE);
}

/* The tightest of three (clock_gettime, rdtsc, clock_gettime) reads: *ns is the midpoint of
 * the two clock reads; returns their gap. */
static uint64_t clock_pair(uint64_t *ns, uint64_t *tsc)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 3; i++) {
        uint64_t n0 = prim_mono_ns(), t = rdtsc_ordered(), n1 = prim_mono_ns();
        if (n1 - n0 < best) {
            best = n1 - n0;
            *ns = n0 + (n1 - n0) / 2;
            *tsc = t;
        }
    }
    return best;
}

static uint64_t ticks_of(uint64_t ns, uint64_t mult)
{
    unsigned __int128 t = ((unsigned __int128)ns << 32) / (mult ? mult : 1);
    return t > (1ull << 40) ? 1ull << 40 : (uint64_t)t;
}

void prim_clock_start(uint64_t mult)
{
#if defined(__x86_64__)
    if (!mult || __atomic_load_n(&prim_clock.seg[prim_clock.gen & 1].span, __ATOMIC_ACQUIRE))
        return;
    uint64_t n, t;
    clock_pair(&n, &t);
    last_ns = n;
    last_tsc = t;
    span_ns = CLOCK_SPAN_MIN_NS;
    prim_clock_seg_t s = {t, n, mult, ticks_of(span_ns, mult)};
    seg_publish(__atomic_load_n(&prim_clock.gen, __ATOMIC_RELAXED), &s);
#else
    (void)mult;
#endif
}

/* Lock held; `cur` is segment g, which has ended. No read has returned more than cur's value
 * at its end (the fast path reads only inside the segment, a read that finds it ended
 * returns its end), so the next one starts at CLOCK_MONOTONIC's time, or at that end if the
 * old segment ran ahead (then slowed down over the next one). */
static void clock_resync(uint64_t g, const prim_clock_seg_t *cur)
{
    uint64_t n, t;
    uint64_t gap = clock_pair(&n, &t);
    uint64_t end = seg_eval(cur, cur->base_tsc + cur->span);
    uint64_t at = n > end ? n : end;
    uint64_t mult = cur->mult;
    if (gap <= CLOCK_PAIR_GAP_NS && t > last_tsc && n > last_ns) {
        mult = (uint64_t)(((unsigned __int128)(n - last_ns) << 32) / (t - last_tsc));
        last_ns = n;
        last_tsc = t;
        if (span_ns < CLOCK_SPAN_MAX_NS)
            span_ns *= 2;
    }
    uint64_t span = ticks_of(span_ns, mult);
    int64_t err = (int64_t)(n - at); /* <= 0: the old segment ran ahead by -err */
    prim_clock_seg_t s = {t, at, mult, span};
    if (err < 0) {
        /* -err ns over the next segment: err * 2^32 / span per tick, at most mult/1024 */
        __int128 corr = ((__int128)err << 32) / (__int128)span;
        __int128 lim = (__int128)(mult >> 10);
        if (corr < -lim)
            corr = -lim;
        s.mult = (uint64_t)((__int128)mult + corr);
    }
    seg_publish(g, &s);
}

void prim_clock_after_fork_child(void)
{
    __atomic_store_n(&resync_lock, 0, __ATOMIC_RELEASE);
}

uint64_t prim_now_ns_slow(void)
{
#if defined(__x86_64__)
    unsigned resyncs = 0, waits = 0;
    for (;;) {
        uint64_t g = __atomic_load_n(&prim_clock.gen, __ATOMIC_ACQUIRE);
        prim_clock_seg_t s;
        seg_load(&s, &prim_clock.seg[g & 1]);
        if (!s.span)
            return prim_mono_ns();
        uint64_t t = rdtsc_ordered();
        if (__atomic_load_n(&prim_clock.gen, __ATOMIC_ACQUIRE) != g)
            continue; /* a new segment meanwhile */
        if (t - s.base_tsc < s.span || t < s.base_tsc)
            return seg_eval(&s, t); /* (a counter a few ticks behind base: base) */
        /* the segment has ended */
        /* One thread at a time makes the next segment, and no other ever takes the lock
         * over (two publishing a segment g + 1 each would let the later, made from older
         * clock reads, start below what the other's had already returned: the clock would
         * step back across threads). So the maker runs with signals blocked (no handler can
         * interrupt it and longjmp away with the lock held), and a fork child, where the
         * maker may have been another thread, frees the lock (prim_clock_after_fork_child). */
        uint64_t l = 0;
        if (resyncs < 3 && __atomic_load_n(&resync_lock, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&resync_lock, &l, t | 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            sigset_t all, old;
            sigfillset(&all);
            pthread_sigmask(SIG_SETMASK, &all, &old);
            if (__atomic_load_n(&prim_clock.gen, __ATOMIC_ACQUIRE) == g)
                clock_resync(g, &s);
            __atomic_store_n(&resync_lock, 0, __ATOMIC_RELEASE);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            resyncs++;
            continue; /* read again on the new segment */
        }
        /* Another thread is making the next segment (a few hundred ns: three clock pairs):
         * wait for it, yielding once it takes longer (it was preempted). Returning this
         * segment's end meanwhile would stamp every event of those microseconds with one
         * time, and equal times lose the order of a free and the malloc that reuses its
         * block on another thread. Only a resync that takes unusually long (its thread
         * stopped, or starved on a loaded machine) gets the end, after CLOCK_WAIT_MAX tries:
         * no later read returns less, as the next segment starts at or after it. */
        if (waits++ < CLOCK_WAIT_MAX) {
            if (waits > CLOCK_WAIT_SPIN)
                sched_yield();
            else
                __builtin_ia32_pause();
            continue;
        }
        return seg_eval(&s, s.base_tsc + s.span);
    }
#else
    return prim_mono_ns();
#endif
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

/* ---- the shim's own mappings ---------------------------------------------------------
 * An open-addressing table keyed by address: lo 0 is an empty slot, 1 a removed one (reused
 * by inserts; a lookup stops only at 0). A slot is claimed by CAS on lo, its hi written
 * after: a reader that sees hi 0 skips it. */
#define OWN_SLOTS 16384u
static struct {
    uintptr_t lo, hi;
} own[OWN_SLOTS];
static uint64_t own_overflow;

static unsigned own_home(uintptr_t p)
{
    return (unsigned)((p >> 12) * 0x9e3779b97f4a7c15ull >> 50) & (OWN_SLOTS - 1);
}

static void own_add(uintptr_t lo, size_t len)
{
    unsigned h = own_home(lo);
    for (unsigned k = 0; k < OWN_SLOTS; k++) {
        unsigned i = (h + k) & (OWN_SLOTS - 1);
        uintptr_t cur = __atomic_load_n(&own[i].lo, __ATOMIC_ACQUIRE);
        if (cur > 1)
            continue;
        if (__atomic_compare_exchange_n(&own[i].lo, &cur, lo, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&own[i].hi, lo + len, __ATOMIC_RELEASE);
            return;
        }
    }
    __atomic_add_fetch(&own_overflow, 1, __ATOMIC_RELAXED);
}

static void own_remove(uintptr_t lo)
{
    unsigned h = own_home(lo);
    for (unsigned k = 0; k < OWN_SLOTS; k++) {
        unsigned i = (h + k) & (OWN_SLOTS - 1);
        uintptr_t cur = __atomic_load_n(&own[i].lo, __ATOMIC_ACQUIRE);
        if (!cur)
            return;
        if (cur == lo) {
            __atomic_store_n(&own[i].hi, 0, __ATOMIC_RELEASE);
            __atomic_store_n(&own[i].lo, 1, __ATOMIC_RELEASE);
            return;
        }
    }
}

void prim_own_each(void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg)
{
    for (unsigned i = 0; i < OWN_SLOTS; i++) {
        uintptr_t lo = __atomic_load_n(&own[i].lo, __ATOMIC_ACQUIRE);
        uintptr_t hi = __atomic_load_n(&own[i].hi, __ATOMIC_ACQUIRE);
        if (lo > 1 && hi > lo)
            fn(lo, hi, arg);
    }
}

uint64_t prim_own_overflow(void)
{
    return __atomic_load_n(&own_overflow, __ATOMIC_RELAXED);
}

void *prim_map(size_t len, int noreserve)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0), -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    own_add((uintptr_t)p, len);
    return p;
}

void prim_unmap(void *p, size_t len)
{
    if (p) {
        own_remove((uintptr_t)p);
        munmap(p, len);
    }
}

/* ---- /proc/self/maps, tasks ------------------------------------------------------------ */

static const char *hex_u(const char *p, const char *end, uintptr_t *v)
{
    uintptr_t x = 0;
    if (p + 1 < end && p[0] == '0' && p[1] == 'x')
        p += 2;
    for (; p < end; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (*p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (*p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else
            break;
        x = x * 16 + d;
    }
    *v = x;
    return p;
}

static int starts(const char *p, const char *end, const char *s)
{
    for (; *s; s++, p++)
        if (p >= end || *p != *s)
            return 0;
    return 1;
}

/* One line "lo-hi perms off dev inode   name" (end: its newline or the buffer's end). */
static int maps_line(const char *p, const char *end, prim_vma_t *v)
{
    uintptr_t lo, hi, dummy;
    p = hex_u(p, end, &lo);
    if (p >= end || *p != '-')
        return -1;
    p = hex_u(p + 1, end, &hi);
    if (p + 5 >= end || *p != ' ')
        return -1;
    p++;
    uint32_t f = (p[0] == 'r' ? PRIM_VMA_R : 0) | (p[1] == 'w' ? PRIM_VMA_W : 0) |
                 (p[2] == 'x' ? PRIM_VMA_X : 0) | (p[3] == 's' ? PRIM_VMA_SHARED : 0);
    p += 4;
    for (int field = 0; field < 3; field++) { /* offset, dev, inode */
        while (p < end && *p == ' ')
            p++;
        while (p < end && *p != ' ')
            p++;
    }
    (void)dummy;
    while (p < end && *p == ' ')
        p++;
    if (p >= end || *p == '\n')
        f |= PRIM_VMA_ANON;
    else if (starts(p, end, "[stack]"))
        f |= PRIM_VMA_ANON | PRIM_VMA_STACK;
    else if (starts(p, end, "[heap]"))
        f |= PRIM_VMA_ANON | PRIM_VMA_HEAP;
    else if (starts(p, end, "[anon:") || starts(p, end, "[anon_shmem:"))
        f |= PRIM_VMA_ANON;
    else if (*p == '[')
        f |= PRIM_VMA_SPECIAL;
    else if (starts(p, end, "/dev/") && !starts(p, end, "/dev/zero") &&
             !starts(p, end, "/dev/shm/"))
        f |= PRIM_VMA_DEVICE;
    *v = (prim_vma_t){lo, hi, f};
    return hi > lo ? 0 : -1;
}

size_t prim_maps_parse(const char *p, const char *end, prim_vma_t *out, size_t cap, int *more)
{
    size_t n = 0;
    *more = 0;
    while (p < end) {
        const char *nl = p;
        while (nl < end && *nl != '\n')
            nl++;
        prim_vma_t v;
        if (maps_line(p, nl, &v) == 0) {
            if (n == cap) {
                *more = 1;
                break;
            }
            out[n++] = v;
        }
        p = nl + 1;
    }
    return n;
}

ssize_t prim_maps_read(char *buf, size_t cap)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    for (;;) {
        if (got == cap) {
            close(fd);
            return -2;
        }
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return (ssize_t)got;
}

int prim_stack_bounds(uintptr_t sp, char *buf, size_t cap, uintptr_t *lo, uintptr_t *hi,
                      uint32_t *flags)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -PS_E_OPEN;
    size_t have = 0;
    prim_vma_t prev = {0};
    int rc = -PS_E_INVAL, eof = 0, skip = 0, done = 0;
    while (!done && !(eof && !have)) {
        if (!eof && have < cap) {
            ssize_t n = read(fd, buf + have, cap - have);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                eof = 1;
            else
                have += (size_t)n;
        }
        char *nl = memchr(buf, '\n', have);
        size_t len = nl ? (size_t)(nl - buf) : have; /* a line longer than buf: its start */
        if (!nl && !eof && have < cap)
            continue;
        prim_vma_t v;
        if (!skip && maps_line(buf, buf + len, &v) == 0) {
            if (sp >= v.lo && sp < v.hi) {
                done = 1;
                *lo = v.lo;
                *hi = v.hi;
                *flags = v.flags;
                if (prev.hi == v.lo && !(prev.flags & (PRIM_VMA_R | PRIM_VMA_W | PRIM_VMA_X |
                                                       PRIM_VMA_SHARED)))
                    *flags |= PRIM_VMA_GUARD_BELOW;
                if (v.flags & PRIM_VMA_STACK) { /* down to RLIMIT_STACK, not below the mapping under it */
                    struct rlimit rl;
                    uintptr_t room = v.hi - prev.hi;
                    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                        rl.rlim_cur < room)
                        room = (uintptr_t)rl.rlim_cur;
                    if (v.hi - room < *lo)
                        *lo = v.hi - room;
                }
                rc = 0;
            } else if (v.lo > sp) {
                done = 1;
            }
            prev = v;
        }
        skip = !nl; /* the rest of an over-long line is not a line */
        size_t used = nl ? len + 1 : len;
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    close(fd);
    return rc;
}

long prim_task_list(pid_t *out, size_t cap)
{
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096] __attribute__((aligned(8)));
    long n = 0;
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got <= 0)
            break;
        for (long off = 0; off < got;) {
            struct {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(buf + off);
            if (d->name[0] >= '0' && d->name[0] <= '9') {
                long t = 0;
                for (const char *c = d->name; *c >= '0' && *c <= '9'; c++)
                    t = t * 10 + (*c - '0');
                if ((size_t)n < cap)
                    out[n] = (pid_t)t;
                n++;
            }
            off += d->reclen;
        }
    }
    close(fd);
    return n;
}

int prim_thread_regs(pid_t tid, uintptr_t *sp, uint64_t args[6], int *nargs)
{
    char path[64] = "/proc/self/task/";
    size_t k = 16;
    char digits[16];
    int nd = 0;
    for (unsigned long t = (unsigned long)tid; nd == 0 || t; t /= 10)
        digits[nd++] = (char)('0' + t % 10);
    while (nd)
        path[k++] = digits[--nd];
    memcpy(path + k, "/syscall", 9);
    char buf[256];
    ssize_t n = prim_read_file(path, buf, sizeof buf - 1);
    *nargs = 0;
    if (n <= 0)
        return -1;
    const char *p = buf, *end = buf + n;
    if (starts(p, end, "running"))
        return 1;
    uintptr_t v[9];
    int nv = 0;
    if (*p == '-') { /* "-1 sp pc": blocked, not in a syscall */
        while (p < end && *p != ' ')
            p++;
    } else {
        p = hex_u(p, end, &v[0]); /* the syscall number, decimal digits read as hex: unused */
    }
    while (nv < 8 && p < end) {
        while (p < end && *p == ' ')
            p++;
        if (p >= end || *p == '\n')
            break;
        p = hex_u(p, end, &v[nv++]);
    }
    if (nv == 8) { /* six args, sp, pc */
        for (int i = 0; i < 6; i++)
            args[i] = v[i];
        *nargs = 6;
        *sp = v[6];
        return 0;
    }
    if (nv == 2) {
        *sp = v[0];
        return 0;
    }
    return -1;
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

/* ---- another stack ---------------------------------------------------------------------- */

#if defined(__x86_64__)
/* rdi: top, rsi: fn, rdx: arg. rbp keeps the caller's stack pointer (and is the CFA's base
 * from the switch on, so an unwinder or debugger finds the caller). */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl prim_call_on_stack\n"
        ".hidden prim_call_on_stack\n"
        ".type prim_call_on_stack, @function\n"
        "prim_call_on_stack:\n"
        ".cfi_startproc\n"
        "    pushq %rbp\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %rbp, 0\n"
        "    movq %rsp, %rbp\n"
        ".cfi_def_cfa_register %rbp\n"
        "    movq %rdi, %rsp\n"
        "    movq %rdx, %rdi\n"
        "    call *%rsi\n"
        "    movq %rbp, %rsp\n"
        "    popq %rbp\n"
        ".cfi_def_cfa %rsp, 8\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size prim_call_on_stack, .-prim_call_on_stack\n");
#else
uint64_t prim_call_on_stack(void *top, uint64_t (*fn)(void *), void *arg)
{
    (void)top;
    return fn(arg);
}
#endif
