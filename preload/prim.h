/*
 * prim.h -- the shim's only door to the operating system.
 *
 * Contract: every function is callable from any thread, before the shim is initialized, from
 * inside a hook, and (where marked AS-safe) from a signal handler. None allocates heap memory
 * or takes a lock. Functions returning int return 0 or a negative PS_E_* (errors.h).
 */
#ifndef PERFSHIM_PRIM_H
#define PERFSHIM_PRIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns, the clock of every record in the trace; AS-safe, lock-free.
 *
 * PRIM_TSC_CLOCK is 0: the clock is clock_gettime(CLOCK_MONOTONIC) itself, called inline
 * (prim_mono_ns's body: the hooks' one read per event without a call around the call).
 * The TSC clock below is built but off: it saved only ~7-10 ns a read, and on this VM its
 * order across threads failed (tests/unit/prim clock_monotonic_across_threads, 2 of 12 runs;
 * tests/stress/churn saw a free and the malloc that reused its block out of order), which
 * would show as false heap errors. Until that is understood, no event clock but the kernel's.
 *
 * With PRIM_TSC_CLOCK 1: until prim_clock_start() and without an invariant TSC it is
 * clock_gettime(CLOCK_MONOTONIC). Once started it is the TSC mapped onto CLOCK_MONOTONIC by a line
 * segment, base_ns + (tsc - base_tsc) * mult / 2^32, valid for `span` ticks: one lfence +
 * rdtsc, a multiply and the segment's two-copy generation check, inline (~25 ns here against
 * ~70 for the vDSO's clock_gettime on this VM). The first read past a segment's end takes a
 * new pair (clock_gettime, rdtsc) and starts the next segment at CLOCK_MONOTONIC's time, or
 * at the old segment's end when that ran ahead (so the clock never steps back), its slope the
 * TSC's rate over the last segment, less what the old one ran ahead spread over the next
 * segment (at most 1000 ppm). Segments grow from 1 ms to ~134 ms, so the clock stays within
 * a few us of CLOCK_MONOTONIC (tests/unit/prim: clock_*, tests/integration/clock_trace). Monotonic across threads as CLOCK_MONOTONIC is
 * (lfence before rdtsc, as the vDSO reads it): a read that finds its segment ended while
 * another thread makes the next one returns the old segment's end, which the next one
 * starts at. */
uint64_t prim_mono_ns(void);     /* clock_gettime(CLOCK_MONOTONIC), ns; AS-safe */
/* The vDSO's clock_gettime (found at load), which glibc's calls after a PLT jump and its
 * checks: prim_now_ns calls it directly (12 instructions a read less with glibc 2.36: its
 * PLT stub and wrapper); without a vDSO (under valgrind), and before the library's
 * constructor, glibc's clock_gettime. */
typedef int (*prim_vdso_cgt_t)(clockid_t, struct timespec *);
extern __attribute__((visibility("hidden"))) prim_vdso_cgt_t prim_vdso_cgt;
typedef struct prim_clock_seg_s {
    uint64_t base_tsc, base_ns, mult, span; /* span 0: not started (clock_gettime) */
} prim_clock_seg_t;
typedef struct prim_clock_s {
    uint64_t gen; /* seg[gen & 1] is current; the other is written, then gen advanced */
    prim_clock_seg_t seg[2];
} prim_clock_t;
extern prim_clock_t prim_clock;
/* Starts the TSC clock: mult = ns per tick in 32.32 fixed point (tsc.c calibrates it). */
void prim_clock_start(uint64_t mult);
uint64_t prim_now_ns_slow(void);
/* In a fork child (one thread): the segment maker's lock is free again. */
void prim_clock_after_fork_child(void);
#ifndef PRIM_TSC_CLOCK
#define PRIM_TSC_CLOCK 0
#endif
static inline __attribute__((always_inline)) uint64_t prim_now_ns(void)
{
#if !PRIM_TSC_CLOCK
    struct timespec t; /* prim_mono_ns inline: the hooks' one clock read per event */
    __atomic_load_n(&prim_vdso_cgt, __ATOMIC_RELAXED)(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
#else
#if defined(__x86_64__)
    uint64_t g = __atomic_load_n(&prim_clock.gen, __ATOMIC_ACQUIRE);
    const prim_clock_seg_t *s = &prim_clock.seg[g & 1];
    uint64_t span = __atomic_load_n(&s->span, __ATOMIC_RELAXED);
    if (__builtin_expect(span != 0, 1)) {
        uint64_t bt = __atomic_load_n(&s->base_tsc, __ATOMIC_RELAXED);
        uint64_t bn = __atomic_load_n(&s->base_ns, __ATOMIC_RELAXED);
        uint64_t m = __atomic_load_n(&s->mult, __ATOMIC_RELAXED);
        uint32_t lo, hi;
        __asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
        uint64_t d = (((uint64_t)hi << 32) | lo) - bt; /* below base: huge, not < span */
        /* d < span: d * mult < span's ns (< 2^28) * 2^32, no overflow */
        if (__builtin_expect(d < span && __atomic_load_n(&prim_clock.gen, __ATOMIC_ACQUIRE) == g,
                             1))
            return bn + ((d * m) >> 32);
    }
#endif
    return prim_now_ns_slow();
#endif
}
uint64_t prim_realtime_ns(void); /* CLOCK_REALTIME, ns; AS-safe */
pid_t prim_gettid(void);         /* AS-safe */
int prim_write_all(int fd, const void *buf, size_t len);  /* retries EINTR/short writes; AS-safe */
ssize_t prim_read_file(const char *path, char *buf, size_t cap); /* bytes read or -1; AS-safe */
void *prim_map(size_t len, int noreserve); /* anonymous rw mapping, NULL on failure */
void prim_unmap(void *p, size_t len);
uint64_t prim_rss_bytes(void);   /* resident set from /proc/self/statm, 0 if unknown */
int prim_thread_alive(pid_t tid); /* 1 if thread tid of this process still exists */
void prim_thread_name(char out[16]); /* PR_GET_NAME, NUL-terminated */
void prim_futex_wait(int *addr, int val, uint64_t timeout_ns); /* timeout 0 = none */
void prim_futex_wake(int *addr, int n);
size_t prim_page_size(void);
/* Descriptors the shim keeps are moved out of the app's range: prim_fd_floor() is the lowest
 * number the shim uses, 15/16 of min(RLIMIT_NOFILE soft limit, 4096) (960 for the usual 1024;
 * 3840 for 4096 and above: higher numbers would grow the kernel's descriptor table).
 * prim_fd_move_high() dups fd (close-on-exec) to the lowest free number >= the floor and
 * closes fd; it returns the new number, or fd itself if there is no free number up there. */
int prim_fd_floor(void);
int prim_fd_move_high(int fd);
/* Reads n bytes at src of this process into dst without faulting (process_vm_readv): 0, or
 * -PS_E_IO when any of them is not readable. AS-safe. */
int prim_read_self(void *dst, const void *src, size_t n);
/* One zeroed page that the kernel wipes (zeroes again) in every child made by fork or by
 * clone without CLONE_VM, whether or not glibc's fork ran (MADV_WIPEONFORK, Linux 4.14);
 * NULL where that is not supported. */
void *prim_map_wipeonfork(void);
/* mprotect of whole pages: read-only (writable 0) or read-write. Returns 0 or -PS_E_IO. */
int prim_protect(void *addr, size_t len, int writable);
/* Calls fn(arg) with the stack pointer at top (16-aligned: the highest address of a stack
 * the caller owns and no other thread uses meanwhile) and returns its value: work that needs
 * more stack than the app's thread may have left (writer.c: a chunk compressed by the app's
 * thread). On x86_64 a stack switch of a few instructions, with CFI that leads an unwinder
 * back to the caller's stack; elsewhere a plain call. A signal handler that runs meanwhile
 * runs on that stack too (unless it has its own). */
uint64_t prim_call_on_stack(void *top, uint64_t (*fn)(void *), void *arg);

/* Defines `static void NAME(TYPE *a, size_t n)`: an in-place heapsort of a[0..n) by the
 * integer field KEY, ascending. Allocation-free (glibc's qsort may call malloc), O(n log n). */
#define PRIM_DEFINE_HEAPSORT(NAME, TYPE, KEY)                                                  \
    static void NAME##_sift(TYPE *a, size_t i, size_t n)                                       \
    {                                                                                          \
        for (;;) {                                                                             \
            size_t c = 2 * i + 1;                                                              \
            if (c >= n)                                                                        \
                return;                                                                        \
            if (c + 1 < n && a[c + 1].KEY > a[c].KEY)                                          \
                c++;                                                                           \
            if (a[i].KEY >= a[c].KEY)                                                          \
                return;                                                                        \
            TYPE t = a[i];                                                                     \
            a[i] = a[c];                                                                       \
            a[c] = t;                                                                          \
            i = c;                                                                             \
        }                                                                                      \
    }                                                                                          \
    static void NAME(TYPE *a, size_t n)                                                        \
    {                                                                                          \
        for (size_t start = n / 2; start-- > 0;)                                               \
            NAME##_sift(a, start, n);                                                          \
        for (size_t end = n; end-- > 1;) {                                                     \
            TYPE t = a[0];                                                                     \
            a[0] = a[end];                                                                     \
            a[end] = t;                                                                        \
            NAME##_sift(a, 0, end);                                                            \
        }                                                                                      \
    }

/* The shim's own mappings: prim_map/prim_unmap keep a table of them (lock-free, bounded;
 * prim_own_overflow() counts mappings the table could not hold) so the leak scan can tell
 * them from the app's anonymous memory. prim_own_each calls fn on every one mapped now. */
void prim_own_each(void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg);
uint64_t prim_own_overflow(void);

/* /proc/self/maps, parsed without allocating. A line's flags: */
#define PRIM_VMA_R 0x1u
#define PRIM_VMA_W 0x2u
#define PRIM_VMA_X 0x4u
#define PRIM_VMA_SHARED 0x8u
#define PRIM_VMA_ANON 0x10u    /* no file: anonymous, [stack], [heap] or [anon:...] */
#define PRIM_VMA_STACK 0x20u   /* [stack]: the main thread's */
#define PRIM_VMA_HEAP 0x40u    /* [heap]: the brk heap */
#define PRIM_VMA_SPECIAL 0x80u /* [vvar], [vdso], [vsyscall], ...: never app data */
#define PRIM_VMA_DEVICE 0x100u /* a /dev/ file other than /dev/zero and /dev/shm */
typedef struct prim_vma_s {
    uintptr_t lo, hi;
    uint32_t flags;
} prim_vma_t;
/* Parses the maps text [p, end) line by line into out[0..cap); returns how many (lines past
 * cap are dropped: *more set). */
size_t prim_maps_parse(const char *p, const char *end, prim_vma_t *out, size_t cap, int *more);
/* Reads /proc/self/maps into buf (cap bytes); returns its length, or -1 (unreadable) or -2
 * (larger than cap). */
ssize_t prim_maps_read(char *buf, size_t cap);
#define PRIM_VMA_GUARD_BELOW 0x200u /* prim_stack_bounds: right above a private ---p mapping */
/* The mapping that contains sp, read from /proc/self/maps through the scratch buf (cap bytes,
 * the caller's: no stack used for it): 0, [*lo, *hi) and its PRIM_VMA_* *flags, or -PS_E_OPEN
 * (unreadable) or -PS_E_INVAL (not mapped). For the main thread's [stack] mapping, *lo is
 * where it can grow to (RLIMIT_STACK, not below the mapping under it). */
int prim_stack_bounds(uintptr_t sp, char *buf, size_t cap, uintptr_t *lo, uintptr_t *hi,
                      uint32_t *flags);
/* Thread ids of this process (/proc/self/task): up to cap into out; returns the number found
 * (may exceed cap) or -1. */
long prim_task_list(pid_t *out, size_t cap);
/* A thread's user stack pointer and syscall argument registers from
 * /proc/self/task/TID/syscall: 0 (blocked in or out of a syscall: *sp, and args[0..5] when
 * nargs is set to 6), 1 (running: unknown) or -1 (gone / unreadable). */
int prim_thread_regs(pid_t tid, uintptr_t *sp, uint64_t args[6], int *nargs);

#endif /* PERFSHIM_PRIM_H */
