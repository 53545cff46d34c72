/*
 * leakscan.c -- see leakscan.h.
 *
 * The exit scan, in order: collect what needs the loader's lock (module segments of the shim
 * and of the real allocator) with no lock held, take every live-set shard lock (from here on
 * no block can be freed), build the scan's view of the live set region by region
 * (liveset_regions; the view below), snapshot /proc/self/maps and every thread's stack
 * pointer, then
 *   1. flood from the roots (below) and from linker and ignored blocks: everything met is
 *      "reachable";
 *   2. memcheck's cliques: each unreached block, in address order, becomes a leader and
 *      floods what it reaches as "indirect", held by it; a leader met by a later leader's
 *      flood stops being one (it and what it holds are indirect, held by the later one);
 *      the leaders left are "definite";
 * then unlock and hand the records to the writer: LEAK_SCAN (flag BY_ADDRESS: the shim keeps
 * no allocation stack per block; the analyzer attributes each verdict to its site from its
 * replay) and the verdicts by address, LEAK_BLOCKS entries written as they come: a leader as
 * definite, what its flood meets as indirect (holder: the leader's entry; a leader absorbed
 * later is entered again, indirect, which replaces its first entry), then the reachable blocks
 * reached through interior pointers only (possible). A block is pushed on the work stack at
 * most twice (once as a leader), so the scan is linear in the bytes scanned plus a lookup per
 * candidate word (its region's header from a hash of the headers, a binary search where the
 * region holds no block start; then a search of the region's blocks). The work stack
 * is bounded (64 Ki blocks): a block met when it is full waits in its state byte (pending)
 * and a sweep finds it when the stack empties; the verdicts do not depend on the order.
 *
 * Reading the app's memory never faults: roots go through process_vm_readv (EFAULT, not
 * SIGSEGV, when a page is gone); heap blocks are read in place after a check against the
 * maps snapshot (their pages cannot go while the live set is locked: a free waits), and the
 * parts of a block that are not readable (a PROT_NONE guard page inside a malloc'ed block)
 * are skipped and counted. Pages that are neither resident nor swapped (/proc/self/pagemap)
 * hold only zeros and are not read, so an idle thread's untouched stack or a large untouched
 * block is never faulted in. If process_vm_readv is refused (seccomp), roots are read in
 * place, checked against the maps snapshot.
 *
 * Memory (all imem, released when the scan ends; the most held at once is recorded as
 * scan_mem_bytes): the view, ~5 bytes per live block (a u32 and a state byte each, 16 bytes per
 * 64 KiB region holding blocks and 8 to 16 more for its slot in their hash, 16 per block of
 * 64 KiB or more), the verdicts (16 bytes per definite, indirect or possibly reachable block,
 * in the records' final layout), 24 per root range and per mapping, the maps text (at most
 * 64 MiB), 1.5 MiB for untracked chunks met, 512 KiB of work stack, 64 per thread (at most
 * 8192), the shim's own ranges (at most ~26k x 16 bytes), a 64 KiB bounce buffer and, while the
 * view is built, 256 KiB to sort a region. Measured: kvstore's 3 M live blocks, 18.2 MB (78 MB
 * with the 24-byte block array before, 195 MB with 72 bytes a block before that). Without that
 * memory the scan records an ABORTED scan instead of classifying. The exit scan (final) has the
 * live set free its tables region by region as the view takes them (liveset_regions with
 * release): the view takes their place instead of adding to them. A check after it (from a
 * destructor) records an ABORTED scan.
 */
#include <config.h>

#include "leakscan.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bootstrap.h"
#include "ilock.h"
#include "imem.h"
#include "liveset.h"
#include "log.h"
#include "options.h"
#include "perfshim/trace_format.h"
#include "prim.h"
#include "rec.h"
#include "writer.h"

uint64_t leakscan_ld_lo, leakscan_ld_len;
int leakscan_mark_frees;

static uintptr_t self_base, alloc_base; /* load bias of the shim, of the real malloc's module */
static int snap_requested;
static uint32_t snap_seq;

/* ---- init ------------------------------------------------------------------------------ */

static int find_ld(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    if (info->dlpi_addr != (uintptr_t)arg)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            leakscan_ld_lo = rec_ld_lo = info->dlpi_addr + ph->p_vaddr;
            leakscan_ld_len = rec_ld_len = ph->p_memsz;
        }
    }
    return 1;
}

static void snap_handler(int sig)
{
    (void)sig;
    __atomic_store_n(&snap_requested, 1, __ATOMIC_RELEASE);
}

void leakscan_init(void)
{
    Dl_info di;
    if (dladdr((void *)(uintptr_t)&leakscan_run, &di) && di.dli_fbase)
        self_base = (uintptr_t)di.dli_fbase;
    if (real_malloc && dladdr((void *)(uintptr_t)real_malloc, &di) && di.dli_fbase) {
        alloc_base = (uintptr_t)di.dli_fbase;
        const char *base = di.dli_fname ? strrchr(di.dli_fname, '/') : NULL;
        base = base ? base + 1 : di.dli_fname;
        /* glibc's malloc: the chunk layout untracked_meet reads, 24 usable bytes a chunk */
        leakscan_mark_frees = base && !strncmp(base, "libc.so", 7);
    }
    uintptr_t ld = (uintptr_t)getauxval(AT_BASE);
    if (ld)
        dl_iterate_phdr(find_ld, (void *)ld);
    if (options.snapshot_signal > 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = snap_handler;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(options.snapshot_signal, &sa, NULL) != 0)
            PS_WARN("PERFSHIM_SNAPSHOT_SIGNAL=%d: cannot install the handler: %s",
                    options.snapshot_signal, strerror(errno));
    }
}

/* A thread other than the main one: glibc's descriptor (pthread_self()) holds its stack block
 * as adjacent words {stackblock, stackblock_size, guardsize}. The offset is found once (the
 * triple that brackets this frame) and checked on every use; 0 and the bounds, or -1. */
static long pd_stack_off = -1;

static int pd_stack_at(const uintptr_t *w, uintptr_t sp, uintptr_t pd, uintptr_t *lo,
                       uintptr_t *hi)
{
    uintptr_t block = w[0], size = w[1], guard = w[2];
    size_t ps = prim_page_size();
    if (!block || (block & (ps - 1)) || !size || size > ((uintptr_t)1 << 36) ||
        guard >= size || (guard & (ps - 1)) || block + size < block)
        return -1;
    if (sp < block + guard || sp >= block + size || pd < block || pd >= block + size)
        return -1;
    *lo = block + guard;
    *hi = block + size;
    return 0;
}

static int pd_stack_bounds(uintptr_t sp, uintptr_t *lo, uintptr_t *hi)
{
    uintptr_t pd = (uintptr_t)pthread_self();
    const uintptr_t *w = (const uintptr_t *)pd;
    long off = __atomic_load_n(&pd_stack_off, __ATOMIC_RELAXED);
    if (off >= 0)
        return pd_stack_at(w + off, sp, pd, lo, hi);
    for (long k = 0; k < 512; k++) /* struct pthread is about 2.3 KiB */
        if (pd_stack_at(w + k, sp, pd, lo, hi) == 0) {
            __atomic_store_n(&pd_stack_off, k, __ATOMIC_RELAXED);
            return 0;
        }
    return -1;
}

void leakscan_thread_attach(tstate_t *st)
{
    if (!options.leak_check)
        return;
    /* Nothing here allocates: this may run inside the app's allocator (jemalloc's mallocx
     * taking a mutex reaches the lock hook's lazy attach), and an app's own malloc must never
     * meet libc's realloc (pthread_getattr_np would do both). */
    volatile char here = 0;
    uintptr_t lo, hi, sp = (uintptr_t)&here;
    uint32_t fl;
    /* st->ips is free before the hook's unwind: the maps read buffer (no stack used for it) */
    if ((prim_gettid() != getpid() && pd_stack_bounds(sp, &lo, &hi) == 0) ||
        prim_stack_bounds(sp, (char *)st->ips, sizeof st->ips, &lo, &hi, &fl) == 0) {
        st->stack_lo = lo;
        st->stack_hi = hi;
        PS_LOG(3, "thread %d: stack [%#lx, %#lx)", (int)prim_gettid(), (unsigned long)lo,
               (unsigned long)hi);
    }
}

/* The shim's own threads (the writer): their stacks are never roots. */
#define MAX_INTERNAL 8
static struct {
    pid_t tid;
    uintptr_t lo, hi;
} internal[MAX_INTERNAL];

void leakscan_internal_thread(void)
{
    volatile char here = 0;
    char buf[2048]; /* the shim's own thread: its stack is ours */
    uintptr_t lo = 0, hi = 0;
    uint32_t fl;
    (void)prim_stack_bounds((uintptr_t)&here, buf, sizeof buf, &lo, &hi, &fl);
    pid_t tid = prim_gettid();
    for (int i = 0; i < MAX_INTERNAL; i++) {
        pid_t cur = __atomic_load_n(&internal[i].tid, __ATOMIC_ACQUIRE);
        if (cur && cur != tid && prim_thread_alive(cur))
            continue;
        internal[i].lo = lo;
        internal[i].hi = hi;
        __atomic_store_n(&internal[i].tid, tid, __ATOMIC_RELEASE);
        return;
    }
}

static int is_internal(pid_t tid)
{
    for (int i = 0; i < MAX_INTERNAL; i++)
        if (__atomic_load_n(&internal[i].tid, __ATOMIC_ACQUIRE) == tid)
            return 1;
    return 0;
}

/* ---- root regions (__lsan_register_root_region) ---------------------------------------- */

static struct {
    uintptr_t lo, hi;
} regions[LEAKSCAN_MAX_REGIONS];
static ilock_t regions_lock;

int leakscan_region(uintptr_t lo, uintptr_t hi, int add)
{
    int rc = -1;
    ilock_lock(&regions_lock);
    for (int i = 0; i < LEAKSCAN_MAX_REGIONS; i++) {
        if (add ? regions[i].hi == 0 : (regions[i].lo == lo && regions[i].hi == hi)) {
            regions[i].lo = add ? lo : 0;
            regions[i].hi = add ? hi : 0;
            rc = 0;
            break;
        }
    }
    ilock_unlock(&regions_lock);
    return rc;
}

struct scan_s;
static void range_add(struct scan_s *S, uintptr_t lo, uintptr_t hi, uint32_t flags);
static void leakscan_root_regions_add(struct scan_s *S)
{
    ilock_lock(&regions_lock);
    for (int i = 0; i < LEAKSCAN_MAX_REGIONS; i++)
        if (regions[i].hi > regions[i].lo)
            range_add(S, regions[i].lo, regions[i].hi, 0x2u | 0x10u /* R_NOSKIP | R_ROOTREG */);
    ilock_unlock(&regions_lock);
}

/* The state of the thread running an on-demand scan (leakscan_run_on_demand), NULL otherwise. */
static PS_TLS tstate_t *demand_st;

/* An on-demand scan's records go into the calling thread's own stream. */
static void leakscan_put_on_demand(const void *recs, uint32_t len)
{
    tstate_t *st = demand_st;
    if (!st)
        return;
    const unsigned char *p = recs;
    for (uint32_t pos = 0; pos + sizeof(ps_rec_hdr_t) <= len;) {
        ps_rec_hdr_t h;
        memcpy(&h, p + pos, sizeof h);
        if (!h.len || pos + h.len > len)
            break;
        rec_put(st, p + pos, h.len);
        pos += h.len;
    }
}

/* ---- the scan's state -------------------------------------------------------------------- */

#define R_START_ONLY 0x1u /* interior pointers from here do not count */
#define R_NOSKIP 0x2u     /* a stack inside a heap block: do not skip block bytes */
#define R_STACK 0x4u      /* a thread's stack (statistics) */
#define R_REGION 0x8u     /* a mapping that is no module's (statistics) */
#define R_ROOTREG 0x10u   /* __lsan_register_root_region */

typedef struct range_s {
    uintptr_t lo, hi;
    uint32_t flags;
} range_t;

/* Mapping flags beyond prim's PRIM_VMA_*: */
#define V_SP 0x20000u    /* holds a live thread's stack pointer */
#define V_BLK 0x40000u   /* holds live heap blocks */

/* The scan's view of the live set, about 5 bytes a block, built region by region from
 * liveset_regions (with release, the exit scan's view takes the tables' place as they go):
 *  - per 64 KiB region holding block starts, a header (vreg_t, 16 bytes: the region's
 *    number, its first block's index, its count), the headers sorted by number;
 *  - per block a u32: its offset in the region (bits 16..31) over its size (bits 0..15;
 *    VB_BIG: 64 KiB - 1 or more, the size then in the side table `big`, sorted by index),
 *    a region's blocks contiguous and sorted by offset;
 *  - per block a state byte (VS_*): its kind (0 unreached, else ps_leak_kind), VS_START (a
 *    pointer to its first byte was seen), the live set's LINKER/IGNORED, VS_PENDING (waiting
 *    for the work stack, which was full).
 * So address order is the headers' order, then each run's, and a block is named by a vref_t
 * (its header r and its index i). The block holding an address is found from its region's
 * header (the hash rh; a binary search of the headers when no block starts in that region),
 * then by a search of the region's offsets: the last block starting at or below the
 * address is in its region or, if none starts there below it, the last block of the region
 * before (a block spanning regions is found that way: blocks do not overlap). */
typedef struct vreg_s {
    uint64_t num; /* ptr >> 16 */
    uint32_t first, n;
} vreg_t;

typedef struct vbig_s {
    uint64_t idx, size;
} vbig_t;

typedef struct vref_s {
    uint32_t r, i; /* r == nreg: none (the end) */
} vref_t;

#define VB_BIG 0xffffu
#define VS_KIND 3u
#define VS_START 0x4u
#define VS_IGNORED 0x8u
#define VS_LINKER 0x10u
#define VS_PENDING 0x20u
#define VREGION_MAX (1u << 16) /* blocks a region can hold (distinct offsets) */
/* The work stack: bounded; a block met when it is full is marked VS_PENDING and found again
 * by a sweep when it empties (scan_drain). 512 KiB. */
#define WORK_CAP (64u << 10)
typedef struct seg_s {
    uintptr_t lo, hi;
} seg_t;

typedef struct thr_s {
    pid_t tid;
    int nargs;
    uintptr_t sp; /* 0: unknown (running) */
    uint64_t args[6];
} thr_t;

enum { MODE_REACH, MODE_FLOOD };

#define BOUNCE (64u << 10)
#define MAX_THREADS 8192u
#define MAX_MAPS_TEXT (64u << 20)

typedef struct scan_s {
    /* the view (above) */
    uint32_t *e;
    uint8_t *st;
    uint64_t n, cap; /* blocks, room */
    vreg_t *reg;
    uint32_t nreg, regcap;
    vbig_t *big;
    uint64_t nbig, bigcap;
    uint32_t *rh;  /* the headers by number: open addressing, index + 1 (0: empty); NULL:
                    * none (no memory), the binary search alone */
    uint32_t rhmask;
    uint32_t *tmp; /* a region's sort scratch, while the view is built */
    uint32_t tmpcap;
    int view_oom;
    uint64_t lo, hi; /* [lo, hi) spans every block */
    vref_t *ws;      /* the work stack */
    uint32_t nws, wscap;
    int pending;     /* some blocks are VS_PENDING, none in a region before pend_r */
    uint32_t pend_r;
    int mode;
    uint32_t cur;       /* MODE_FLOOD: the leader's index */
    uint32_t cur_entry; /* MODE_FLOOD: the leader's LEAK_BLOCKS entry */
    /* the LEAK_SCAN record, then the LEAK_BLOCKS records (per_rec entries each), written in
     * place as the verdicts come (out_at), then room for LEAK_SUPP and RSS */
    unsigned char *out;
    uint64_t out_bytes, nent, entcap;
    uint32_t per_rec, out_tail;
    int out_oom;
    prim_vma_t *vma;
    size_t nvma;
    range_t *r;
    size_t nr, rcap;
    unsigned char *bounce;
    uint64_t *pm;     /* pagemap entries of one bounce window */
    int pm_fd;        /* /proc/self/pagemap, -1: every page counts as resident */
    int vm_ok;        /* process_vm_readv works here */
    uint32_t flags;   /* PS_LEAK_F_* */
    uint64_t mem, mem_peak; /* the scan's own memory: now, the most */
    uint64_t root_bytes, stack_bytes, region_bytes, unreadable_bytes, threads, read_bytes;
    struct seg_s *own; /* the shim's memory, sorted */
    size_t nown, owncap;
    const struct seg_s *alloc; /* the real allocator's writable segments */
    int nalloc;
    uintptr_t self_sp;
    size_t vlast, vprev; /* the mapping of the last block read, the one before */
    uintptr_t hlo, hhi; /* spans heaps[] */
    /* the allocator's heaps ([heap], arenas) and its chunks the shim never saw allocated
     * (the C library's own calls, e.g. pthread_setspecific's second-level arrays) that a
     * root reaches by their start */
    struct seg_s heaps[8];
    int nheaps;
    uintptr_t *uset;  /* open addressing: chunks met */
    uintptr_t *uwork; /* chunks to scan */
    size_t ucap, nuwork, nuset;
} scan_t;

static void *scan_alloc(scan_t *S, size_t bytes)
{
    void *p = imem_alloc(bytes ? bytes : 1);
    if (p) {
        S->mem += bytes;
        S->mem_peak = S->mem > S->mem_peak ? S->mem : S->mem_peak;
    }
    return p;
}

static void scan_free(scan_t *S, void *p, size_t bytes)
{
    if (!p)
        return;
    imem_free(p);
    S->mem -= bytes;
}

/* An array of *cap elements of `size` bytes (n of them used) grown to twice as many: its
 * elements copied, the old one freed; -1 (nothing changed) without memory. */
static int scan_grow(scan_t *S, void **arr, uint64_t *cap, uint64_t n, size_t size)
{
    void *t = scan_alloc(S, (size_t)(*cap * 2) * size);
    if (!t)
        return -1;
    memcpy(t, *arr, (size_t)n * size);
    scan_free(S, *arr, (size_t)*cap * size);
    *arr = t;
    *cap *= 2;
    return 0;
}

/* ---- the view ------------------------------------------------------------------------ */

/* Sorts a region's n <= VREGION_MAX words by their offset (bits 16..31): two passes of 8
 * bits through S->tmp, or an insertion sort when n is small. */
static void view_sort_region(scan_t *S, uint32_t *e, uint32_t n)
{
    if (n <= 32) {
        for (uint32_t i = 1; i < n; i++) {
            uint32_t t = e[i], j = i;
            for (; j && e[j - 1] > t; j--)
                e[j] = e[j - 1];
            e[j] = t;
        }
        return;
    }
    uint32_t *src = e, *dst = S->tmp;
    for (unsigned shift = 16; shift < 32; shift += 8) {
        uint32_t cnt[256] = {0};
        for (uint32_t i = 0; i < n; i++)
            cnt[(src[i] >> shift) & 255]++;
        for (uint32_t d = 0, sum = 0; d < 256; d++) {
            uint32_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (uint32_t i = 0; i < n; i++)
            dst[cnt[(src[i] >> shift) & 255]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    /* two passes: the sorted words are back in e */
}

/* How many of a region's n words e (sorted) are of blocks at offsets <= off. The search
 * starts where off would be if the blocks were spread evenly over the region (an allocator's
 * region mostly is: one or two cache lines, instead of a binary search's dozen), gallops
 * from there to bracket the answer, then halves the bracket. */
static uint32_t view_upto(const uint32_t *e, uint32_t n, uint32_t off)
{
    uint32_t lo = 0, hi = n, key = off << 16 | 0xffffu;
    if (n > 8) {
        uint32_t g = (uint32_t)(((uint64_t)n * off) >> 16), step = 1; /* g < n */
        if (e[g] <= key) { /* the answer is above g */
            lo = g + 1;
            for (;;) {
                uint32_t p = lo + step - 1;
                if (p >= n)
                    break; /* hi = n */
                if (e[p] > key) {
                    hi = p;
                    break;
                }
                lo = p + 1;
                step *= 2;
            }
        } else { /* at or below g */
            hi = g;
            for (;;) {
                if (hi < step) {
                    lo = 0;
                    break;
                }
                uint32_t p = hi - step;
                if (e[p] <= key) {
                    lo = p + 1;
                    break;
                }
                hi = p;
                step *= 2;
            }
        }
    }
    while (lo < hi) {
        uint32_t m = lo + (hi - lo) / 2;
        if (e[m] <= key)
            lo = m + 1;
        else
            hi = m;
    }
    return lo;
}

/* The index in [first, first + n) of the block at offset off of a region (it is there). */
static uint32_t view_offset_index(const scan_t *S, uint32_t first, uint32_t n, uint32_t off)
{
    return first + view_upto(S->e + first, n, off) - 1;
}

/* liveset_regions' callback: region's blocks appended to the view. */
static int view_region(void *arg, uint64_t region, const liveset_block_t *b, uint32_t n)
{
    scan_t *S = arg;
    if (S->view_oom || n > S->tmpcap || n > S->cap - S->n || S->n + n > UINT32_MAX / 2) {
        S->view_oom = 1;
        return 1;
    }
    if (S->nreg == S->regcap) {
        uint64_t cap = S->regcap;
        if (scan_grow(S, (void **)&S->reg, &cap, S->nreg, sizeof *S->reg) != 0) {
            S->view_oom = 1;
            return 1;
        }
        S->regcap = (uint32_t)cap;
    }
    uint32_t first = (uint32_t)S->n, *e = S->e + first;
    for (uint32_t j = 0; j < n; j++)
        e[j] = (uint32_t)(b[j].ptr & 0xffffu) << 16 |
               (uint32_t)(b[j].size < VB_BIG ? b[j].size : VB_BIG);
    view_sort_region(S, e, n);
    for (uint32_t j = 0; j < n; j++) {
        uint32_t fl = b[j].flags & (LIVESET_F_LINKER | LIVESET_F_IGNORED);
        if (!fl && b[j].size < VB_BIG)
            continue;
        uint32_t i = view_offset_index(S, first, n, (uint32_t)(b[j].ptr & 0xffffu));
        S->st[i] = (uint8_t)((fl & LIVESET_F_LINKER ? VS_LINKER : 0) |
                             (fl & LIVESET_F_IGNORED ? VS_IGNORED : 0));
        if (b[j].size < VB_BIG)
            continue;
        if (S->nbig == S->bigcap &&
            scan_grow(S, (void **)&S->big, &S->bigcap, S->nbig, sizeof *S->big) != 0) {
            S->view_oom = 1;
            return 1;
        }
        S->big[S->nbig++] = (vbig_t){i, b[j].size};
    }
    S->reg[S->nreg++] = (vreg_t){region, first, n};
    S->n += n;
    return 0;
}

PRIM_DEFINE_HEAPSORT(sort_regs, vreg_t, num)
PRIM_DEFINE_HEAPSORT(sort_bigs, vbig_t, idx)

static inline uint64_t vb_ptr(const scan_t *S, vref_t b)
{
    return S->reg[b.r].num << 16 | S->e[b.i] >> 16;
}

static PS_NOINLINE uint64_t vb_big_size(const scan_t *S, uint32_t i)
{
    uint64_t lo = 0, hi = S->nbig;
    while (lo < hi) {
        uint64_t m = lo + (hi - lo) / 2;
        if (S->big[m].idx < i)
            lo = m + 1;
        else
            hi = m;
    }
    return lo < S->nbig && S->big[lo].idx == i ? S->big[lo].size : VB_BIG;
}

static inline uint64_t vb_size(const scan_t *S, uint32_t i)
{
    uint32_t s = S->e[i] & 0xffffu;
    return PS_LIKELY(s != VB_BIG) ? s : vb_big_size(S, i);
}

static inline int vb_ok(const scan_t *S, vref_t b)
{
    return b.r < S->nreg;
}

static inline vref_t vb_none(const scan_t *S)
{
    return (vref_t){S->nreg, 0};
}

static inline vref_t vb_first(const scan_t *S)
{
    return S->nreg ? (vref_t){0, S->reg[0].first} : vb_none(S);
}

/* The next block in address order (vb_none after the last). */
static inline vref_t vb_next(const scan_t *S, vref_t b)
{
    if (b.i + 1 < S->reg[b.r].first + S->reg[b.r].n)
        return (vref_t){b.r, b.i + 1};
    return b.r + 1 < S->nreg ? (vref_t){b.r + 1, S->reg[b.r + 1].first} : vb_none(S);
}

static inline uint32_t rh_slot(uint64_t num, uint32_t mask)
{
    return (uint32_t)((num * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

/* The headers' hash (S->rh), built once they are sorted; without memory, none. */
static void rh_build(scan_t *S)
{
    uint32_t cap = 16;
    while (cap < 2 * S->nreg && cap < (1u << 30))
        cap *= 2;
    S->rh = scan_alloc(S, (size_t)cap * sizeof *S->rh);
    if (!S->rh)
        return;
    memset(S->rh, 0, (size_t)cap * sizeof *S->rh);
    S->rhmask = cap - 1;
    for (uint32_t r = 0; r < S->nreg; r++) {
        uint32_t k = rh_slot(S->reg[r].num, S->rhmask);
        while (S->rh[k])
            k = (k + 1) & S->rhmask;
        S->rh[k] = r + 1;
    }
}

/* The last block that starts at or below address a, or vb_none. The header of a's region
 * comes from the hash when it has one (most candidate words), else from a binary search. */
static vref_t blocks_upto(const scan_t *S, uint64_t a)
{
    const uint64_t R = a >> 16;
    uint32_t l = 0, h = S->nreg;
    if (S->rh) {
        for (uint32_t k = rh_slot(R, S->rhmask); S->rh[k]; k = (k + 1) & S->rhmask)
            if (S->reg[S->rh[k] - 1].num == R) {
                l = h = S->rh[k];
                break;
            }
    }
    while (l < h) {
        uint32_t m = l + (h - l) / 2;
        if (S->reg[m].num <= R)
            l = m + 1;
        else
            h = m;
    }
    if (!l)
        return vb_none(S);
    const vreg_t *g = &S->reg[l - 1];
    if (g->num == R) {
        const uint32_t lo = view_upto(S->e + g->first, g->n, (uint32_t)(a & 0xffffu));
        if (lo)
            return (vref_t){l - 1, g->first + lo - 1};
        if (l == 1)
            return vb_none(S);
        l--;
        g--;
    }
    return (vref_t){l - 1, g->first + g->n - 1};
}

/* The first block that ends after address a (vb_none if none). */
static vref_t block_from(const scan_t *S, uint64_t a)
{
    vref_t b = blocks_upto(S, a);
    if (!vb_ok(S, b))
        return vb_first(S);
    uint64_t size = vb_size(S, b.i);
    if (a - vb_ptr(S, b) < (size ? size : 1))
        return b;
    return vb_next(S, b);
}

/* The block holding address w, or vb_none. */
static vref_t find_block(const scan_t *S, uint64_t w)
{
    if (w < S->lo || w >= S->hi)
        return vb_none(S);
    vref_t b = blocks_upto(S, w);
    if (!vb_ok(S, b))
        return b;
    uint64_t p = vb_ptr(S, b);
    return w == p || w - p < vb_size(S, b.i) ? b : vb_none(S);
}

/* Index of the mapping holding a, or SIZE_MAX. */
static size_t vma_find(const scan_t *S, uintptr_t a)
{
    size_t l = 0, h = S->nvma;
    while (l < h) {
        size_t m = l + (h - l) / 2;
        if (S->vma[m].lo <= a)
            l = m + 1;
        else
            h = m;
    }
    return l && a < S->vma[l - 1].hi ? l - 1 : SIZE_MAX;
}

/* ---- the verdicts (LEAK_BLOCKS entries) ------------------------------------------------ */

static uint64_t out_size(const scan_t *S, uint64_t entries)
{
    uint64_t recs = (entries + S->per_rec - 1) / S->per_rec;
    return sizeof(ps_rec_leak_scan_t) + recs * sizeof(ps_rec_leak_blocks_t) +
           entries * sizeof(ps_leak_block_t) + S->out_tail;
}

/* Entry k's place: the records are laid out whole, each header before its per_rec entries. */
static ps_leak_block_t *out_at(const scan_t *S, uint64_t k)
{
    uint64_t rec = k / S->per_rec;
    return (ps_leak_block_t *)(void *)(S->out + sizeof(ps_rec_leak_scan_t) +
                                       rec * (sizeof(ps_rec_leak_blocks_t) +
                                              (uint64_t)S->per_rec * sizeof(ps_leak_block_t)) +
                                       sizeof(ps_rec_leak_blocks_t) +
                                       (k % S->per_rec) * sizeof(ps_leak_block_t));
}

static int out_reserve(scan_t *S, uint64_t entcap)
{
    uint64_t bytes = out_size(S, entcap);
    if (bytes > UINT32_MAX) /* writer_set_final_records' limit */
        return -1;
    unsigned char *t = scan_alloc(S, bytes);
    if (!t)
        return -1;
    if (S->out) {
        memcpy(t, S->out, S->out_bytes);
        scan_free(S, S->out, S->out_bytes);
    }
    S->out = t;
    S->out_bytes = bytes;
    S->entcap = entcap;
    return 0;
}

/* A verdict; returns its entry's number (out of memory: S->out_oom, the scan is lost). */
static uint32_t emit(scan_t *S, uint64_t ptr, unsigned kind, uint32_t holder, unsigned flags)
{
    if (S->out_oom || (S->nent == S->entcap && out_reserve(S, S->entcap * 2 + 1024) != 0) ||
        S->nent >= UINT32_MAX - 1) {
        S->out_oom = 1;
        return PS_LEAK_NO_HOLDER;
    }
    ps_leak_block_t *x = out_at(S, S->nent);
    *x = (ps_leak_block_t){.ptr = ptr, .holder = holder, .kind = (uint8_t)kind,
                           .flags = (uint8_t)flags};
    return (uint32_t)S->nent++;
}

/* ---- reading and reaching -------------------------------------------------------------- */

/* The block's first bytes are prefetched: it is scanned soon (the stack is last in, first
 * out), and the misses of the blocks one block points to overlap (prefetches never fault).
 * The stack full: the block waits, VS_PENDING (its kind is set already). */
static void push(scan_t *S, vref_t b)
{
    if (PS_UNLIKELY(S->nws == S->wscap)) {
        S->st[b.i] |= VS_PENDING;
        if (!S->pending || b.r < S->pend_r)
            S->pend_r = b.r;
        S->pending = 1;
        return;
    }
    const char *q = (const char *)(uintptr_t)vb_ptr(S, b);
    __builtin_prefetch(q);
    if ((S->e[b.i] & 0xffffu) > 64)
        __builtin_prefetch(q + 64);
    S->ws[S->nws++] = b;
}

/* w, in an allocator heap and in no live block: the start of an untracked chunk in use?
 * (glibc: the size word before it, the next chunk's PREV_INUSE bit, and not the mark of a
 * block freed through the shim, which that bit does not tell from one in use). Met for the
 * first time: queued, to be scanned as reachable. */
static void untracked_meet(scan_t *S, uint64_t w)
{
    if (S->mode != MODE_REACH || !S->ucap || (w & 15))
        return;
    int h = -1;
    for (int k = 0; k < S->nheaps; k++)
        if (w >= S->heaps[k].lo + 16 && w < S->heaps[k].hi)
            h = k;
    if (h < 0)
        return;
    uint64_t size = *(const uint64_t *)(uintptr_t)(w - 8);
    uint64_t csz = size & ~(uint64_t)7;
    if ((size & 2) || csz < 32 || csz > S->heaps[h].hi - (w - 16) - 16 || (csz & 15))
        return; /* mmapped, or not a chunk */
    uint64_t next_size = *(const uint64_t *)(uintptr_t)(w - 16 + csz + 8);
    if (!(next_size & 1))
        return; /* free */
    if (((const uint64_t *)(uintptr_t)w)[2] == (w ^ LEAKSCAN_FREED_MARK))
        return; /* freed through the shim, in a tcache or fastbin (leakscan_note_free) */
    size_t mask = S->ucap * 2 - 1, i = (size_t)((w >> 4) * 0x9e3779b97f4a7c15ull) & mask;
    while (S->uset[i] && S->uset[i] != w)
        i = (i + 1) & mask;
    if (S->uset[i] || S->nuset >= S->ucap)
        return;
    S->uset[i] = w;
    S->nuset++;
    S->uwork[S->nuwork++] = w;
}

static int in_heap(const scan_t *S, uint64_t w)
{
    if (w - S->hlo >= S->hhi - S->hlo)
        return 0;
    for (int k = 0; k < S->nheaps; k++)
        if (w >= S->heaps[k].lo && w < S->heaps[k].hi)
            return 1;
    return 0;
}

static void scan_words(scan_t *S, const uint64_t *p, uint64_t nw, uint32_t rflags)
{
    for (uint64_t k = 0; k < nw; k++) {
        uint64_t w = p[k];
        if (w < S->lo || w >= S->hi) /* most words: one compare each way */
            continue;
        vref_t c = find_block(S, w);
        if (!vb_ok(S, c)) {
            if (S->nheaps && S->mode == MODE_REACH && in_heap(S, w))
                untracked_meet(S, w);
            continue;
        }
        int start = w == vb_ptr(S, c);
        if (!start && (rflags & R_START_ONLY))
            continue;
        /* a block goes on the work stack when its kind changes to reachable (from
         * unreached) or to indirect (from unreached or leader): never while it is on it */
        uint8_t *st = &S->st[c.i];
        unsigned kind = *st & VS_KIND;
        uint8_t sb = start ? VS_START : 0;
        if (S->mode == MODE_REACH) {
            *st |= sb;
            if (!kind || kind == PS_LEAK_DEFINITE) {
                *st = (uint8_t)((*st & ~VS_KIND) | PS_LEAK_REACHABLE);
                push(S, c);
            }
        } else if (kind == PS_LEAK_DEFINITE ? c.i != S->cur : !kind) {
            /* unreached, or an earlier leader: now held by the current one (an earlier
             * leader's entry is replaced by this one; what it held follows it there) */
            *st = (uint8_t)((*st & ~VS_KIND) | sb | PS_LEAK_INDIRECT);
            (void)emit(S, vb_ptr(S, c), PS_LEAK_INDIRECT, S->cur_entry, 0);
            push(S, c);
        } else if (kind == PS_LEAK_INDIRECT) {
            *st |= sb;
        }
    }
}

/* Root words at address a (copied to p): the bytes of live blocks (and the 16-byte chunk
 * header before each) are not roots, they are scanned only when reached. */
static void scan_root_words(scan_t *S, uintptr_t a, const uint64_t *p, uint64_t nw,
                            uint32_t rflags)
{
    if ((rflags & R_NOSKIP) || !S->n || a + nw * 8 <= S->lo - 16 || a >= S->hi) {
        scan_words(S, p, nw, rflags);
        return;
    }
    uintptr_t end = a + nw * 8;
    for (vref_t j = block_from(S, a > 16 ? a - 16 : 0); a < end;) {
        uintptr_t blo = vb_ok(S, j) ? vb_ptr(S, j) - 16 : end;
        if (blo > end)
            blo = end;
        if (blo > a) {
            uint64_t k = (blo - a + 7) / 8;
            scan_words(S, p, k, rflags);
            p += k;
            a += k * 8;
            continue;
        }
        uint64_t size = vb_size(S, j.i);
        uintptr_t bhi = vb_ptr(S, j) + (size ? size : 1);
        uint64_t k = bhi > a ? (bhi - a + 7) / 8 : 0;
        if (k > (end - a) / 8)
            k = (end - a) / 8;
        p += k;
        a += k * 8;
        j = vb_next(S, j);
    }
}
/* Which pages of [a, a + len) (page-aligned a, len <= BOUNCE) hold data: S->pm[k] bit 63
 * (present) or 62 (swapped). Returns 0, or -1 (unknown: read them all). */
static int pages_load(scan_t *S, uintptr_t a, size_t npages)
{
    if (S->pm_fd < 0)
        return -1;
    off_t off = (off_t)(a / prim_page_size()) * 8;
    ssize_t got = pread(S->pm_fd, S->pm, npages * 8, off);
    if (got != (ssize_t)(npages * 8))
        return -1;
    return 0;
}

#define PM_DATA (3ull << 62)

/* Reads [a, b) of the app (roots: process_vm_readv; blocks and when that is refused: in
 * place, within a readable mapping of the snapshot) and scans it. */
static void read_and_scan(scan_t *S, uintptr_t a, uintptr_t b, uint32_t rflags, int root)
{
    if (!root || !S->vm_ok) {
        /* in place: only what the maps snapshot says is readable */
        while (a < b) {
            size_t v = vma_find(S, a);
            if (v == SIZE_MAX || !(S->vma[v].flags & PRIM_VMA_R)) {
                uintptr_t next = b;
                if (v == SIZE_MAX) { /* the next mapping above a */
                    size_t l = 0, h = S->nvma;
                    while (l < h) {
                        size_t m = l + (h - l) / 2;
                        if (S->vma[m].lo <= a)
                            l = m + 1;
                        else
                            h = m;
                    }
                    if (l < S->nvma && S->vma[l].lo < b)
                        next = S->vma[l].lo;
                } else if (S->vma[v].hi < b) {
                    next = S->vma[v].hi;
                }
                S->unreadable_bytes += next - a;
                a = next;
                continue;
            }
            uintptr_t e = S->vma[v].hi < b ? S->vma[v].hi : b;
            if (root) {
                S->read_bytes += e - a;
                scan_root_words(S, a, (const uint64_t *)a, (e - a) / 8, rflags);
            }
            else
                scan_words(S, (const uint64_t *)a, (e - a) / 8, rflags);
            a = e;
        }
        return;
    }
    pid_t pid = getpid();
    while (a < b) {
        size_t len = b - a;
        struct iovec local = {S->bounce, len}, remote = {(void *)a, len};
        ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (got < 0 && (errno == ENOSYS || errno == EPERM)) {
            S->vm_ok = 0; /* seccomp: in place from now on */
            read_and_scan(S, a, b, rflags, root);
            return;
        }
        if (got > 0) {
            S->read_bytes += (uint64_t)got;
            scan_root_words(S, a, (const uint64_t *)S->bounce, (uint64_t)got / 8, rflags);
            a += (uintptr_t)got & ~(uintptr_t)7;
            if ((uintptr_t)got < 8)
                a += 8;
            continue;
        }
        uintptr_t next = (a & ~(uintptr_t)(prim_page_size() - 1)) + prim_page_size();
        if (next > b)
            next = b;
        S->unreadable_bytes += next - a; /* not mapped (any more): skip the page */
        a = next;
    }
}

/* Scans [lo, hi) window by window, reading only the pages that hold data. */
static void scan_mem(scan_t *S, uintptr_t lo, uintptr_t hi, uint32_t rflags, int root)
{
    size_t ps = prim_page_size();
    lo = (lo + 7) & ~(uintptr_t)7;
    hi &= ~(uintptr_t)7;
    while (lo < hi) {
        uintptr_t wlo = lo & ~(uintptr_t)(ps - 1);
        uintptr_t whi = wlo + BOUNCE < hi ? wlo + BOUNCE : hi;
        size_t np = (whi - wlo + ps - 1) / ps;
        if (pages_load(S, wlo, np) != 0) {
            read_and_scan(S, lo, whi, rflags, root);
        } else {
            for (size_t k = 0; k < np;) {
                if (!(S->pm[k] & PM_DATA)) {
                    k++;
                    continue;
                }
                size_t e = k;
                while (e < np && (S->pm[e] & PM_DATA))
                    e++;
                uintptr_t a = wlo + k * ps, b = wlo + e * ps;
                read_and_scan(S, a < lo ? lo : a, b > whi ? whi : b, rflags, root);
                k = e;
            }
        }
        lo = whi;
    }
}

#define BLOCK_BIG (256u << 10) /* a block this large is read page by page (resident only) */

static void scan_block(scan_t *S, vref_t b)
{
    uint64_t size = vb_size(S, b.i);
    uintptr_t lo = (uintptr_t)vb_ptr(S, b), hi = lo + (size & ~(uint64_t)7);
    if (lo <= S->self_sp && S->self_sp < hi)
        lo = S->self_sp; /* a block the scan runs on: below sp are its own frames */
    if (hi <= lo)
        return;
    size_t v = S->vlast;
    if (!(v < S->nvma && S->vma[v].lo <= lo && lo < S->vma[v].hi)) {
        v = S->vprev; /* the flood goes back and forth between two mappings */
        if (!(v < S->nvma && S->vma[v].lo <= lo && lo < S->vma[v].hi))
            v = vma_find(S, lo);
        S->vprev = S->vlast;
        S->vlast = v;
    }
    if (v != SIZE_MAX && hi <= S->vma[v].hi && (S->vma[v].flags & PRIM_VMA_R) &&
        size < BLOCK_BIG) {
        scan_words(S, (const uint64_t *)lo, (hi - lo) / 8, 0); /* the fast path */
        return;
    }
    if (!S->nvma) { /* no maps snapshot: a safe read */
        int vm = S->vm_ok;
        if (vm)
            scan_mem(S, lo, hi, R_NOSKIP, 1);
        else
            S->unreadable_bytes += hi - lo;
        return;
    }
    scan_mem(S, lo, hi, 0, 0);
}

/* The pending blocks (the work stack was full when they were met) back on the stack, from
 * the first region that may hold one, until it is full again. */
static void pending_sweep(scan_t *S)
{
    S->pending = 0;
    for (uint32_t r = S->pend_r; r < S->nreg; r++) {
        const vreg_t *g = &S->reg[r];
        for (uint32_t i = g->first; i < g->first + g->n; i++) {
            if (!(S->st[i] & VS_PENDING))
                continue;
            if (S->nws == S->wscap) { /* the rest next time */
                if (!S->pending || r < S->pend_r)
                    S->pend_r = r;
                S->pending = 1;
                return;
            }
            S->st[i] &= (uint8_t)~VS_PENDING;
            push(S, (vref_t){r, i});
        }
    }
}

static void scan_drain(scan_t *S)
{
    for (;;) {
        while (S->nws)
            scan_block(S, S->ws[--S->nws]);
        if (S->nuwork) { /* an untracked chunk: its user bytes (size less the header) */
            uintptr_t w = S->uwork[--S->nuwork];
            uint64_t csz = *(const uint64_t *)(w - 8) & ~(uint64_t)7;
            scan_words(S, (const uint64_t *)w, (csz - 8) / 8, 0);
            continue;
        }
        if (!S->pending)
            return;
        pending_sweep(S);
    }
}
/* The statistics count the bytes read: resident pages only. */
static void scan_range(scan_t *S, const range_t *r)
{
    uint64_t before = S->read_bytes;
    scan_mem(S, r->lo, r->hi, r->flags, 1);
    uint64_t len = S->read_bytes - before;
    S->root_bytes += len;
    if (r->flags & R_STACK)
        S->stack_bytes += len;
    if (r->flags & R_REGION)
        S->region_bytes += len;
}

/* ---- roots ------------------------------------------------------------------------------- */

#define MAX_SEGS 32
typedef struct pre_s { /* collected before the live set is locked (the loader's lock) */
    seg_t own[MAX_SEGS], alloc[MAX_SEGS];
    int nown, nalloc;
} pre_t;

static int pre_modules(struct dl_phdr_info *info, size_t size, void *arg)
{
    pre_t *P = arg;
    (void)size;
    int self = self_base && info->dlpi_addr == self_base;
    int alloc = alloc_base && info->dlpi_addr == alloc_base;
    if (!self && !alloc)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (self && P->nown < MAX_SEGS)
            P->own[P->nown++] = (seg_t){lo, hi};
        else if (alloc && (ph->p_flags & PF_W) && P->nalloc < MAX_SEGS)
            P->alloc[P->nalloc++] = (seg_t){lo, hi};
    }
    return 0;
}

static void vma_mark(scan_t *S, uintptr_t lo, uintptr_t hi, uint32_t f)
{
    if (hi <= lo)
        return;
    size_t l = 0, h = S->nvma;
    while (l < h) { /* the first mapping that ends after lo */
        size_t m = l + (h - l) / 2;
        if (S->vma[m].hi <= lo)
            l = m + 1;
        else
            h = m;
    }
    for (; l < S->nvma && S->vma[l].lo < hi; l++)
        S->vma[l].flags |= f;
}

typedef struct own_s {
    seg_t *r;
    size_t n, cap;
} own_t;

static void own_add(uintptr_t lo, uintptr_t hi, void *arg)
{
    own_t *o = arg;
    if (hi > lo && o->n < o->cap)
        o->r[o->n++] = (seg_t){lo, hi};
}

PRIM_DEFINE_HEAPSORT(sort_segs, seg_t, lo)

static void range_put(scan_t *S, uintptr_t lo, uintptr_t hi, uint32_t flags)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    if (hi <= lo)
        return;
    if (S->nr == S->rcap) {
        S->flags |= PS_LEAK_F_RANGES;
        return;
    }
    S->r[S->nr++] = (range_t){lo, hi, flags};
}

/* Adds [lo, hi) less the shim's own memory (a mapping of the app's and one of the shim's
 * may be one kernel mapping: they are told apart by the shim's table, not by the maps), and
 * with the real allocator's segments marked start-pointers-only. */
static void range_add(scan_t *S, uintptr_t lo, uintptr_t hi, uint32_t flags)
{
    size_t l = 0, h = S->nown;
    while (l < h) { /* the first own range that ends after lo */
        size_t m = l + (h - l) / 2;
        if (S->own[m].hi <= lo)
            l = m + 1;
        else
            h = m;
    }
    while (lo < hi) {
        uintptr_t e = hi;
        if (l < S->nown && S->own[l].lo <= lo) {
            if (S->own[l].hi > lo)
                lo = S->own[l].hi;
            l++;
            continue;
        }
        if (l < S->nown && S->own[l].lo < e)
            e = S->own[l].lo;
        /* [lo, e) is the app's: split at the allocator's segments */
        for (uintptr_t a = lo; a < e;) {
            uintptr_t b = e;
            uint32_t f = flags;
            for (int k = 0; k < S->nalloc; k++) {
                const seg_t *g = &S->alloc[k];
                if (g->lo <= a && a < g->hi) {
                    f = (flags & ~(uint32_t)R_REGION) | R_START_ONLY;
                    b = g->hi < b ? g->hi : b;
                } else if (g->lo > a && g->lo < b) {
                    b = g->lo;
                }
            }
            range_put(S, a, b, f);
            a = b;
        }
        lo = e;
    }
}

static int in_own(const scan_t *S, uintptr_t a)
{
    size_t l = 0, h = S->nown;
    while (l < h) {
        size_t m = l + (h - l) / 2;
        if (S->own[m].hi <= a)
            l = m + 1;
        else
            h = m;
    }
    return l < S->nown && S->own[l].lo <= a;
}

/* A thread's stack from sp up: the rest of the heap block sp is in (a stack the app carved
 * from a malloc'ed block), else of the mapping it is in. */
static void roots_stack(scan_t *S, uintptr_t sp)
{
    sp &= ~(uintptr_t)7;
    vref_t b = find_block(S, sp);
    if (vb_ok(S, b)) {
        range_add(S, sp, vb_ptr(S, b) + vb_size(S, b.i), R_STACK | R_NOSKIP);
        return;
    }
    size_t v = vma_find(S, sp);
    if (v != SIZE_MAX && !in_own(S, sp))
        range_add(S, sp, S->vma[v].hi, R_STACK);
}

/* Every root range, the live set locked. */
static void roots_collect(scan_t *S, const pre_t *P, uintptr_t self_sp, thr_t *thr, size_t nthr)
{
    /* the shim's memory and its own threads' stacks (sorted), the allocator's data */
    own_t o = {S->own, 0, S->owncap};
    prim_own_each(own_add, &o);
    for (int k = 0; k < P->nown; k++)
        own_add(P->own[k].lo, P->own[k].hi, &o);
    for (int k = 0; k < MAX_INTERNAL; k++) {
        pid_t t = __atomic_load_n(&internal[k].tid, __ATOMIC_ACQUIRE);
        if (t && prim_thread_alive(t))
            own_add(internal[k].lo, internal[k].hi, &o);
    }
    for (size_t t = 0; t < nthr; t++)
        if (thr[t].sp && is_internal(thr[t].tid)) {
            size_t v = vma_find(S, thr[t].sp);
            if (v != SIZE_MAX)
                own_add(thr[t].sp, S->vma[v].hi, &o);
        }
    sort_segs(o.r, o.n);
    S->nown = o.n;
    S->alloc = P->alloc;
    S->nalloc = P->nalloc;
    /* which mappings hold a stack pointer, which hold heap blocks */
    if (!vb_ok(S, find_block(S, self_sp)))
        vma_mark(S, self_sp, self_sp + 1, V_SP);
    for (size_t t = 0; t < nthr; t++)
        if (thr[t].sp && !is_internal(thr[t].tid) && !vb_ok(S, find_block(S, thr[t].sp)))
            vma_mark(S, thr[t].sp, thr[t].sp + 1, V_SP);
    for (size_t v = 0; v < S->nvma; v++) {
        vref_t j = block_from(S, S->vma[v].lo);
        if (vb_ok(S, j) && vb_ptr(S, j) < S->vma[v].hi)
            S->vma[v].flags |= V_BLK;
    }
    /* stacks, from each stack pointer up */
    roots_stack(S, self_sp);
    S->threads = 1;
    for (size_t t = 0; t < nthr; t++)
        if (thr[t].sp && !is_internal(thr[t].tid)) {
            roots_stack(S, thr[t].sp);
            S->threads++;
        }
    /* every other writable mapping: module segments, anonymous memory (arenas of
     * interpreters, obstacks, the main thread's TLS and descriptor), stacks no thread is on
     * now (a coroutine's, a running thread's), but not the allocator's heaps */
    for (size_t v = 0; v < S->nvma; v++) {
        const prim_vma_t *m = &S->vma[v];
        uint32_t f = m->flags;
        if ((f & PRIM_VMA_HEAP) && (f & PRIM_VMA_R) && S->nheaps < 8)
            S->heaps[S->nheaps++] = (seg_t){m->lo, m->hi};
        if ((f & (PRIM_VMA_R | PRIM_VMA_W)) != (PRIM_VMA_R | PRIM_VMA_W) ||
            (f & (PRIM_VMA_SPECIAL | PRIM_VMA_DEVICE | PRIM_VMA_HEAP | V_SP)))
            continue;
        /* glibc's other arenas: heaps aligned to HEAP_MAX_SIZE (64 MiB) */
        if ((f & V_BLK) && (f & PRIM_VMA_ANON) && !(m->lo & ((64u << 20) - 1))) {
            if (S->nheaps < 8)
                S->heaps[S->nheaps++] = (seg_t){m->lo, m->hi};
            continue;
        }
        range_add(S, m->lo, m->hi, (f & PRIM_VMA_ANON) ? R_REGION : 0);
    }
    leakscan_root_regions_add(S);
    for (int k = 0; k < S->nheaps; k++) {
        if (!k || S->heaps[k].lo < S->hlo)
            S->hlo = S->heaps[k].lo;
        if (S->heaps[k].hi > S->hhi)
            S->hhi = S->heaps[k].hi;
    }
}

/* ---- the scan ---------------------------------------------------------------------------- */

static void put_rec(unsigned char *buf, uint32_t *pos, const void *rec, uint32_t len)
{
    memcpy(buf + *pos, rec, len);
    *pos += len;
}

/* The records of a scan that could not run: the trace says so, the program goes on. */
static void emit_aborted(uint64_t t0, uint32_t flags, int final, const char *why)
{
    PS_WARN("the leak scan cannot run: %s; its record says so (no classification)", why);
    ps_rec_leak_scan_t hd = {.h = {PS_REC_LEAK_SCAN, 0, sizeof hd},
                             .flags = flags | PS_LEAK_F_ABORTED,
                             .ts = t0,
                             .duration_ns = prim_now_ns() - t0,
                             .untracked = liveset_untracked()};
    if (final) {
        unsigned char *buf = imem_alloc(sizeof hd);
        if (buf) {
            memcpy(buf, &hd, sizeof hd);
            writer_set_final_records(buf, sizeof hd);
        }
    } else {
        leakscan_put_on_demand(&hd, sizeof hd);
    }
}

/* ---- LeakSanitizer's knobs --------------------------------------------------------------- */

PS_TLS int leakscan_disabled;
static int exit_scan_off;

void leakscan_exit_scan_off(void)
{
    __atomic_store_n(&exit_scan_off, 1, __ATOMIC_RELEASE);
}

typedef struct lsan_cfg_s {
    int detect, use_stacks, use_registers, use_globals, use_tls, use_root_regions;
    char suppressions[512]; /* a file */
} lsan_cfg_t;

/* "key=value" pairs separated by ':', ',', spaces or newlines (LSan's syntax). */
static void cfg_parse(lsan_cfg_t *c, const char *s)
{
    static const struct {
        const char *key;
        size_t off;
    } bools[] = {
        {"detect_leaks", offsetof(lsan_cfg_t, detect)},
        {"use_stacks", offsetof(lsan_cfg_t, use_stacks)},
        {"use_registers", offsetof(lsan_cfg_t, use_registers)},
        {"use_globals", offsetof(lsan_cfg_t, use_globals)},
        {"use_tls", offsetof(lsan_cfg_t, use_tls)},
        {"use_root_regions", offsetof(lsan_cfg_t, use_root_regions)},
    };
    while (s && *s) {
        while (*s == ':' || *s == ',' || *s == ' ' || *s == '\n' || *s == '\t')
            s++;
        const char *k = s;
        while (*s && *s != '=' && *s != ':' && *s != ',' && *s != ' ' && *s != '\n')
            s++;
        size_t klen = (size_t)(s - k);
        if (*s != '=') {
            continue;
        }
        const char *v = ++s;
        char q = (*v == '"' || *v == '\'') ? *v : 0;
        if (q)
            v = ++s;
        while (*s && (q ? *s != q : (*s != ':' && *s != ',' && *s != ' ' && *s != '\n')))
            s++;
        size_t vlen = (size_t)(s - v);
        if (q && *s)
            s++;
        if (klen == 12 && !memcmp(k, "suppressions", 12)) {
            if (vlen < sizeof c->suppressions) {
                memcpy(c->suppressions, v, vlen);
                c->suppressions[vlen] = 0;
            }
            continue;
        }
        for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++)
            if (strlen(bools[i].key) == klen && !memcmp(k, bools[i].key, klen))
                *(int *)((char *)c + bools[i].off) =
                    !(vlen == 1 && v[0] == '0') && !(vlen == 5 && !memcmp(v, "false", 5));
    }
}

static void cfg_load(lsan_cfg_t *c)
{
    *c = (lsan_cfg_t){1, 1, 1, 1, 1, 1, ""};
    const char *(*opts)(void) =
        (const char *(*)(void))(uintptr_t)leakscan_app_symbol("__lsan_default_options");
    if (opts)
        cfg_parse(c, opts());
    cfg_parse(c, getenv("LSAN_OPTIONS"));
}

static int app_turned_off(void)
{
    int (*fn)(void) = (int (*)(void))(uintptr_t)leakscan_app_symbol("__lsan_is_turned_off");
    return fn && fn();
}

static const char *app_suppressions(void);

/* The app's __lsan_default_suppressions() text and the file LSAN_OPTIONS names, in one imem
 * buffer (NULL: none); *len set. */
static char *suppressions_text(const lsan_cfg_t *c, uint32_t *len)
{
    const char *app = app_suppressions();
    size_t alen = app ? strnlen(app, PS_LEAK_SUPP_MAX) : 0;
    *len = 0;
    if (!alen && !c->suppressions[0])
        return NULL;
    char *buf = imem_alloc(PS_LEAK_SUPP_MAX);
    if (!buf)
        return NULL;
    memcpy(buf, app, alen);
    size_t n = alen;
    if (c->suppressions[0] && n + 1 < PS_LEAK_SUPP_MAX) {
        if (n)
            buf[n++] = '\n';
        ssize_t got = prim_read_file(c->suppressions, buf + n, PS_LEAK_SUPP_MAX - n);
        if (got > 0)
            n += (size_t)got;
        else
            PS_WARN("LSAN_OPTIONS suppressions=%s: cannot read it", c->suppressions);
    }
    *len = (uint32_t)n;
    if (!n) {
        imem_free(buf);
        return NULL;
    }
    return buf;
}

/* sp: where the calling thread's stack is scanned from; regs[nregs]: its registers, roots
 * with the other threads' (LSAN_OPTIONS use_registers). */
static PS_NOINLINE int leakscan_do(uintptr_t sp, const uint64_t *regs, unsigned nregs,
                                   uint64_t t0, uint32_t scan_flags, int final)
{
    scan_t S = {.vm_ok = 1, .pm_fd = -1, .flags = scan_flags, .self_sp = sp};
    pre_t P;
    memset(&P, 0, sizeof P);
    dl_iterate_phdr(pre_modules, &P);
    lsan_cfg_t cfg;
    cfg_load(&cfg);
    int leaked = 0;
    if (final && (!cfg.detect || app_turned_off())) {
        /* LSan's "turned off": the trace says so, and there is nothing to judge */
        ps_rec_leak_scan_t hd = {.h = {PS_REC_LEAK_SCAN, 0, sizeof hd},
                                 .flags = PS_LEAK_F_TURNED_OFF,
                                 .ts = t0};
        unsigned char *b = imem_alloc(sizeof hd);
        if (b) {
            memcpy(b, &hd, sizeof hd);
            writer_set_final_records(b, sizeof hd);
        }
        return 0;
    }
    uint32_t supp_len = 0;
    char *supp = final ? suppressions_text(&cfg, &supp_len) : NULL;

    pid_t self_tid = prim_gettid();
    thr_t *thr = NULL; /* as many as there are threads (below) */
    pid_t *tids = scan_alloc(&S, MAX_THREADS * sizeof *tids);
    S.bounce = scan_alloc(&S, BOUNCE);
    S.pm = scan_alloc(&S, BOUNCE / 4096 * 8 + 64);
    S.ucap = 1u << 16;
    S.uset = scan_alloc(&S, 2 * S.ucap * sizeof *S.uset);
    S.uwork = scan_alloc(&S, S.ucap * sizeof *S.uwork);
    if (!S.uset || !S.uwork)
        S.ucap = 0; /* untracked chunks are then not followed */
    S.owncap = 16384 + MAX_SEGS + MAX_INTERNAL + MAX_THREADS;
    S.own = scan_alloc(&S, S.owncap * sizeof *S.own);
    size_t maps_cap = 256u << 10;
    char *maps = scan_alloc(&S, maps_cap);
    if (!tids || !S.bounce || !S.pm || !maps || !S.own) {
        emit_aborted(t0, S.flags, final, "out of memory");
        goto out;
    }
    S.pm_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

    liveset_lock_all();
    if (liveset_released()) { /* a check after the exit scan (from a destructor) */
        liveset_unlock_all();
        emit_aborted(t0, S.flags, final, "the live set was released by the exit scan");
        goto out;
    }
    /* the mappings now: no block can leave them until the unlock */
    ssize_t ml;
    while ((ml = prim_maps_read(maps, maps_cap)) == -2 && maps_cap < MAX_MAPS_TEXT) {
        imem_free(maps);
        S.mem -= maps_cap;
        maps_cap *= 4;
        maps = scan_alloc(&S, maps_cap);
        if (!maps)
            break;
    }
    if (ml >= 0 && maps) {
        size_t lines = 0;
        for (ssize_t k = 0; k < ml; k++)
            lines += maps[k] == '\n';
        S.vma = scan_alloc(&S, (lines + 1) * sizeof *S.vma);
        int more = 0;
        if (S.vma)
            S.nvma = prim_maps_parse(maps, maps + ml, S.vma, lines + 1, &more);
    }
    if (!S.nvma)
        S.flags |= PS_LEAK_F_NO_MAPS;
    /* the threads, where each one's stack pointer is now */
    long nt = prim_task_list(tids, MAX_THREADS);
    size_t nthr = 0;
    if (nt > (long)MAX_THREADS)
        S.flags |= PS_LEAK_F_THREADS;
    thr = scan_alloc(&S, (size_t)(nt > 0 ? (nt < (long)MAX_THREADS ? nt : MAX_THREADS) : 1) *
                             sizeof *thr);
    if (!thr) {
        liveset_unlock_all();
        emit_aborted(t0, S.flags, final, "out of memory");
        goto out;
    }
    for (long k = 0; k < nt && k < (long)MAX_THREADS; k++) {
        if (tids[k] == self_tid)
            continue;
        thr_t *t = &thr[nthr];
        t->tid = tids[k];
        t->sp = 0;
        if (prim_thread_regs(t->tid, &t->sp, t->args, &t->nargs) != 0)
            t->sp = 0; /* running: its stack mapping is scanned whole, as a mapping */
        nthr++;
    }

    uint64_t n = liveset_count();
    S.cap = n;
    S.e = scan_alloc(&S, n * sizeof *S.e);
    S.st = scan_alloc(&S, n);
    S.regcap = 1024;
    S.reg = scan_alloc(&S, S.regcap * sizeof *S.reg);
    S.bigcap = 64;
    S.big = scan_alloc(&S, S.bigcap * sizeof *S.big);
    /* (a block is on the work stack at most once: it needs no more room than n) */
    S.tmpcap = n < VREGION_MAX ? (uint32_t)n + 1 : VREGION_MAX;
    S.tmp = scan_alloc(&S, S.tmpcap * sizeof *S.tmp);
    S.wscap = n < WORK_CAP ? (uint32_t)n + 1 : WORK_CAP;
    S.ws = scan_alloc(&S, S.wscap * sizeof *S.ws);
    S.rcap = S.nvma + nthr + 64 + LEAKSCAN_MAX_REGIONS;
    S.r = scan_alloc(&S, S.rcap * sizeof *S.r);
    S.per_rec = final ? PS_LEAK_BLOCKS_MAX : 1000u; /* a thread's buffer holds 16 KiB */
    S.out_tail = (supp_len ? (uint32_t)sizeof(ps_rec_leak_supp_t) + supp_len : 0) +
                 (final && options.rss_ms ? (uint32_t)sizeof(ps_rec_rss_t) : 0);
    if (!S.e || !S.st || !S.reg || !S.big || !S.tmp || !S.ws || !S.r || n > UINT32_MAX / 2) {
        liveset_unlock_all();
        emit_aborted(t0, S.flags, final, "out of memory");
        goto out;
    }
    /* the scan's ts (its records'): the live set as of now, every later event after it */
    const uint64_t t_locked = liveset_mark_time();
    /* the view, region by region; the exit scan frees the live set's tables as it goes:
     * the view takes their place instead of adding to them (the recorder's peak at exit) */
    uint64_t table_bytes = liveset_bytes();
    (void)liveset_regions(final, view_region, &S);
    scan_free(&S, S.tmp, S.tmpcap * sizeof *S.tmp);
    S.tmp = NULL;
    if (S.view_oom) {
        liveset_unlock_all();
        emit_aborted(t0, S.flags, final, "out of memory for the scan's view of the live set");
        goto out;
    }
    n = S.n;
    sort_regs(S.reg, S.nreg);
    sort_bigs(S.big, S.nbig);
    rh_build(&S);
    uint64_t t_exported = prim_now_ns();
    S.lo = UINT64_MAX;
    for (vref_t b = vb_first(&S); vb_ok(&S, b); b = vb_next(&S, b)) {
        uint64_t p = vb_ptr(&S, b), size = vb_size(&S, b.i), end = p + (size ? size : 1);
        if (p < S.lo)
            S.lo = p;
        if (end > S.hi)
            S.hi = end;
    }
    if (!n)
        S.lo = 0;
    uint64_t t_sorted = prim_now_ns();
    roots_collect(&S, &P, sp, thr, nthr);
    /* LSAN_OPTIONS use_*=0: those roots are left out */
    size_t kept = 0;
    for (size_t k = 0; k < S.nr; k++) {
        uint32_t f = S.r[k].flags;
        if ((f & R_STACK) ? !cfg.use_stacks
            : (f & R_ROOTREG) ? !cfg.use_root_regions
                              : !cfg.use_globals)
            continue;
        S.r[kept++] = S.r[k];
    }
    S.nr = kept;

    /* 1. roots: linker and ignored blocks, registers, ranges */
    S.mode = MODE_REACH;
    const uint8_t lf = (uint8_t)(VS_IGNORED | (cfg.use_tls ? VS_LINKER : 0));
    for (vref_t b = vb_first(&S); vb_ok(&S, b); b = vb_next(&S, b))
        if (S.st[b.i] & lf) {
            S.st[b.i] = (uint8_t)((S.st[b.i] & ~VS_KIND) | PS_LEAK_REACHABLE | VS_START);
            push(&S, b);
        }
    scan_drain(&S);
    for (size_t t = 0; t < nthr; t++)
        if (thr[t].nargs && cfg.use_registers && !is_internal(thr[t].tid)) {
            scan_words(&S, thr[t].args, (uint64_t)thr[t].nargs, 0);
            scan_drain(&S);
        }
    if (nregs && cfg.use_registers) { /* the calling thread's (SCAN_HERE) */
        scan_words(&S, regs, nregs, 0);
        scan_drain(&S);
    }
    for (size_t k = 0; k < S.nr; k++) {
        scan_range(&S, &S.r[k]);
        scan_drain(&S);
    }
    uint64_t t_reached = prim_now_ns();
    /* the verdicts' room: every unreached block and every reachable one reached through
     * interior pointers only (known now: only the roots' flood sets VS_START on them), and
     * some for the leaders a later leader absorbs (re-entered; more room if needed) */
    uint64_t unreached = 0, possible_reachable = 0;
    for (uint64_t i = 0; i < n; i++) {
        unsigned kind = S.st[i] & VS_KIND;
        unreached += !kind;
        possible_reachable += kind == PS_LEAK_REACHABLE && !(S.st[i] & VS_START);
    }
    if (out_reserve(&S, unreached + possible_reachable + unreached / 16 + 64) != 0) {
        liveset_unlock_all();
        emit_aborted(t0, S.flags, final, "out of memory for the leak records");
        goto out;
    }
    /* 2. cliques, in address order: each leader is entered DEFINITE, what it floods
     * INDIRECT held by it (scan_words) */
    S.mode = MODE_FLOOD;
    for (vref_t b = vb_first(&S); vb_ok(&S, b); b = vb_next(&S, b)) {
        if (S.st[b.i] & VS_KIND)
            continue;
        S.st[b.i] |= PS_LEAK_DEFINITE;
        S.cur = b.i;
        S.cur_entry = emit(&S, vb_ptr(&S, b), PS_LEAK_DEFINITE, PS_LEAK_NO_HOLDER, 0);
        push(&S, b);
        scan_drain(&S);
    }
    liveset_unlock_all();
    uint64_t t_flooded = prim_now_ns();

    /* the INDIRECT entries' POSSIBLE flag now that every pointer was seen (a pointer to a
     * block's start may come after its entry) */
    for (uint64_t k = 0; k < S.nent && !S.out_oom; k++) {
        ps_leak_block_t *x = out_at(&S, k);
        if (x->kind != PS_LEAK_INDIRECT)
            continue;
        vref_t b = blocks_upto(&S, x->ptr);
        if (vb_ok(&S, b) && !(S.st[b.i] & VS_START))
            x->flags = PS_LEAK_BLOCK_F_POSSIBLE;
    }
    ps_rec_leak_scan_t hd = {.h = {PS_REC_LEAK_SCAN, 0, sizeof hd},
                             .ts = t_locked,
                             .blocks = n,
                             .untracked = liveset_untracked()};
    hd.flags = S.flags | PS_LEAK_F_BY_ADDRESS | (hd.untracked ? PS_LEAK_F_UNTRACKED : 0);
    for (vref_t b = vb_first(&S); vb_ok(&S, b); b = vb_next(&S, b)) {
        const uint8_t st = S.st[b.i];
        unsigned kind = st & VS_KIND;
        uint64_t size = vb_size(&S, b.i);
        int possible = kind != PS_LEAK_DEFINITE && !(st & VS_START);
        hd.possible_blocks += (uint64_t)possible;
        hd.ignored_blocks += (st & VS_IGNORED) != 0;
        switch (kind) {
        case PS_LEAK_DEFINITE:
            hd.definite_blocks++;
            hd.definite_bytes += size;
            break;
        case PS_LEAK_INDIRECT:
            hd.indirect_blocks++;
            hd.indirect_bytes += size;
            break;
        default:
            hd.reachable_blocks++;
            hd.reachable_bytes += size;
            if (possible)
                (void)emit(&S, vb_ptr(&S, b), PS_LEAK_REACHABLE, PS_LEAK_NO_HOLDER,
                           PS_LEAK_BLOCK_F_POSSIBLE);
        }
    }
    if (S.out_oom) {
        emit_aborted(t0, S.flags, final, "out of memory for the leak records");
        goto out;
    }
    uint64_t nrec = (S.nent + S.per_rec - 1) / S.per_rec;
    hd.groups = nrec;
    leaked = hd.definite_blocks + hd.indirect_blocks > 0;
    hd.root_bytes = S.root_bytes;
    hd.stack_bytes = S.stack_bytes;
    hd.region_bytes = S.region_bytes;
    hd.unreadable_bytes = S.unreadable_bytes;
    hd.threads = S.threads;
    hd.scan_mem_bytes = S.mem_peak;
    PS_LOG(2, "leak scan: %llu blocks in %u regions, %llu MiB of scan memory at most (the live "
              "set's tables: %llu MiB), %llu verdicts; ms: %.1f to lock, %.1f view, %.1f "
              "bounds, %.1f roots and reach, %.1f cliques, %.1f verdicts",
           (unsigned long long)n, S.nreg, (unsigned long long)(S.mem_peak >> 20),
           (unsigned long long)(table_bytes >> 20), (unsigned long long)S.nent,
           (t_locked - t0) / 1e6, (t_exported - t_locked) / 1e6, (t_sorted - t_exported) / 1e6,
           (t_reached - t_sorted) / 1e6, (t_flooded - t_reached) / 1e6,
           (prim_now_ns() - t_flooded) / 1e6);
    /* the records in place: LEAK_SCAN, the LEAK_BLOCKS headers, then LEAK_SUPP and RSS after
     * the last entry */
    for (uint64_t k = 0; k < nrec; k++) {
        uint32_t cnt = (uint32_t)(S.nent - k * S.per_rec < S.per_rec ? S.nent - k * S.per_rec
                                                                     : S.per_rec);
        ps_rec_leak_blocks_t r = {.h = {PS_REC_LEAK_BLOCKS, 0,
                                        (uint16_t)(sizeof r + cnt * sizeof(ps_leak_block_t))},
                                  .n = cnt,
                                  .ts = t_locked};
        memcpy((unsigned char *)out_at(&S, k * S.per_rec) - sizeof r, &r, sizeof r);
    }
    uint32_t pos = (uint32_t)(S.nent ? (uint64_t)((unsigned char *)out_at(&S, S.nent - 1) -
                                                  S.out) + sizeof(ps_leak_block_t)
                                     : sizeof hd);
    if (supp_len) {
        ps_rec_leak_supp_t r = {.h = {PS_REC_LEAK_SUPP, 0, (uint16_t)(sizeof r + supp_len)},
                                .ts = t_locked};
        put_rec(S.out, &pos, &r, sizeof r);
        put_rec(S.out, &pos, supp, supp_len);
    }
    /* The exit scan's RSS sample, at the recorder's peak there (its view and verdicts still
     * held): the writer's samples stop while it runs. */
    if (final && options.rss_ms) {
        ps_rec_rss_t rss;
        writer_rss_record(&rss, 1);
        put_rec(S.out, &pos, &rss, sizeof rss);
    }
    hd.duration_ns = prim_now_ns() - t0;
    memcpy(S.out, &hd, sizeof hd);
    if (final) {
        writer_set_final_records(S.out, pos); /* the writer owns it now */
        S.out = NULL;
    } else {
        leakscan_put_on_demand(S.out, pos);
    }
out:
    if (S.pm_fd >= 0)
        close(S.pm_fd);
    imem_free(S.vma);
    imem_free(maps);
    imem_free(thr);
    imem_free(tids);
    imem_free(S.bounce);
    imem_free(S.pm);
    imem_free(S.own);
    imem_free(S.uset);
    imem_free(S.uwork);
    imem_free(supp);
    imem_free(S.e);
    imem_free(S.st);
    imem_free(S.reg);
    imem_free(S.rh);
    imem_free(S.big);
    imem_free(S.tmp);
    imem_free(S.ws);
    imem_free(S.r);
    imem_free(S.out);
    return leaked;
}


/* ---- the app's LSan hooks ---------------------------------------------------------------- */

static int exe_bias(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    *(uintptr_t *)arg = info->dlpi_addr; /* the first object is the executable */
    return 1;
}

/* name in the executable's .symtab (a static, non-exported definition), or NULL. */
static void *exe_symtab_lookup(const char *name)
{
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    off_t size = lseek(fd, 0, SEEK_END);
    void *map = size > (off_t)sizeof(ElfW(Ehdr)) ? mmap(NULL, (size_t)size, PROT_READ,
                                                        MAP_PRIVATE, fd, 0)
                                                 : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED)
        return NULL;
    const unsigned char *base = map;
    uint64_t len = (uint64_t)size;
    void *found = NULL;
    const ElfW(Ehdr) *eh = map;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shoff > len ||
        (uint64_t)eh->e_shnum * sizeof(ElfW(Shdr)) > len - eh->e_shoff)
        goto done;
    const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(base + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum && !found; i++) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
            continue;
        const ElfW(Shdr) *str = &sh[sh[i].sh_link];
        if (sh[i].sh_offset > len || sh[i].sh_size > len - sh[i].sh_offset ||
            str->sh_offset > len || str->sh_size > len - str->sh_offset)
            continue;
        const ElfW(Sym) *sym = (const ElfW(Sym) *)(base + sh[i].sh_offset);
        const char *strs = (const char *)base + str->sh_offset;
        size_t nsym = sh[i].sh_size / sizeof *sym, nlen = strlen(name);
        for (size_t k = 0; k < nsym; k++) {
            if (ELF64_ST_TYPE(sym[k].st_info) != STT_FUNC || !sym[k].st_value ||
                sym[k].st_shndx == SHN_UNDEF || sym[k].st_name + nlen + 1 > str->sh_size)
                continue;
            if (!memcmp(strs + sym[k].st_name, name, nlen + 1)) {
                uintptr_t bias = 0;
                dl_iterate_phdr(exe_bias, &bias);
                found = (void *)(bias + sym[k].st_value);
                break;
            }
        }
    }
done:
    munmap(map, (size_t)size);
    return found;
}

void *leakscan_app_symbol(const char *name)
{
    void *p = dlsym(RTLD_DEFAULT, name);
    return p ? p : exe_symtab_lookup(name);
}

static const char *app_suppressions(void)
{
    const char *(*fn)(void) =
        (const char *(*)(void))(uintptr_t)leakscan_app_symbol("__lsan_default_suppressions");
    return fn ? fn() : NULL;
}

/* The calling thread's roots: the callee-saved registers as our callers left them (a pointer
 * held only in one of them is a root) and its stack from our caller's frame up. Our own
 * frames are not scanned: they held stale words (the scan once started at a char local, and
 * the 7 other bytes of its word were left of a lost block's address by the program's own
 * calls before exit: leak_verdicts.sh's w found reachable on an AMD machine). On x86_64 the
 * copy is an assembly entry (ps_leakscan_entry) that pushes rbx and r12-r15 before any
 * compiled code can reuse them (a C function's copy captured its own arguments, held there
 * before it), then calls scan_from with them and the caller's stack pointer. */
static PS_NOINLINE __attribute__((used)) int scan_from(uint32_t flags, int final,
                                                      const uint64_t *regs, uintptr_t sp)
{
    return leakscan_do(sp, regs, 5, prim_now_ns(), flags, final);
}

#if defined(__x86_64__)
int ps_leakscan_entry(uint32_t flags, int final); /* (below: scan_from's) */
__asm__(".text\n"
        ".p2align 4\n"
        ".type ps_leakscan_entry, @function\n"
        "ps_leakscan_entry:\n"
        ".cfi_startproc\n"
        "    pushq %rbx\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %rbx, 0\n"
        "    pushq %r12\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %r12, 0\n"
        "    pushq %r13\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %r13, 0\n"
        "    pushq %r14\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %r14, 0\n"
        "    pushq %r15\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %r15, 0\n"
        "    movq %rsp, %rdx\n"     /* regs: r15 r14 r13 r12 rbx, as pushed */
        "    leaq 48(%rsp), %rcx\n" /* the caller's stack pointer before its call */
        "    call scan_from\n"      /* (rsp is 16-aligned here: entry + 5 pushes) */
        "    popq %r15\n"
        ".cfi_adjust_cfa_offset -8\n"
        "    popq %r14\n"
        ".cfi_adjust_cfa_offset -8\n"
        "    popq %r13\n"
        ".cfi_adjust_cfa_offset -8\n"
        "    popq %r12\n"
        ".cfi_adjust_cfa_offset -8\n"
        "    popq %rbx\n"
        ".cfi_adjust_cfa_offset -8\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size ps_leakscan_entry, .-ps_leakscan_entry\n");
#define scan_here(flags, final) ps_leakscan_entry(flags, final)
#else /* the registers spilled into this frame, scanned with it */
static PS_NOINLINE int scan_here(uint32_t flags, int final)
{
    __builtin_unwind_init();
    volatile uint64_t here = 0;
    return leakscan_do((uintptr_t)&here, NULL, 0, prim_now_ns(), flags, final);
}
#endif

void leakscan_run(void)
{
    if (__atomic_load_n(&exit_scan_off, __ATOMIC_ACQUIRE))
        return; /* __lsan_do_leak_check did it */
    (void)scan_here(0, 1);
}

PS_NOINLINE int leakscan_run_on_demand(tstate_t *st)
{
    demand_st = st;
    int r = scan_here(PS_LEAK_F_ON_DEMAND, 0);
    demand_st = NULL;
    return r;
}

/* ---- snapshots ------------------------------------------------------------------------- */

/* A snapshot is a marker with the live set's totals (PS_SNAPSHOT_F_BY_REPLAY): the shim keeps
 * no stack per live block, the reader computes the sites from its replay at ts. */
typedef struct snap_s {
    uint64_t blocks, bytes;
} snap_t;

static int snap_add(void *arg, uint64_t region, const liveset_block_t *b, uint32_t n)
{
    snap_t *s = arg;
    (void)region;
    s->blocks += n;
    for (uint32_t j = 0; j < n; j++)
        s->bytes += b[j].size;
    return 0;
}

int leakscan_snapshot_due(void)
{
    return __atomic_load_n(&snap_requested, __ATOMIC_ACQUIRE) != 0;
}

void leakscan_snapshot(void (*put)(const void *rec, uint32_t len))
{
    __atomic_store_n(&snap_requested, 0, __ATOMIC_RELEASE);
    if (!options.leak_check || liveset_released()) /* (after the exit scan: not whole) */
        return;
    snap_t s = {0, 0};
    liveset_lock_all();
    if (liveset_released()) { /* the exit scan took it meanwhile */
        liveset_unlock_all();
        return;
    }
    const uint64_t ts = liveset_mark_time(); /* (as the scan's: liveset.h) */
    (void)liveset_regions(0, snap_add, &s);
    liveset_unlock_all();
    ps_rec_snapshot_t h = {.h = {PS_REC_SNAPSHOT, PS_SNAPSHOT_F_BY_REPLAY, sizeof h},
                           .seq = snap_seq++,
                           .ts = ts,
                           .sites = 0,
                           .live_blocks = s.blocks,
                           .live_bytes = s.bytes};
    put(&h, sizeof h);
}
