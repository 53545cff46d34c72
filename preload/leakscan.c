/*
 * leakscan.c -- see leakscan.h.
 *
 * The exit scan, in order: collect what needs the loader's lock (module segments of the shim
 * and of the real allocator) with no lock held, take every live-set shard lock (from here on
 * no block can be freed), copy the live set and sort it by address, snapshot /proc/self/maps
 * and every thread's stack pointer, then
 *   1. flood from the roots (below) and from linker and ignored blocks: everything met is
 *      "reachable";
 *   2. memcheck's cliques: each unreached block, in address order, becomes a leader and
 *      floods what it reaches as "indirect", held by it; a leader met by a later leader's
 *      flood stops being one (it and what it holds are indirect, held by the later one);
 *      the leaders left are "definite";
 * then unlock, aggregate by (kind, stack, holder's stack, inherited) and hand the records to
 * the writer. A block is pushed on the work stack at most twice (once as a leader), so the
 * scan is linear in the bytes scanned plus an index lookup per candidate word (a static
 * search tree over the sorted addresses: blocks_upto).
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
 * Memory (all imem, released when the scan ends, the total recorded as scan_mem_bytes): 25
 * bytes per live block (the exported entries, converted in place into 24-byte blocks that
 * also hold the work stack's links, and ~1.2 bytes of index), 48 per leak group (a table that
 * grows), 24 per root range and per mapping, the maps text (at most 64 MiB), 1 MiB for
 * untracked chunks met, 64 per thread (at most 8192), the shim's own ranges (at most ~26k x
 * 16 bytes), a 64 KiB bounce buffer and the sort's 18 KiB. Measured: 3 MiB with 500 threads
 * and a few blocks; 78 MB with kvstore's 3 million live blocks (195 MB when it took 72 bytes
 * a block). Without that memory the scan records an ABORTED scan instead of classifying.
 * The exit scan (final) frees the live set's tables as it copies them
 * (liveset_export_release): the blocks take the tables' place instead of adding to them, so
 * the recorder's peak is not the exit (kvstore: the process's max RSS 341 -> 268 MB, the
 * tables 92 MiB). A check after it (from a destructor) records an ABORTED scan.
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
            leakscan_ld_lo = info->dlpi_addr + ph->p_vaddr;
            leakscan_ld_len = ph->p_memsz;
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

/* A live block, 24 bytes: the live set's exported entry (liveset_entry_t, the same size)
 * converted in place. sk packs the size (56 bits: no mapped block is larger), the kind (0
 * unreached, else ps_leak_kind), BK_START (some pointer to its first byte was seen) and the
 * live set's LIVESET_F_LINKER/INHERITED/IGNORED. holder: the leader's index (indirect); while
 * the block is on the work stack, the index of the block below it (the stack costs nothing:
 * a block is on it at most once at a time, see scan_words). */
typedef struct block_s {
    uint64_t ptr, sk;
    uint32_t stack, holder;
} block_t;

#define BK_SIZE ((1ull << 56) - 1)
#define BK_KIND_SHIFT 56
#define BK_START (1ull << 58)
#define BK_LF_SHIFT 59
#define LIVESET_F_SCAN (LIVESET_F_LINKER | LIVESET_F_INHERITED | LIVESET_F_IGNORED)
_Static_assert(sizeof(block_t) == sizeof(liveset_entry_t), "converted in place");
_Static_assert(LIVESET_F_SCAN == 7, "3 bits in sk");
#define WORK_END UINT32_MAX /* the bottom of the work stack */

static inline uint64_t bk_size(const block_t *b)
{
    return b->sk & BK_SIZE;
}

static inline unsigned bk_kind(const block_t *b)
{
    return (unsigned)(b->sk >> BK_KIND_SHIFT) & 3u;
}

static inline void bk_set_kind(block_t *b, unsigned kind)
{
    b->sk = (b->sk & ~(3ull << BK_KIND_SHIFT)) | ((uint64_t)kind << BK_KIND_SHIFT);
}

static inline unsigned bk_lflags(const block_t *b)
{
    return (unsigned)(b->sk >> BK_LF_SHIFT) & LIVESET_F_SCAN;
}

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
#define IDX_MAXLEV 12
#define MAX_THREADS 8192u
#define MAX_MAPS_TEXT (64u << 20)

typedef struct scan_s {
    block_t *b;
    uint64_t n, lo, hi; /* blocks sorted by ptr; [lo, hi) spans them all */
    uint32_t work; /* the top of the work stack (linked through holder), or WORK_END */
    int mode;
    uint32_t cur; /* MODE_FLOOD: the leader */
    prim_vma_t *vma;
    size_t nvma;
    range_t *r;
    size_t nr, rcap;
    unsigned char *bounce;
    uint64_t *pm;     /* pagemap entries of one bounce window */
    int pm_fd;        /* /proc/self/pagemap, -1: every page counts as resident */
    int vm_ok;        /* process_vm_readv works here */
    uint32_t flags;   /* PS_LEAK_F_* */
    uint64_t mem;     /* the scan's own memory */
    uint64_t root_bytes, stack_bytes, region_bytes, unreadable_bytes, threads, read_bytes;
    struct seg_s *own; /* the shim's memory, sorted */
    size_t nown, owncap;
    const struct seg_s *alloc; /* the real allocator's writable segments */
    int nalloc;
    uintptr_t self_sp;
    size_t vlast;       /* the mapping of the last block read */
    uintptr_t hlo, hhi; /* spans heaps[] */
    /* the allocator's heaps ([heap], arenas) and its chunks the shim never saw allocated
     * (the C library's own calls, e.g. pthread_setspecific's second-level arrays) that a
     * root reaches by their start */
    struct seg_s heaps[8];
    int nheaps;
    uintptr_t *uset;  /* open addressing: chunks met */
    uintptr_t *uwork; /* chunks to scan */
    size_t ucap, nuwork, nuset;
    uint64_t *radix; /* sort_blocks' bucket bounds (RADIX_LEVELS x 256) */
    uint64_t *ix;    /* the index's levels (index_build), one array */
    const uint64_t *lev[IDX_MAXLEV];
    uint64_t nlev[IDX_MAXLEV];
    int nlevels;
} scan_t;

static void *scan_alloc(scan_t *S, size_t bytes)
{
    void *p = imem_alloc(bytes ? bytes : 1);
    if (p)
        S->mem += bytes;
    return p;
}

/* Sorting the blocks by address runs with the live set locked (qsort may call malloc): an
 * in-place MSD radix sort (American flag sort), 8 bits a level from the highest bit in which
 * the addresses differ, runs of at most RADIX_SMALL by insertion sort. The bucket bounds of a
 * level are in S->radix (imem, RADIX_LEVELS x 256 words); no other memory. On kvstore's 3 M
 * blocks it is 3 levels where the heapsort it replaced made 22 sift steps a block, each a
 * cache miss. */
#define RADIX_SMALL 48
#define RADIX_LEVELS 9

static void blocks_isort(block_t *b, uint64_t n)
{
    for (uint64_t i = 1; i < n; i++) {
        if (b[i - 1].ptr <= b[i].ptr)
            continue;
        block_t t = b[i];
        uint64_t j = i;
        do {
            b[j] = b[j - 1];
            j--;
        } while (j && b[j - 1].ptr > t.ptr);
        b[j] = t;
    }
}

static void blocks_radix(uint64_t *scratch, block_t *b, uint64_t n, unsigned shift, int level)
{
    if (n <= RADIX_SMALL || level >= RADIX_LEVELS) {
        blocks_isort(b, n);
        return;
    }
    uint64_t *end = scratch + (size_t)level * 256, head[256];
    memset(end, 0, 256 * sizeof *end);
    for (uint64_t i = 0; i < n; i++)
        end[(b[i].ptr >> shift) & 255]++;
    uint64_t sum = 0;
    for (unsigned d = 0; d < 256; d++) {
        head[d] = sum;
        sum += end[d];
        end[d] = sum;
    }
    /* every bucket in turn: the block at its head goes to the head of its own bucket, and
     * the one displaced from there moves on, until one belongs here */
    for (unsigned d = 0; d < 256; d++)
        while (head[d] < end[d]) {
            block_t v = b[head[d]];
            unsigned k = (unsigned)(v.ptr >> shift) & 255;
            while (k != d) {
                block_t t = b[head[k]];
                b[head[k]++] = v;
                v = t;
                k = (unsigned)(v.ptr >> shift) & 255;
            }
            b[head[d]++] = v;
        }
    if (!shift)
        return;
    unsigned next = shift > 8 ? shift - 8 : 0;
    uint64_t lo = 0;
    for (unsigned d = 0; d < 256; d++) {
        uint64_t hi = end[d]; /* end[] of this level is not touched by the deeper ones */
        if (hi - lo > 1)
            blocks_radix(scratch, b + lo, hi - lo, next, level + 1);
        lo = hi;
    }
}

/* Sorts S->b by ptr (S->radix: the bucket bounds; without it, the heapsort). */
PRIM_DEFINE_HEAPSORT(sort_blocks_heap, block_t, ptr)

static void sort_blocks(scan_t *S)
{
    if (S->n < 2)
        return;
    if (!S->radix) {
        sort_blocks_heap(S->b, S->n);
        return;
    }
    uint64_t mn = S->b[0].ptr, mx = mn;
    for (uint64_t i = 1; i < S->n; i++) {
        uint64_t p = S->b[i].ptr;
        mn = p < mn ? p : mn;
        mx = p > mx ? p : mx;
    }
    if (mn == mx)
        return;
    unsigned top = 63u - (unsigned)__builtin_clzll(mn ^ mx); /* the highest differing bit */
    blocks_radix(S->radix, S->b, S->n, top >= 7 ? top - 7 : 0, 0);
    for (uint64_t i = 1; i < S->n; i++)
        PS_ASSERT_FULL(S->b[i - 1].ptr <= S->b[i].ptr);
}

/* The index of the sorted blocks' addresses (a static search tree): level 0 holds every
 * IDX_LEAF-th block's ptr, level k + 1 every IDX_F-th key of level k, up to a top level of
 * at most IDX_TOP keys; all levels in one imem array (n / 7 words: about 1.2 bytes a block).
 * A lookup binary-searches the top level (in L1), then each level below within the IDX_F
 * keys under the one found (4 branch-free steps in 2 cache lines), then the IDX_LEAF blocks
 * under the level-0 key (3 steps): where the binary search over kvstore's 3 M blocks made 22
 * dependent steps, most of them cache misses, the blocks array is touched in at most 3
 * lines next to each other. The answer is the binary search's, exactly. */
#define IDX_F 16
#define IDX_LEAF 8
#define IDX_TOP 64

/* The number of keys <= a among KEY(first) .. KEY(last - 1), given KEY(first) <= a. */
#define IDX_WINDOW(KEY, first, last, a)                                                        \
    __extension__({                                                                            \
        uint64_t base_ = (first), len_ = (last) - (first);                                     \
        while (len_ > 1) {                                                                     \
            uint64_t half_ = len_ / 2;                                                         \
            base_ = KEY(base_ + half_) <= (a) ? base_ + half_ : base_;                         \
            len_ -= half_;                                                                     \
        }                                                                                      \
        base_ + 1;                                                                             \
    })

/* Builds S->lev (none when n is small or there is no memory: the plain binary search). */
static void index_build(scan_t *S)
{
    uint64_t total = 0, len = S->n;
    int nl = 0;
    while (len > IDX_TOP && nl < IDX_MAXLEV) {
        uint64_t f = nl ? IDX_F : IDX_LEAF;
        len = (len + f - 1) / f;
        total += len;
        nl++;
    }
    if (!nl || !(S->ix = scan_alloc(S, total * sizeof *S->ix)))
        return;
    uint64_t *k = S->ix;
    for (int l = 0; l < nl; l++) {
        uint64_t f = l ? IDX_F : IDX_LEAF;
        uint64_t below = l ? S->nlev[l - 1] : S->n, m = (below + f - 1) / f;
        for (uint64_t i = 0; i < m; i++)
            k[i] = l ? S->lev[l - 1][i * f] : S->b[i * f].ptr;
        S->lev[l] = k;
        S->nlev[l] = m;
        k += m;
    }
    S->nlevels = nl;
}

/* The number of blocks that start at or below address a (the blocks are sorted by ptr). */
static inline uint64_t blocks_upto(const scan_t *S, uint64_t a)
{
    int l = S->nlevels - 1;
    const uint64_t *top = l >= 0 ? S->lev[l] : NULL;
    uint64_t lo = 0, hi = l >= 0 ? S->nlev[l] : S->n;
    while (lo < hi) {
        uint64_t m = lo + (hi - lo) / 2;
        if ((top ? top[m] : S->b[m].ptr) <= a)
            lo = m + 1;
        else
            hi = m;
    }
    /* lo: the keys <= a at level l; the keys under key lo - 1 are searched next */
    for (; l > 0 && lo; l--) {
        const uint64_t *k = S->lev[l - 1];
        uint64_t first = (lo - 1) * IDX_F, end = S->nlev[l - 1];
        uint64_t last = first + IDX_F < end ? first + IDX_F : end;
#define KEY_LEV(i) k[i]
        lo = IDX_WINDOW(KEY_LEV, first, last, a);
#undef KEY_LEV
    }
    if (l == 0 && lo) {
        const block_t *b = S->b;
        uint64_t first = (lo - 1) * IDX_LEAF;
        uint64_t last = first + IDX_LEAF < S->n ? first + IDX_LEAF : S->n;
#define KEY_BLK(i) b[i].ptr
        lo = IDX_WINDOW(KEY_BLK, first, last, a);
#undef KEY_BLK
    }
    return lo;
}

#if defined(PS_DEBUG) && PS_DEBUG >= 2
/* The plain binary search, which the index must agree with (--enable-debug=full). */
static uint64_t blocks_upto_plain(const scan_t *S, uint64_t a)
{
    uint64_t l = 0, h = S->n;
    while (l < h) {
        uint64_t m = l + (h - l) / 2;
        if (S->b[m].ptr <= a)
            l = m + 1;
        else
            h = m;
    }
    return l;
}
#endif

/* Index of the first block that ends after address a (S->n if none). */
static uint64_t block_from(const scan_t *S, uint64_t a)
{
    uint64_t l = blocks_upto(S, a);
    if (l && a - S->b[l - 1].ptr < (bk_size(&S->b[l - 1]) ? bk_size(&S->b[l - 1]) : 1))
        return l - 1;
    return l;
}

/* Index of the block holding address w, or UINT64_MAX. */
static uint64_t find_block(const scan_t *S, uint64_t w)
{
    if (w < S->lo || w >= S->hi)
        return UINT64_MAX;
    uint64_t l = blocks_upto(S, w);
    PS_ASSERT_FULL(l == blocks_upto_plain(S, w));
    if (!l)
        return UINT64_MAX;
    const block_t *b = &S->b[l - 1];
    return w == b->ptr || w - b->ptr < bk_size(b) ? l - 1 : UINT64_MAX;
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

/* The block's first bytes are prefetched: it is scanned soon (the stack is last in, first
 * out), and the misses of the blocks one block points to overlap (prefetches never fault). */
static void push(scan_t *S, uint64_t i)
{
    const char *q = (const char *)(uintptr_t)S->b[i].ptr;
    __builtin_prefetch(q);
    if (bk_size(&S->b[i]) > 64)
        __builtin_prefetch(q + 64);
    S->b[i].holder = S->work;
    S->work = (uint32_t)i;
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

#define SCAN_BATCH 16

/* find_block of m <= SCAN_BATCH words in [S->lo, S->hi) at once: the levels of the index
 * are walked in lockstep, the lines each word needs at a level prefetched for all of them
 * before any is searched, so that their cache misses overlap instead of following one
 * another. The same answers as find_block. */
static void find_blocks(const scan_t *S, const uint64_t *w, unsigned m, uint64_t *out)
{
    int l = S->nlevels - 1;
    if (l < 0) {
        for (unsigned j = 0; j < m; j++)
            out[j] = find_block(S, w[j]);
        return;
    }
    uint64_t pos[SCAN_BATCH];
    const uint64_t *top = S->lev[l];
    for (unsigned j = 0; j < m; j++) {
        uint64_t lo = 0, hi = S->nlev[l];
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (top[mid] <= w[j])
                lo = mid + 1;
            else
                hi = mid;
        }
        pos[j] = lo;
    }
    for (; l > 0; l--) {
        const uint64_t *k = S->lev[l - 1];
        uint64_t end = S->nlev[l - 1];
        for (unsigned j = 0; j < m; j++)
            if (pos[j]) {
                const char *q = (const char *)&k[(pos[j] - 1) * IDX_F];
                __builtin_prefetch(q);
                __builtin_prefetch(q + 64);
                __builtin_prefetch(q + IDX_F * 8 - 1);
            }
        for (unsigned j = 0; j < m; j++)
            if (pos[j]) {
                uint64_t first = (pos[j] - 1) * IDX_F, a = w[j];
                uint64_t last = first + IDX_F < end ? first + IDX_F : end;
#define KEY_LEV(i) k[i]
                pos[j] = IDX_WINDOW(KEY_LEV, first, last, a);
#undef KEY_LEV
            }
    }
    const block_t *b = S->b;
    for (unsigned j = 0; j < m; j++)
        if (pos[j]) {
            const char *q = (const char *)&b[(pos[j] - 1) * IDX_LEAF];
            for (unsigned o = 0; o < IDX_LEAF * sizeof *b; o += 64)
                __builtin_prefetch(q + o);
            __builtin_prefetch(q + IDX_LEAF * sizeof *b - 1);
        }
    for (unsigned j = 0; j < m; j++) {
        uint64_t u = pos[j], a = w[j];
        if (u) {
            uint64_t first = (u - 1) * IDX_LEAF;
            uint64_t last = first + IDX_LEAF < S->n ? first + IDX_LEAF : S->n;
#define KEY_BLK(i) b[i].ptr
            u = IDX_WINDOW(KEY_BLK, first, last, a);
#undef KEY_BLK
        }
        PS_ASSERT_FULL(u == blocks_upto_plain(S, a));
        out[j] = u && (a == b[u - 1].ptr || a - b[u - 1].ptr < bk_size(&b[u - 1])) ? u - 1
                                                                                 : UINT64_MAX;
    }
}

static void scan_words(scan_t *S, const uint64_t *p, uint64_t nw, uint32_t rflags)
{
    uint64_t v[SCAN_BATCH], cand[SCAN_BATCH], found[SCAN_BATCH];
    for (uint64_t k0 = 0; k0 < nw; k0 += SCAN_BATCH) {
        unsigned m = nw - k0 < SCAN_BATCH ? (unsigned)(nw - k0) : SCAN_BATCH, nc = 0;
        for (unsigned j = 0; j < m; j++) { /* each word read once */
            v[j] = p[k0 + j];
            if (v[j] >= S->lo && v[j] < S->hi)
                cand[nc++] = v[j];
        }
        if (nc)
            find_blocks(S, cand, nc, found);
        for (unsigned j = 0, c = 0; j < m; j++) {
            uint64_t w = v[j];
            uint64_t i = w >= S->lo && w < S->hi ? found[c++] : UINT64_MAX;
            if (i == UINT64_MAX) {
                if (S->nheaps && S->mode == MODE_REACH && in_heap(S, w))
                    untracked_meet(S, w);
                continue;
            }
            block_t *c_ = &S->b[i];
            int start = w == c_->ptr;
            if (!start && (rflags & R_START_ONLY))
                continue;
            /* a block goes on the work stack when its kind changes to reachable (from
             * unreached) or to indirect (from unreached or leader): never while it is on it */
            unsigned kind = bk_kind(c_);
            uint64_t st = start ? BK_START : 0;
            if (S->mode == MODE_REACH) {
                c_->sk |= st;
                if (!kind || kind == PS_LEAK_DEFINITE) {
                    bk_set_kind(c_, PS_LEAK_REACHABLE);
                    push(S, i);
                }
            } else if (kind == PS_LEAK_DEFINITE ? i != S->cur : !kind) {
                /* unreached, or an earlier leader: now held by the current one (holder is
                 * set when it leaves the stack) */
                c_->sk |= st;
                bk_set_kind(c_, PS_LEAK_INDIRECT);
                push(S, i);
            } else if (kind == PS_LEAK_INDIRECT) {
                c_->sk |= st;
            }
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
    for (uint64_t j = block_from(S, a > 16 ? a - 16 : 0); a < end;) {
        uintptr_t blo = j < S->n ? S->b[j].ptr - 16 : end;
        if (blo > end)
            blo = end;
        if (blo > a) {
            uint64_t k = (blo - a + 7) / 8;
            scan_words(S, p, k, rflags);
            p += k;
            a += k * 8;
            continue;
        }
        uintptr_t bhi = S->b[j].ptr + (bk_size(&S->b[j]) ? bk_size(&S->b[j]) : 1);
        uint64_t k = bhi > a ? (bhi - a + 7) / 8 : 0;
        if (k > (end - a) / 8)
            k = (end - a) / 8;
        p += k;
        a += k * 8;
        j++;
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

static void scan_block(scan_t *S, uint64_t i)
{
    const block_t *b = &S->b[i];
    uint64_t size = bk_size(b);
    uintptr_t lo = (uintptr_t)b->ptr, hi = lo + (size & ~(uint64_t)7);
    if (lo <= S->self_sp && S->self_sp < hi)
        lo = S->self_sp; /* a block the scan runs on: below sp are its own frames */
    if (hi <= lo)
        return;
    size_t v = S->vlast < S->nvma && S->vma[S->vlast].lo <= lo && lo < S->vma[S->vlast].hi
                   ? S->vlast
                   : vma_find(S, lo);
    S->vlast = v;
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

static void scan_drain(scan_t *S)
{
    while (S->work != WORK_END || S->nuwork) {
        while (S->work != WORK_END) {
            uint32_t i = S->work;
            S->work = S->b[i].holder;
            S->b[i].holder = S->mode == MODE_FLOOD ? S->cur : 0;
            scan_block(S, i);
        }
        if (S->nuwork) { /* an untracked chunk: its user bytes (size less the header) */
            uintptr_t w = S->uwork[--S->nuwork];
            uint64_t csz = *(const uint64_t *)(w - 8) & ~(uint64_t)7;
            scan_words(S, (const uint64_t *)w, (csz - 8) / 8, 0);
        }
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
    uint64_t i = find_block(S, sp);
    if (i != UINT64_MAX) {
        range_add(S, sp, S->b[i].ptr + bk_size(&S->b[i]), R_STACK | R_NOSKIP);
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
    if (find_block(S, self_sp) == UINT64_MAX)
        vma_mark(S, self_sp, self_sp + 1, V_SP);
    for (size_t t = 0; t < nthr; t++)
        if (thr[t].sp && !is_internal(thr[t].tid) && find_block(S, thr[t].sp) == UINT64_MAX)
            vma_mark(S, thr[t].sp, thr[t].sp + 1, V_SP);
    for (size_t v = 0; v < S->nvma; v++) {
        uint64_t j = block_from(S, S->vma[v].lo);
        if (j < S->n && S->b[j].ptr < S->vma[v].hi)
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

/* ---- aggregation ----------------------------------------------------------------------- */

typedef struct group_s {
    uint32_t kind, stack, holder, used, inherited;
    uint64_t blocks, bytes, possible;
} group_t;

static group_t *group_get(group_t *t, uint64_t cap, uint32_t kind, uint32_t stack,
                          uint32_t holder, uint32_t inherited)
{
    uint64_t h = ((uint64_t)stack * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)holder << 7) ^ kind ^
                 ((uint64_t)inherited << 3);
    h ^= h >> 29;
    for (uint64_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        group_t *g = &t[i];
        if (!g->used) {
            *g = (group_t){kind, stack, holder, 1, inherited, 0, 0, 0};
            return g;
        }
        if (g->kind == kind && g->stack == stack && g->holder == holder &&
            g->inherited == inherited)
            return g;
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

static PS_NOINLINE int leakscan_do(uintptr_t sp, uint64_t t0, uint32_t scan_flags, int final)
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
    thr_t *thr = scan_alloc(&S, MAX_THREADS * sizeof *thr);
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
    if (!thr || !tids || !S.bounce || !S.pm || !maps || !S.own) {
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
    S.b = scan_alloc(&S, n * sizeof *S.b);
    S.work = WORK_END;
    S.rcap = S.nvma + nthr + 64 + LEAKSCAN_MAX_REGIONS;
    S.r = scan_alloc(&S, S.rcap * sizeof *S.r);
    uint64_t gcap = 4096; /* grows with the groups met */
    group_t *groups = scan_alloc(&S, gcap * sizeof *groups);
    if (!S.b || !S.r || !groups || n > UINT32_MAX / 2) {
        liveset_unlock_all();
        imem_free(S.b);
        imem_free(S.r);
        imem_free(groups);
        emit_aborted(t0, S.flags, final, "out of memory");
        goto out;
    }
    uint64_t t_locked = prim_now_ns();
    /* the live set's entries, converted in place into blocks (each read whole first: memcpy,
     * the two types share the memory) */
    /* the exit scan frees the live set's tables as it copies them: the block array takes
     * their place instead of adding to them (the recorder's peak at exit) */
    uint64_t table_bytes = liveset_bytes();
    n = final ? liveset_export_release((liveset_entry_t *)(void *)S.b, n)
              : liveset_export((liveset_entry_t *)(void *)S.b, n);
    uint64_t inherited = 0, ignored = 0;
    for (uint64_t i = 0; i < n; i++) {
        liveset_entry_t e;
        memcpy(&e, &S.b[i], sizeof e);
        block_t b = {.ptr = e.ptr,
                     .sk = (e.size < BK_SIZE ? e.size : BK_SIZE) |
                           (uint64_t)(e.flags & LIVESET_F_SCAN) << BK_LF_SHIFT,
                     .stack = e.stack,
                     .holder = 0};
        memcpy(&S.b[i], &b, sizeof b);
        inherited += (e.flags & LIVESET_F_INHERITED) != 0;
    }
    uint64_t t_exported = prim_now_ns();
    S.n = n;
    S.radix = scan_alloc(&S, RADIX_LEVELS * 256 * sizeof *S.radix);
    sort_blocks(&S);
    imem_free(S.radix);
    S.radix = NULL;
    index_build(&S);
    uint64_t t_sorted = prim_now_ns();
    if (n) {
        S.lo = S.b[0].ptr;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t end = S.b[i].ptr + (bk_size(&S.b[i]) ? bk_size(&S.b[i]) : 1);
            if (end > S.hi)
                S.hi = end;
        }
    }
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
    for (uint64_t i = 0; i < n; i++)
        if (bk_lflags(&S.b[i]) & (LIVESET_F_IGNORED | (cfg.use_tls ? LIVESET_F_LINKER : 0))) {
            bk_set_kind(&S.b[i], PS_LEAK_REACHABLE);
            S.b[i].sk |= BK_START;
            push(&S, i);
        }
    scan_drain(&S);
    for (size_t t = 0; t < nthr; t++)
        if (thr[t].nargs && cfg.use_registers && !is_internal(thr[t].tid)) {
            scan_words(&S, thr[t].args, (uint64_t)thr[t].nargs, 0);
            scan_drain(&S);
        }
    for (size_t k = 0; k < S.nr; k++) {
        scan_range(&S, &S.r[k]);
        scan_drain(&S);
    }
    /* ignored: what the ignored blocks hold (flooded first, before the other roots) */
    for (uint64_t i = 0; i < n; i++)
        ignored += (bk_lflags(&S.b[i]) & LIVESET_F_IGNORED) != 0;
    uint64_t t_reached = prim_now_ns();
    /* 2. cliques, in address order */
    S.mode = MODE_FLOOD;
    for (uint64_t i = 0; i < n; i++) {
        block_t *b = &S.b[i];
        if (bk_kind(b))
            continue;
        bk_set_kind(b, PS_LEAK_DEFINITE);
        S.cur = (uint32_t)i; /* its holder when it leaves the stack: itself */
        push(&S, i);
        scan_drain(&S);
    }
    liveset_unlock_all();
    uint64_t t_flooded = prim_now_ns();

    ps_rec_leak_scan_t hd = {.h = {PS_REC_LEAK_SCAN, 0, sizeof hd},
                             .ts = t0,
                             .blocks = n,
                             .untracked = liveset_untracked(),
                             .inherited_blocks = inherited,
                             .ignored_blocks = ignored};
    hd.flags = S.flags | (hd.untracked ? PS_LEAK_F_UNTRACKED : 0);
    uint64_t ngroups = 0;
    for (uint64_t i = 0; i < n; i++) {
        block_t *b = &S.b[i];
        uint32_t holder = 0;
        unsigned kind = bk_kind(b);
        uint64_t size = bk_size(b);
        if (kind == PS_LEAK_INDIRECT) {
            uint32_t h = b->holder; /* an absorbed leader's holder is the leader that met it */
            while (bk_kind(&S.b[h]) == PS_LEAK_INDIRECT && S.b[h].holder != h)
                h = S.b[h].holder;
            b->holder = h;
            holder = S.b[h].stack;
        }
        uint32_t inh = (bk_lflags(b) & LIVESET_F_INHERITED) != 0;
        if ((ngroups + 1) * 4 > gcap * 3) {
            group_t *t = scan_alloc(&S, 2 * gcap * sizeof *t);
            if (!t) {
                imem_free(S.b);
                imem_free(S.r);
                imem_free(groups);
                emit_aborted(t0, S.flags, final, "out of memory for the leak groups");
                goto out;
            }
            for (uint64_t k = 0; k < gcap; k++)
                if (groups[k].used)
                    *group_get(t, 2 * gcap, groups[k].kind, groups[k].stack, groups[k].holder,
                               groups[k].inherited) = groups[k];
            imem_free(groups);
            groups = t;
            gcap *= 2;
        }
        group_t *g = group_get(groups, gcap, kind, b->stack, holder, inh);
        if (!g->blocks)
            ngroups++;
        g->blocks++;
        g->bytes += size;
        int possible = kind != PS_LEAK_DEFINITE && !(b->sk & BK_START);
        g->possible += (uint64_t)possible;
        hd.possible_blocks += (uint64_t)possible;
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
        }
    }
    hd.groups = ngroups;
    leaked = hd.definite_blocks + hd.indirect_blocks > 0;
    hd.root_bytes = S.root_bytes;
    hd.stack_bytes = S.stack_bytes;
    hd.region_bytes = S.region_bytes;
    hd.unreadable_bytes = S.unreadable_bytes;
    hd.threads = S.threads;
    uint64_t total = sizeof hd + ngroups * sizeof(ps_rec_leak_t) +
                     (supp_len ? sizeof(ps_rec_leak_supp_t) + supp_len : 0);
    hd.scan_mem_bytes = S.mem + total;
    hd.duration_ns = prim_now_ns() - t0;
    PS_LOG(2, "leak scan: %llu blocks, %llu MiB of scan memory (the live set's tables: %llu "
              "MiB); ms: %.1f to lock, %.1f export, %.1f sort, %.1f roots and reach, "
              "%.1f cliques, %.1f aggregate",
           (unsigned long long)n, (unsigned long long)(S.mem >> 20),
           (unsigned long long)(table_bytes >> 20), (t_locked - t0) / 1e6,
           (t_exported - t_locked) / 1e6, (t_sorted - t_exported) / 1e6,
           (t_reached - t_sorted) / 1e6, (t_flooded - t_reached) / 1e6,
           (prim_now_ns() - t_flooded) / 1e6);
    /* The exit scan's RSS sample, at the recorder's peak there (its blocks, index and groups
     * still held): the writer's samples stop while it runs. */
    ps_rec_rss_t rss;
    int with_rss = final && options.rss_ms;
    if (with_rss) {
        writer_rss_record(&rss, 1);
        total += sizeof rss;
    }
    unsigned char *buf = total <= UINT32_MAX ? imem_alloc(total) : NULL;
    if (buf) {
        uint32_t pos = 0;
        put_rec(buf, &pos, &hd, sizeof hd);
        for (uint64_t i = 0; i < gcap; i++) {
            const group_t *g = &groups[i];
            if (!g->used)
                continue;
            ps_rec_leak_t r = {.h = {PS_REC_LEAK, (uint8_t)g->kind, sizeof r},
                               .stack = g->stack,
                               .ts = t0,
                               .holder = g->holder,
                               .flags = g->inherited ? PS_LEAK_REC_F_INHERITED : 0,
                               .blocks = g->blocks,
                               .bytes = g->bytes,
                               .possible_blocks = g->possible};
            put_rec(buf, &pos, &r, sizeof r);
        }
        if (supp_len) {
            ps_rec_leak_supp_t r = {.h = {PS_REC_LEAK_SUPP, 0,
                                          (uint16_t)(sizeof r + supp_len)},
                                    .ts = t0};
            put_rec(buf, &pos, &r, sizeof r);
            put_rec(buf, &pos, supp, supp_len);
        }
        if (with_rss)
            put_rec(buf, &pos, &rss, sizeof rss);
        if (final) {
            writer_set_final_records(buf, pos); /* the writer owns buf now */
        } else {
            leakscan_put_on_demand(buf, pos);
            imem_free(buf);
        }
    } else {
        emit_aborted(t0, S.flags, final, "out of memory for the leak records");
    }
    imem_free(S.b);
    imem_free(S.r);
    imem_free(groups);
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
    imem_free(S.ix);
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

/* Spills the callee-saved registers into this frame, so pointers held only in registers
 * by our callers are on the stack range scanned from here. */
#define SCAN_HERE(flags, final)                                                                \
    do {                                                                                       \
        __builtin_unwind_init();                                                               \
        volatile char here = 0;                                                                \
        r = leakscan_do((uintptr_t)&here & ~(uintptr_t)7, prim_now_ns(), flags, final);        \
    } while (0)

void leakscan_run(void)
{
    if (__atomic_load_n(&exit_scan_off, __ATOMIC_ACQUIRE))
        return; /* __lsan_do_leak_check did it */
    int r;
    SCAN_HERE(0, 1);
    (void)r;
}

PS_NOINLINE int leakscan_run_on_demand(tstate_t *st)
{
    int r;
    demand_st = st;
    SCAN_HERE(PS_LEAK_F_ON_DEMAND, 0);
    demand_st = NULL;
    return r;
}

/* ---- snapshots ------------------------------------------------------------------------- */

typedef struct snap_site_s {
    uint32_t stack, used;
    uint64_t blocks, bytes;
} snap_site_t;

typedef struct snap_s {
    snap_site_t *t;
    uint64_t cap, n;
    uint64_t blocks, bytes;
    int oom;
} snap_t;

static snap_site_t *snap_slot(snap_site_t *t, uint64_t cap, uint32_t stack)
{
    for (uint64_t i = (stack * 0x9e3779b1u) & (cap - 1);; i = (i + 1) & (cap - 1))
        if (!t[i].used || t[i].stack == stack)
            return &t[i];
}

static void snap_add(const liveset_entry_t *e, void *arg)
{
    snap_t *s = arg;
    if (s->oom)
        return;
    if ((s->n + 1) * 2 > s->cap) {
        uint64_t cap = s->cap * 2;
        snap_site_t *t = imem_alloc(cap * sizeof *t);
        if (!t) {
            s->oom = 1;
            return;
        }
        for (uint64_t i = 0; i < s->cap; i++)
            if (s->t[i].used)
                *snap_slot(t, cap, s->t[i].stack) = s->t[i];
        imem_free(s->t);
        s->t = t;
        s->cap = cap;
    }
    snap_site_t *x = snap_slot(s->t, s->cap, e->stack);
    if (!x->used) {
        *x = (snap_site_t){e->stack, 1, 0, 0};
        s->n++;
    }
    x->blocks++;
    x->bytes += e->size;
    s->blocks++;
    s->bytes += e->size;
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
    snap_t s = {.cap = 1024};
    s.t = imem_alloc(s.cap * sizeof *s.t);
    if (!s.t)
        return;
    uint64_t ts = prim_now_ns();
    for (unsigned i = 0; i < LIVESET_SHARDS; i++) /* one shard at a time: no global stop */
        liveset_visit_shard(i, snap_add, &s);
    if (s.oom) {
        PS_WARN_ONCE("out of memory for a live-set snapshot; skipped");
    } else {
        uint32_t seq = snap_seq++;
        ps_rec_snapshot_t h = {.h = {PS_REC_SNAPSHOT, 0, sizeof h},
                               .seq = seq,
                               .ts = ts,
                               .sites = s.n,
                               .live_blocks = s.blocks,
                               .live_bytes = s.bytes};
        put(&h, sizeof h);
        for (uint64_t i = 0; i < s.cap; i++) {
            if (!s.t[i].used)
                continue;
            ps_rec_snapshot_site_t r = {.h = {PS_REC_SNAPSHOT_SITE, 0, sizeof r},
                                        .seq = seq,
                                        .ts = ts,
                                        .stack = s.t[i].stack,
                                        .blocks = s.t[i].blocks,
                                        .bytes = s.t[i].bytes};
            put(&r, sizeof r);
        }
    }
    imem_free(s.t);
}
