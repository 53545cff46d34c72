/*
 * leakscan.c -- see leakscan.h.
 *
 * The exit scan, in order: collect root ranges (no lock held: dl_iterate_phdr takes the
 * loader's lock), take every live-set shard lock (from here on no block can be freed), copy
 * the live set and sort it by address, then
 *   1. flood from the roots and from linker blocks: everything met is "reachable";
 *   2. mark every unreached block that another unreached block points to;
 *   3. each unreached block nothing points to is "definite"; flood from it: what it reaches
 *      is "indirect", held by it;
 *   4. what is left are cycles that only point to each other (valgrind's cliques): the
 *      lowest address of each becomes definite and holds the rest;
 * then unlock, aggregate by (kind, stack, holder's stack) and hand the records to the writer.
 * Every block is pushed on the work stack at most once, so the scan is linear in the bytes
 * scanned plus a binary search per candidate word.
 */
#include <config.h>

#include "leakscan.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bootstrap.h"
#include "imem.h"
#include "liveset.h"
#include "log.h"
#include "options.h"
#include "perfshim/trace_format.h"
#include "prim.h"
#include "shim.h"
#include "writer.h"

uint64_t leakscan_ld_lo, leakscan_ld_len;

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
    if (real_malloc && dladdr((void *)(uintptr_t)real_malloc, &di) && di.dli_fbase)
        alloc_base = (uintptr_t)di.dli_fbase;
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

void leakscan_thread_attach(tstate_t *st)
{
    if (!options.leak_check)
        return;
    /* The hook guard is set: pthread_getattr_np's own malloc (and, for the main thread, its
     * read of /proc/self/maps) passes through unrecorded. */
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) != 0)
        return;
    void *addr;
    size_t size;
    if (pthread_attr_getstack(&a, &addr, &size) == 0) {
        st->stack_lo = (uintptr_t)addr;
        st->stack_hi = (uintptr_t)addr + size;
    }
    pthread_attr_destroy(&a);
}

/* ---- root ranges ----------------------------------------------------------------------- */

#define MAX_RANGES 4096
#define R_SAFE 0x1u       /* read through process_vm_readv (may vanish meanwhile) */
#define R_START_ONLY 0x2u /* interior pointers from here do not count */

typedef struct range_s {
    uintptr_t lo, hi;
    uint32_t flags;
} range_t;

typedef struct roots_s {
    range_t *r;
    uint32_t n;
    uint32_t overflow;
    pid_t self_tid;
} roots_t;

static void roots_add(roots_t *R, uintptr_t lo, uintptr_t hi, uint32_t flags)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    if (hi <= lo)
        return;
    if (R->n == MAX_RANGES) {
        R->overflow = 1;
        return;
    }
    R->r[R->n++] = (range_t){lo, hi, flags};
}

static int roots_modules(struct dl_phdr_info *info, size_t size, void *arg)
{
    roots_t *R = arg;
    (void)size;
    if (info->dlpi_addr == self_base && self_base)
        return 0; /* the shim's own data: never a root */
    uint32_t f = R_SAFE | (alloc_base && info->dlpi_addr == alloc_base ? R_START_ONLY : 0);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W))
            roots_add(R, lo, lo + ph->p_memsz, f);
        else if (ph->p_type == PT_TLS && info->dlpi_tls_data) /* this thread's block */
            roots_add(R, (uintptr_t)info->dlpi_tls_data,
                      (uintptr_t)info->dlpi_tls_data + ph->p_memsz, 0);
    }
    return 0;
}

static void roots_thread(tstate_t *st, void *arg)
{
    roots_t *R = arg;
    if (st->tid == R->self_tid || !st->stack_hi || __atomic_load_n(&st->exited, __ATOMIC_ACQUIRE) ||
        !prim_thread_alive(st->tid))
        return;
    /* Its registers are out of reach: the whole stack range stands in for them. */
    roots_add(R, st->stack_lo, st->stack_hi, R_SAFE);
}

/* ---- blocks ---------------------------------------------------------------------------- */

#define B_START 0x1u   /* some pointer to its first byte was seen */
#define B_POINTED 0x2u /* another unreached block points to it */

typedef struct block_s {
    uint64_t ptr, size;
    uint32_t stack, holder; /* holder: index of the definite block (indirect) */
    uint8_t kind;           /* 0 unreached, else ps_leak_kind */
    uint8_t flags;
    uint8_t linker;
} block_t;

enum { MODE_REACH, MODE_POINTED, MODE_FLOOD };

typedef struct scan_s {
    block_t *b;
    uint64_t n, lo, hi; /* blocks sorted by ptr; [lo, hi) spans them all */
    uint32_t *work;
    uint64_t nwork;
    int mode;
    uint32_t cur;       /* MODE_POINTED: the block scanned; MODE_FLOOD: the holder */
    uint64_t root_bytes;
    unsigned char *bounce;
    int vm_ok;          /* process_vm_readv works here */
} scan_t;

#define BOUNCE (64u << 10)

static void sort_blocks(block_t *b, uint64_t n)
{
    /* heapsort: qsort may call malloc, and this runs with the live set locked */
    if (n < 2)
        return;
    for (uint64_t start = n / 2; start-- > 0;) {
        for (uint64_t i = start;;) {
            uint64_t c = 2 * i + 1;
            if (c >= n)
                break;
            if (c + 1 < n && b[c + 1].ptr > b[c].ptr)
                c++;
            if (b[i].ptr >= b[c].ptr)
                break;
            block_t t = b[i];
            b[i] = b[c];
            b[c] = t;
            i = c;
        }
    }
    for (uint64_t end = n - 1; end > 0; end--) {
        block_t t = b[0];
        b[0] = b[end];
        b[end] = t;
        for (uint64_t i = 0;;) {
            uint64_t c = 2 * i + 1;
            if (c >= end)
                break;
            if (c + 1 < end && b[c + 1].ptr > b[c].ptr)
                c++;
            if (b[i].ptr >= b[c].ptr)
                break;
            t = b[i];
            b[i] = b[c];
            b[c] = t;
            i = c;
        }
    }
}

/* Index of the block holding address w, or UINT64_MAX. */
static uint64_t find_block(const scan_t *S, uint64_t w)
{
    if (w < S->lo || w >= S->hi)
        return UINT64_MAX;
    uint64_t l = 0, h = S->n;
    while (l < h) {
        uint64_t m = l + (h - l) / 2;
        if (S->b[m].ptr <= w)
            l = m + 1;
        else
            h = m;
    }
    if (!l)
        return UINT64_MAX;
    const block_t *b = &S->b[l - 1];
    return w == b->ptr || w - b->ptr < b->size ? l - 1 : UINT64_MAX;
}

static void scan_words(scan_t *S, const uint64_t *p, uint64_t nw, uint32_t rflags)
{
    for (uint64_t k = 0; k < nw; k++) {
        uint64_t w = p[k];
        if (w < S->lo || w >= S->hi)
            continue;
        uint64_t i = find_block(S, w);
        if (i == UINT64_MAX)
            continue;
        block_t *c = &S->b[i];
        int start = w == c->ptr;
        if (!start && (rflags & R_START_ONLY))
            continue;
        switch (S->mode) {
        case MODE_REACH:
            if (start)
                c->flags |= B_START;
            if (!c->kind) {
                c->kind = PS_LEAK_REACHABLE;
                S->work[S->nwork++] = (uint32_t)i;
            }
            break;
        case MODE_POINTED:
            if (!c->kind && i != S->cur)
                c->flags |= B_POINTED;
            break;
        default: /* MODE_FLOOD */
            if (c->kind == PS_LEAK_REACHABLE)
                break;
            if (start)
                c->flags |= B_START;
            if (!c->kind) {
                c->kind = PS_LEAK_INDIRECT;
                c->holder = S->cur;
                S->work[S->nwork++] = (uint32_t)i;
            }
        }
    }
}

static void scan_block(scan_t *S, uint64_t i)
{
    const block_t *b = &S->b[i];
    scan_words(S, (const uint64_t *)(uintptr_t)b->ptr, b->size / 8, 0);
}

static void scan_drain(scan_t *S)
{
    while (S->nwork)
        scan_block(S, S->work[--S->nwork]);
}

static void scan_range(scan_t *S, const range_t *r)
{
    S->root_bytes += r->hi - r->lo;
    if (!(r->flags & R_SAFE) || !S->vm_ok) {
        scan_words(S, (const uint64_t *)r->lo, (r->hi - r->lo) / 8, r->flags);
        return;
    }
    pid_t pid = getpid();
    for (uintptr_t a = r->lo; a < r->hi;) {
        size_t len = r->hi - a < BOUNCE ? r->hi - a : BOUNCE;
        struct iovec local = {S->bounce, len}, remote = {(void *)a, len};
        ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (got <= 0) {
            if (got < 0 && (errno == ENOSYS || errno == EPERM) && a == r->lo) {
                /* no process_vm_readv here (seccomp): read directly from now on */
                S->vm_ok = 0;
                scan_words(S, (const uint64_t *)r->lo, (r->hi - r->lo) / 8, r->flags);
                return;
            }
            a += prim_page_size() - (a & (prim_page_size() - 1)); /* unmapped page: skip it */
            continue;
        }
        scan_words(S, (const uint64_t *)S->bounce, (uint64_t)got / 8, r->flags);
        a += (uintptr_t)got & ~(uintptr_t)7;
        if ((uintptr_t)got < 8)
            a += 8;
    }
}

/* ---- aggregation ----------------------------------------------------------------------- */

typedef struct group_s {
    uint32_t kind, stack, holder, used;
    uint64_t blocks, bytes, possible;
} group_t;

static group_t *group_get(group_t *t, uint64_t cap, uint32_t kind, uint32_t stack,
                          uint32_t holder)
{
    uint64_t h = ((uint64_t)stack * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)holder << 7) ^ kind;
    h ^= h >> 29;
    for (uint64_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        group_t *g = &t[i];
        if (!g->used) {
            *g = (group_t){kind, stack, holder, 1, 0, 0, 0};
            return g;
        }
        if (g->kind == kind && g->stack == stack && g->holder == holder)
            return g;
    }
}

/* ---- the exit scan --------------------------------------------------------------------- */

static void put_rec(unsigned char *buf, uint32_t *pos, const void *rec, uint32_t len)
{
    memcpy(buf + *pos, rec, len);
    *pos += len;
}

static PS_NOINLINE void leakscan_do(uintptr_t sp, uint64_t t0)
{
    roots_t R = {.r = imem_alloc(MAX_RANGES * sizeof(range_t)), .self_tid = prim_gettid()};
    scan_t S = {.bounce = imem_alloc(BOUNCE), .vm_ok = 1};
    if (!R.r || !S.bounce) {
        PS_WARN("out of memory for the leak scan; no leak records");
        goto out_mem;
    }
    /* the calling thread: from its stack pointer to the top of its stack */
    const tstate_t *self = shim_self_state();
    if (self && self->stack_hi > sp)
        roots_add(&R, sp, self->stack_hi, 0);
    dl_iterate_phdr(roots_modules, &R);
    tstate_foreach(roots_thread, &R);

    const char *supp = NULL;
    {
        const char *(*fn)(void) =
            (const char *(*)(void))(uintptr_t)dlsym(RTLD_DEFAULT, "__lsan_default_suppressions");
        if (fn)
            supp = fn();
    }
    uint32_t supp_len = supp ? (uint32_t)strnlen(supp, PS_LEAK_SUPP_MAX) : 0;

    liveset_lock_all();
    uint64_t n = liveset_count();
    liveset_entry_t *ents = imem_alloc((n ? n : 1) * sizeof *ents);
    S.b = imem_alloc((n ? n : 1) * sizeof *S.b);
    S.work = imem_alloc((n ? n : 1) * sizeof *S.work);
    uint64_t gcap = 64;
    while (gcap < 2 * n + 64)
        gcap *= 2;
    group_t *groups = imem_alloc(gcap * sizeof *groups);
    if (!ents || !S.b || !S.work || !groups || n > UINT32_MAX) {
        liveset_unlock_all();
        PS_WARN("out of memory for the leak scan of %llu blocks; no leak records",
                (unsigned long long)n);
        imem_free(ents);
        imem_free(S.b);
        imem_free(S.work);
        imem_free(groups);
        goto out_mem;
    }
    n = liveset_export(ents, n);
    for (uint64_t i = 0; i < n; i++)
        S.b[i] = (block_t){.ptr = ents[i].ptr, .size = ents[i].size, .stack = ents[i].stack,
                           .linker = (ents[i].flags & LIVESET_F_LINKER) != 0};
    imem_free(ents);
    S.n = n;
    sort_blocks(S.b, n);
    if (n) {
        S.lo = S.b[0].ptr;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t end = S.b[i].ptr + (S.b[i].size ? S.b[i].size : 1);
            if (end > S.hi)
                S.hi = end;
        }
    }

    /* 1. roots */
    S.mode = MODE_REACH;
    for (uint64_t i = 0; i < n; i++)
        if (S.b[i].linker) {
            S.b[i].kind = PS_LEAK_REACHABLE;
            S.b[i].flags |= B_START;
            S.work[S.nwork++] = (uint32_t)i;
        }
    scan_drain(&S);
    for (uint32_t k = 0; k < R.n; k++) {
        scan_range(&S, &R.r[k]);
        scan_drain(&S);
    }
    /* 2. who is pointed to by an unreached block */
    S.mode = MODE_POINTED;
    for (uint64_t i = 0; i < n; i++)
        if (!S.b[i].kind) {
            S.cur = (uint32_t)i;
            scan_block(&S, i);
        }
    /* 3. definite leaks and what they hold; 4. cycles */
    S.mode = MODE_FLOOD;
    for (int pass = 0; pass < 2; pass++)
        for (uint64_t i = 0; i < n; i++) {
            block_t *b = &S.b[i];
            if (b->kind || (pass == 0 && (b->flags & B_POINTED)))
                continue;
            b->kind = PS_LEAK_DEFINITE;
            b->holder = (uint32_t)i;
            S.cur = (uint32_t)i;
            scan_block(&S, i);
            scan_drain(&S);
        }
    liveset_unlock_all();

    ps_rec_leak_scan_t hd = {.h = {PS_REC_LEAK_SCAN, 0, sizeof hd},
                             .ts = t0,
                             .blocks = n,
                             .root_bytes = S.root_bytes,
                             .untracked = liveset_untracked()};
    hd.flags = (hd.untracked ? PS_LEAK_F_UNTRACKED : 0) | (R.overflow ? PS_LEAK_F_RANGES : 0);
    uint64_t ngroups = 0;
    for (uint64_t i = 0; i < n; i++) {
        const block_t *b = &S.b[i];
        uint32_t holder = b->kind == PS_LEAK_INDIRECT ? S.b[b->holder].stack : 0;
        group_t *g = group_get(groups, gcap, b->kind, b->stack, holder);
        if (!g->blocks)
            ngroups++;
        g->blocks++;
        g->bytes += b->size;
        int possible = b->kind != PS_LEAK_DEFINITE && !(b->flags & B_START);
        g->possible += (uint64_t)possible;
        hd.possible_blocks += (uint64_t)possible;
        switch (b->kind) {
        case PS_LEAK_DEFINITE:
            hd.definite_blocks++;
            hd.definite_bytes += b->size;
            break;
        case PS_LEAK_INDIRECT:
            hd.indirect_blocks++;
            hd.indirect_bytes += b->size;
            break;
        default:
            hd.reachable_blocks++;
            hd.reachable_bytes += b->size;
        }
    }
    hd.groups = ngroups;
    hd.duration_ns = prim_now_ns() - t0;
    uint64_t total = sizeof hd + ngroups * sizeof(ps_rec_leak_t) +
                     (supp_len ? sizeof(ps_rec_leak_supp_t) + supp_len : 0);
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
        writer_set_final_records(buf, pos); /* the writer owns buf now */
    } else {
        PS_WARN("out of memory for the leak records");
    }
    imem_free(S.b);
    imem_free(S.work);
    imem_free(groups);
out_mem:
    imem_free(R.r);
    imem_free(S.bounce);
}

void leakscan_run(void)
{
    /* Spill the callee-saved registers into this frame, so pointers held only in registers
     * by our callers are on the stack range scanned from here. */
    __builtin_unwind_init();
    volatile char here = 0;
    leakscan_do((uintptr_t)&here & ~(uintptr_t)7, prim_now_ns());
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
    if (!options.leak_check)
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
