/* unwind.c -- see unwind.h. */
#include <config.h>

#include "unwind.h"

#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <immintrin.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <libunwind.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bootstrap.h"
#include "imem.h"
#include "log.h"
#include "options.h"
#include "perfshim/compiler.h"
#include "perfshim/errors.h"
#include "prim.h"

/* libunwind is loaded with dlopen(RTLD_LOCAL), never as a NEEDED library of the shim (issue
 * 12): libunwind exports the _Unwind_* ABI too, and as a dependency of a preloaded library it
 * would come before libgcc_s in the global scope, so the app's C++ exceptions would run in
 * libunwind's unwinder, under the shim's lock hooks. Loaded locally, its symbols bind for the
 * shim's calls (below) only; the app's stay with libgcc_s, exactly as natively. (Debian's
 * libunwind.a is not PIC, so it cannot be linked into the shim instead.) Resolved once in
 * unwind_init; without libunwind no stack is recorded (one warning). */
#define PS_UNW_NAME_(x) #x
#define PS_UNW_NAME(x) PS_UNW_NAME_(x) /* the name a libunwind macro expands to (_ULx86_64_...) */
static int (*unw_backtrace_fn)(void **, int);
/* the cursor API, for the walks that fill the stack cache (unwind.h) */
static int (*unw_getcontext_fn)(unw_context_t *);
static int (*unw_init_local_fn)(unw_cursor_t *, unw_context_t *);
static int (*unw_step_fn)(unw_cursor_t *);
static int (*unw_get_reg_fn)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
static int (*unw_get_save_loc_fn)(unw_cursor_t *, int, unw_save_loc_t *);
static int (*unw_is_signal_frame_fn)(unw_cursor_t *);

/* [lo, hi): the shim's mapped range; frames there are the hook's own. */
static uintptr_t self_lo, self_hi;
/* [lo, hi): libunwind's (its own module, dlopened), found once at init (no dladdr later: it takes the loader's lock) */
static uintptr_t unw_lo, unw_hi;
/* [lo, hi): the C library's and the dynamic linker's (unwind_is_libc) */
static uintptr_t libc_lo, libc_hi, ld_lo, ld_hi;
/* [lo, hi): the allocator's module when it is not the C library's (jemalloc preloaded or
 * linked, an executable with its own malloc): the module of the real malloc and of the one
 * the program calls. Found once at init. */
static uintptr_t alloc_base[2];
static uintptr_t alloc_lo[2], alloc_hi[2];
/* libunwind's TLS (dynamic TLS: it is dlopened) exists for this thread: it has unwound once.
 * Its first use allocates the block with malloc (__tls_get_addr); see unwind_first_ok. */
PS_TLS unsigned char unwind_tls_ready;
PS_TLS unsigned char unwind_first_pending;
static uint64_t shallow;

PS_TLS int unwind_in_loader;
/* The state whose bounds this thread looked up already (found or not). */
static PS_TLS const tstate_t *bounds_for;

/* ---- dl_iterate_phdr: pass-through, marks "inside the loader's lock" ------------------------ */
typedef int (*dlip_cb_t)(struct dl_phdr_info *, size_t, void *);
typedef int (*dlip_t)(dlip_cb_t, void *);
static dlip_t real_dlip;

static PS_NOINLINE PS_COLD dlip_t dlip_resolve(void)
{
    dlip_t f = (dlip_t)dlsym(RTLD_NEXT, "dl_iterate_phdr");
    __atomic_store_n(&real_dlip, f, __ATOMIC_RELEASE);
    return f;
}

PS_EXPORT int dl_iterate_phdr(dlip_cb_t cb, void *arg)
{
    dlip_t f = __atomic_load_n(&real_dlip, __ATOMIC_ACQUIRE);
    if (PS_UNLIKELY(!f) && !(f = dlip_resolve()))
        return 0; /* cannot happen with glibc: it defines the function */
    unwind_in_loader++;
    int r = f(cb, arg);
    unwind_in_loader--;
    return r;
}

static void module_range(const struct dl_phdr_info *info, uintptr_t *lo_out, uintptr_t *hi_out)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (!*lo_out || lo < *lo_out)
            *lo_out = lo;
        if (hi > *hi_out)
            *hi_out = hi;
    }
}

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    if (info->dlpi_addr == (uintptr_t)arg)
        module_range(info, &self_lo, &self_hi);
    else if (info->dlpi_name && strstr(info->dlpi_name, "libunwind"))
        module_range(info, &unw_lo, &unw_hi);
    else if (info->dlpi_name && strstr(info->dlpi_name, "/libc.so"))
        module_range(info, &libc_lo, &libc_hi);
    else if (info->dlpi_name && strstr(info->dlpi_name, "/ld-linux"))
        module_range(info, &ld_lo, &ld_hi);
    for (int i = 0; i < 2; i++)
        if (alloc_base[i] && info->dlpi_addr == alloc_base[i] && info->dlpi_addr != (uintptr_t)arg &&
            !(info->dlpi_name && strstr(info->dlpi_name, "/libc.so")))
            module_range(info, &alloc_lo[i], &alloc_hi[i]);
    return 0;
}

int unwind_is_libunwind(uintptr_t ra)
{
    return ra >= unw_lo && ra < unw_hi;
}

int unwind_is_libc(uintptr_t ra)
{
    return (ra >= libc_lo && ra < libc_hi) || (ra >= ld_lo && ra < ld_hi) ||
           (ra >= self_lo && ra < self_hi);
}

/* libunwind (1.6, x86_64) validates the addresses it reads when it falls back from DWARF
 * to frame-pointer guesses by writing one byte of them into a pipe it opens at init (and
 * reopens, at the lowest free numbers, when a read from it fails): descriptors the app can
 * close and reuse, so libunwind would then write process memory into the app's files and read
 * from them (issue 12). Every read goes through the address space's access_mem accessor, so
 * the shim replaces it with one that needs no descriptor: a page already seen readable by
 * this thread (a small per-thread cache) is read directly, any other read is made with
 * process_vm_readv, which fails instead of faulting (where it is refused, e.g. by seccomp,
 * a page is taken as readable when mincore says it is mapped). libunwind's own accessor is
 * then never called for a read, so the pipe it opened at init is closed, unused. */
static unw_accessors_t *acc;
static int (*orig_access_mem)(unw_addr_space_t, unw_word_t, unw_word_t *, int, void *);
static int vm_read_refused;
/* Pages this thread found readable during its current capture (a page seen in an earlier one
 * may be unmapped since: unwind_capture starts a new generation, one increment). */
#define PS_VALID_PAGES 8
static PS_TLS uintptr_t valid_pages[PS_VALID_PAGES];
static PS_TLS uint32_t valid_gens[PS_VALID_PAGES];
static PS_TLS uint32_t valid_gen;
static PS_TLS unsigned valid_next;

/* A page that is mapped (mincore), for where process_vm_readv is refused: what a PROT_NONE
 * page would fault on is then not caught, as with libunwind's own mincore check. */
static int page_mapped(uintptr_t page, uintptr_t last)
{
    unsigned char vec[2];
    return mincore((void *)page, last - page + 4096, vec) == 0;
}

/* The stack of the thread now unwinding (unwind_capture): reads inside it are plain loads,
 * as libunwind's own are (unwind_safe has checked that sp lies in it). */
static PS_TLS uintptr_t unw_stack_lo, unw_stack_hi;

static int access_mem_checked(unw_addr_space_t as, unw_word_t addr, unw_word_t *val,
                              int write, void *arg)
{
    if (write)
        return orig_access_mem(as, addr, val, write, arg);
    if (PS_LIKELY(addr >= unw_stack_lo && addr + sizeof *val <= unw_stack_hi)) {
        *val = *(const unw_word_t *)addr;
        return 0;
    }
    uintptr_t page = addr & ~(uintptr_t)4095, last = (addr + sizeof *val - 1) & ~(uintptr_t)4095;
    if (!page)
        return -UNW_EINVAL;
    if (page == last)
        for (unsigned i = 0; i < PS_VALID_PAGES; i++)
            if (valid_pages[i] == page && valid_gens[i] == valid_gen) {
                *val = *(const unw_word_t *)addr;
                return 0;
            }
    int saved = errno, rc = 0; /* the app's errno stays as its call left it */
    int refused = __atomic_load_n(&vm_read_refused, __ATOMIC_RELAXED);
    if (refused || prim_read_self(val, (const void *)addr, sizeof *val) != 0) {
        if (!refused && errno != ENOSYS && errno != EPERM) {
            rc = -UNW_EINVAL; /* not readable */
        } else {
            __atomic_store_n(&vm_read_refused, 1, __ATOMIC_RELAXED);
            if (page_mapped(page, last))
                *val = *(const unw_word_t *)addr;
            else
                rc = -UNW_EINVAL;
        }
    }
    errno = saved;
    if (rc)
        return rc;
    if (page == last) {
        valid_pages[valid_next] = page;
        valid_gens[valid_next] = valid_gen;
        valid_next = (valid_next + 1) % PS_VALID_PAGES;
    }
    return 0;
}

/* The pipe libunwind's init opens takes the two lowest free descriptors, which a probe pipe
 * opened and closed just before finds; they are closed once they are seen to be one
 * non-blocking pipe (an app thread's descriptors opened meanwhile are left alone). */
static int is_unw_pipe(int a, int b)
{
    struct stat sa, sb;
    if (fstat(a, &sa) != 0 || fstat(b, &sb) != 0 || !S_ISFIFO(sa.st_mode) ||
        sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev)
        return 0;
    int fa = fcntl(a, F_GETFL), fb = fcntl(b, F_GETFL);
    return fa >= 0 && fb >= 0 && (fa & O_NONBLOCK) && (fb & O_NONBLOCK) &&
           (fcntl(a, F_GETFD) & FD_CLOEXEC) && (fcntl(b, F_GETFD) & FD_CLOEXEC);
}

void unwind_init(void)
{
    void *h = dlopen(PS_LIBUNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
    unw_accessors_t *(*get_acc)(unw_addr_space_t) = NULL;
    int (*set_caching)(unw_addr_space_t, unw_caching_policy_t) = NULL;
    unw_addr_space_t *local_as = NULL;
    if (h) {
        *(void **)&unw_backtrace_fn = dlsym(h, "unw_backtrace");
        *(void **)&get_acc = dlsym(h, PS_UNW_NAME(unw_get_accessors));
        *(void **)&set_caching = dlsym(h, PS_UNW_NAME(unw_set_caching_policy));
        local_as = (unw_addr_space_t *)dlsym(h, PS_UNW_NAME(unw_local_addr_space));
    }
    if (h && unw_backtrace_fn) {
        *(void **)&unw_getcontext_fn = dlsym(h, PS_UNW_NAME(unw_tdep_getcontext));
        *(void **)&unw_init_local_fn = dlsym(h, PS_UNW_NAME(unw_init_local));
        *(void **)&unw_get_reg_fn = dlsym(h, PS_UNW_NAME(unw_get_reg));
        *(void **)&unw_get_save_loc_fn = dlsym(h, PS_UNW_NAME(unw_get_save_loc));
        *(void **)&unw_is_signal_frame_fn = dlsym(h, PS_UNW_NAME(unw_is_signal_frame));
        *(void **)&unw_step_fn = dlsym(h, PS_UNW_NAME(unw_step));
        if (!unw_getcontext_fn || !unw_init_local_fn || !unw_get_reg_fn || !unw_get_save_loc_fn ||
            !unw_is_signal_frame_fn)
            unw_step_fn = NULL; /* no cache: every stack through unw_backtrace */
    }
    if (!unw_backtrace_fn || !get_acc || !set_caching || !local_as) {
        unw_backtrace_fn = NULL;
        PS_WARN("cannot load %s (%s); allocations are recorded without stacks",
                PS_LIBUNWIND_SONAME, h ? "a symbol is missing" : "dlopen failed");
    } else {
        int probe[2];
        int probed = pipe2(probe, O_CLOEXEC) == 0;
        if (probed) {
            close(probe[0]);
            close(probe[1]);
        }
        acc = get_acc(*local_as); /* libunwind's init: its pipe */
        if (acc && acc->access_mem) {
            orig_access_mem = acc->access_mem;
            acc->access_mem = access_mem_checked;
            if (probed && is_unw_pipe(probe[0], probe[1])) {
                close(probe[0]);
                close(probe[1]);
            }
        }
        set_caching(*local_as, UNW_CACHE_PER_THREAD);
    }
    if (!__atomic_load_n(&real_dlip, __ATOMIC_ACQUIRE))
        dlip_resolve();
    Dl_info di;
    void *called = dlsym(RTLD_DEFAULT, "malloc");
    if (real_malloc && dladdr((void *)(uintptr_t)real_malloc, &di))
        alloc_base[0] = (uintptr_t)di.dli_fbase;
    if (called && dladdr(called, &di))
        alloc_base[1] = (uintptr_t)di.dli_fbase;
    if (dladdr((void *)(uintptr_t)&unwind_capture, &di) && di.dli_fbase)
        dl_iterate_phdr(find_self, di.dli_fbase);
}

int unwind_first_ok(uintptr_t ra)
{
    for (int i = 0; i < 2; i++)
        if (ra >= alloc_lo[i] && ra < alloc_hi[i])
            return 0;
    return 1;
}

int unwind_capture(tstate_t *st, int max)
{
    uint64_t *ips = st->ips;
    unw_stack_lo = st->stack_lo;
    unw_stack_hi = st->stack_hi;
    /* straight into ips (PERFSHIM_MAX_DEPTH + 8 entries, void * sized): no buffer on the
     * app's stack */
    valid_gen++;
    int want = max + PS_UNWIND_MAX_SKIP;
    if (want > (int)PERFSHIM_MAX_DEPTH + PS_UNWIND_MAX_SKIP)
        want = (int)PERFSHIM_MAX_DEPTH + PS_UNWIND_MAX_SKIP;
    _Static_assert(sizeof(void *) == sizeof(uint64_t), "ips holds pointers");
    if (PS_UNLIKELY(!unw_backtrace_fn))
        return 0;
    int n;
    if (PS_LIKELY(unwind_tls_ready)) {
        n = unw_backtrace_fn((void **)ips, want);
    } else { /* its thread block comes from the shim's pool (bootstrap.h) */
        unwind_first_pending = 1;
        n = unw_backtrace_fn((void **)ips, want);
        unwind_first_pending = 0;
        unwind_tls_ready = 1;
    }
    int skip = 0;
    while (skip < n && (uintptr_t)ips[skip] >= self_lo && (uintptr_t)ips[skip] < self_hi)
        skip++;
    int out = n - skip < max ? n - skip : max;
    if (skip && out > 0)
        memmove(ips, ips + skip, (size_t)out * sizeof *ips);
    return out > 0 ? out : 0;
}

/* ---- the stack cache's walk (unwind.h) ------------------------------------------------ */

/* The cursor and its context live next to the thread's cache, not on the app's stack. */
typedef struct ucache_block_s {
    ucache_t c;
    unw_context_t ctx;
    unw_cursor_t cur;
    ucache_scratch_t scratch; /* ucache_seal's */
} ucache_block_t;

static void ucache_choose(void);
/* ucache_lookup_avx2's labels (its comment), found by ucache_choose; w NULL: not used. */
typedef struct ucache_tabs_s {
    const void *const *w; /* [UCACHE_WSTRAIGHT + 1]: the windows' entry at wr */
    const void *const *p; /* [UCACHE_PSTRAIGHT + 1]: the pairs' entry at pr */
    const void *deep;     /* a deep entry's: the chain */
} ucache_tabs_t;
static ucache_tabs_t ucache_avx2_tabs;

/* Sorts e's checks by address (a slot read twice is checked once) and lays them out as
 * ucache_lookup reads them (unwind.h): the windows of two adjacent slots, then the single
 * slots in pairs (an odd one paired with a copy of the first), and how many of each are
 * checked by the straight-line code and by the loop before it. */
void ucache_seal(ucache_scratch_t *b, ucache_ent_t *e)
{
    ucache_choose();
    uint32_t n = 0;
    for (uint32_t i = 0; i < e->n; i++) { /* insertion sort into the scratch (n <= 129) */
        int32_t o = e->off[i];
        uint32_t j = n;
        while (j > 0 && b->toff[j - 1] > o)
            j--;
        if (j > 0 && b->toff[j - 1] == o)
            continue; /* the same slot: the same value, read once in one walk */
        memmove(b->toff + j + 1, b->toff + j, (n - j) * sizeof *b->toff);
        memmove(b->tval + j + 1, b->tval + j, (n - j) * sizeof *b->tval);
        b->toff[j] = o;
        b->tval[j] = e->val[i];
        n++;
    }
    /* from here on e->off and e->val (the union's other side) are not read */
    uint32_t nw = 0, ns = 0;
    for (uint32_t i = 0; i < n; i++) /* windows: b->twin[k] the first slot's index */
        if (i + 1 < n && b->toff[i + 1] == b->toff[i] + 8) {
            b->twin[nw++] = i;
            b->toff[i + 1] = INT32_MIN; /* taken (the first keeps its offset) */
            i++;
        }
    ns = n - 2 * nw;
    uint32_t np = (ns + 1) / 2;
    int32_t *o = (int32_t *)(e->chk + 2 * nw + 2 * np);
    for (uint32_t k = 0; k < nw; k++) {
        uint32_t i = b->twin[k];
        o[k] = b->toff[i];
        e->chk[2 * k] = b->tval[i];
        e->chk[2 * k + 1] = b->tval[i + 1];
        b->toff[i] = INT32_MIN;
    }
    uint32_t s = 0, first = 0;
    for (uint32_t i = 0; i < n; i++) /* then the single slots */
        if (b->toff[i] != INT32_MIN) {
            if (!s)
                first = i;
            o[nw + s] = b->toff[i];
            e->chk[2 * nw + s] = b->tval[i];
            s++;
        }
    if (s < 2 * np) { /* odd: the first single again */
        o[nw + s] = b->toff[first];
        e->chk[2 * nw + s] = b->tval[first];
    }
    /* the straight-line code takes UCACHE_WSTRAIGHT - 3 .. UCACHE_WSTRAIGHT windows when
     * there are more, the loop the rest in groups of 4; the pairs the same in groups of 2 */
    uint32_t wl = nw > UCACHE_WSTRAIGHT ? (nw - (UCACHE_WSTRAIGHT - 3)) / 4 : 0;
    uint32_t pl = np > UCACHE_PSTRAIGHT ? (np - (UCACHE_PSTRAIGHT - 1)) / 2 : 0;
    e->wl = (uint8_t)wl;
    e->wr = (uint8_t)(nw - 4 * wl);
    e->pl = (uint8_t)pl;
    e->pr = (uint8_t)(np - 2 * pl);
    e->deep = (uint8_t)(wl || pl);
    e->nw = (uint16_t)nw;
    e->oo = (uint16_t)(2 * nw + 2 * np);
    /* ucache_lookup_avx2's: where its parts start, and their data */
    e->o = (const int32_t *)(e->chk + e->oo);
    e->po = e->o + nw;
    e->pv = e->chk + 2 * nw;
#if defined(__x86_64__)
    if (ucache_avx2_tabs.w) {
        e->wj = e->deep ? ucache_avx2_tabs.deep : ucache_avx2_tabs.w[e->wr];
        e->pj = ucache_avx2_tabs.p[e->pr];
    }
#endif
}
_Static_assert((UCACHE_CHECKS + 1u) + (UCACHE_CHECKS + 2u) / 2u <= UCACHE_CHK_WORDS,
               "a sealed entry fits chk");

/* Straight-line code entered at count r (0..32, no range check: __builtin_unreachable past
 * it): TERM(r - 1) ... TERM(0), alternately into ac1 and ac0 (two chains, not one). For
 * the windows and the pairs of ucache_diff alike. */
#define UCACHE_CASE2(i, TERM)                                                                  \
    case i + 2:                                                                                \
        ac1 |= TERM(i + 1);                                                                    \
        __attribute__((fallthrough));                                                          \
    case i + 1:                                                                                \
        ac0 |= TERM(i);                                                                        \
        __attribute__((fallthrough));
#define UCACHE_STRAIGHT32(r, TERM)                                                             \
    switch (r) {                                                                               \
        UCACHE_CASE2(30, TERM) UCACHE_CASE2(28, TERM) UCACHE_CASE2(26, TERM)                   \
        UCACHE_CASE2(24, TERM) UCACHE_CASE2(22, TERM) UCACHE_CASE2(20, TERM)                   \
        UCACHE_CASE2(18, TERM) UCACHE_CASE2(16, TERM) UCACHE_CASE2(14, TERM)                   \
        UCACHE_CASE2(12, TERM) UCACHE_CASE2(10, TERM) UCACHE_CASE2(8, TERM)                    \
        UCACHE_CASE2(6, TERM) UCACHE_CASE2(4, TERM) UCACHE_CASE2(2, TERM)                      \
        UCACHE_CASE2(0, TERM)                                                                  \
    case 0:                                                                                    \
        break;                                                                                 \
    default:                                                                                   \
        __builtin_unreachable();                                                               \
    }

/* Every slot e checks holds the value it held (b: the hook's CFA): 0, else not 0. The loops
 * first (deep stacks only), then a jump into straight-line code at the windows' count, and
 * one at the pairs': no padding, no loop counter (issue 18: ~125 -> ~80 instructions per
 * malloc at churn_bench's depth 12 with frame pointers, callgrind). */
static PS_ALWAYS_INLINE uint64_t ucache_diff(const ucache_ent_t *e, const char *b, const int deep)
{
    const ucache_v2a_t *v = (const ucache_v2a_t *)e->chk;
    const int32_t *o = (const int32_t *)(e->chk + e->oo);
    ucache_v2a_t ac0 = {0, 0}, ac1 = {0, 0};
#define UCACHE_WIN(i) (*(const ucache_v2_t *)(b + o[i]) ^ v[i])
    unsigned wr = e->wr;
    if (deep && e->wl) { /* windows [wr, nw): groups of 4 */
        const int32_t *lo = o + wr, *le = lo + 4u * e->wl;
        const ucache_v2a_t *lv = v + wr;
        for (; lo != le; lo += 4, lv += 4) {
            ac0 |= (*(const ucache_v2_t *)(b + lo[0]) ^ lv[0]) |
                   (*(const ucache_v2_t *)(b + lo[2]) ^ lv[2]);
            ac1 |= (*(const ucache_v2_t *)(b + lo[1]) ^ lv[1]) |
                    (*(const ucache_v2_t *)(b + lo[3]) ^ lv[3]);
        }
    }
    UCACHE_STRAIGHT32(wr, UCACHE_WIN) /* (ucache_seal: wr <= UCACHE_WSTRAIGHT) */
#undef UCACHE_WIN
    _Static_assert(UCACHE_WSTRAIGHT == 32u, "32 cases");
    /* the pairs: two single slots a vector (movq, movhpd: SSE2) */
    const unsigned nw = e->nw;
    const ucache_v2a_t *pv = v + nw;
    const int32_t *po = o + nw;
#define UCACHE_PAIR(i)                                                                         \
    (((ucache_v2a_t)_mm_loadh_pd(                                                              \
         _mm_castsi128_pd(_mm_loadl_epi64((const __m128i *)(b + po[2 * (i)]))),                 \
         (const double *)(b + po[2 * (i) + 1]))) ^ pv[i])
    unsigned pr = e->pr;
    if (deep && e->pl) { /* pairs [pr, np): groups of 2 */
        unsigned k = pr, ke = pr + 2u * e->pl;
        for (; k != ke; k += 2) {
            ac0 |= UCACHE_PAIR(k);
            ac1 |= UCACHE_PAIR(k + 1);
        }
    }
    UCACHE_STRAIGHT32(pr, UCACHE_PAIR)
#undef UCACHE_PAIR
    _Static_assert(UCACHE_PSTRAIGHT == 32u, "32 cases");
    ac0 |= ac1;
    return ac0[0] | ac0[1];
}

/* ucache_lookup past the last entry found (or when it is deep: the loops): the entries of
 * the key's chain. */
static PS_NOINLINE ucache_ent_t *ucache_find_chain(ucache_t *c, uintptr_t ra, uintptr_t cfa)
{
    for (unsigned i = c->head[ucache_hash(ra, cfa)]; i;) {
        ucache_ent_t *e = &c->ent[i - 1];
        if (e->ra == ra && e->cfa == cfa && ucache_diff(e, (const char *)cfa, 1) == 0) {
            c->mru = e;
            return e;
        }
        i = e->next;
    }
    return NULL;
}

/* The last entry found, when it has no loop part: a leaf that needs no callee-saved register
 * and no frame; anything else a tail call. */
__attribute__((optimize("omit-frame-pointer"))) static ucache_ent_t *
ucache_lookup_sse2(ucache_t *c, uintptr_t ra, uintptr_t cfa)
{
    ucache_ent_t *e = c->mru;
    if (PS_LIKELY(e->ra == ra && e->cfa == cfa && !e->deep) &&
        PS_LIKELY(ucache_diff(e, (const char *)cfa, 0) == 0))
        return e;
    return ucache_find_chain(c, ra, cfa);
}

#if defined(__x86_64__)
/* The same with AVX2: two windows a 32-byte compare (their two 16-byte loads, one into the
 * upper half, one xor with their values, one or): 3 instructions a window, not 4; the single
 * slots as with SSE2; one vptest at the end. The windows' straight-line code has an entry
 * for each parity (an odd count checks window 0 alone at the end). Each part is entered by
 * one indirect jump to the address ucache_seal stored in the entry (ucache_ent_t.wj, pj:
 * labels of this function, ucache_avx2_tabs), with the offsets' and the pairs' addresses
 * stored too (o, po, pv): no switch's table lookup and range check, no address arithmetic,
 * and a deep entry's wj goes to the chain (issue 18: ~17 instructions a malloc, callgrind).
 * Called with ra 0 (never a hook's caller) it writes its labels' tables to *(ucache_tabs_t
 * *)cfa instead (ucache_choose). */

__attribute__((target("avx2"), optimize("omit-frame-pointer"), noinline, noclone)) static
ucache_ent_t *ucache_lookup_avx2(ucache_t *c, uintptr_t ra, uintptr_t cfa)
{
    static const void *const wtab[UCACHE_WSTRAIGHT + 1] = {
        &&w0,  &&w1,  &&w2,  &&w3,  &&w4,  &&w5,  &&w6,  &&w7,  &&w8,  &&w9,  &&w10,
        &&w11, &&w12, &&w13, &&w14, &&w15, &&w16, &&w17, &&w18, &&w19, &&w20, &&w21,
        &&w22, &&w23, &&w24, &&w25, &&w26, &&w27, &&w28, &&w29, &&w30, &&w31, &&w32};
    static const void *const ptab[UCACHE_PSTRAIGHT + 1] = {
        &&p0,  &&p1,  &&p2,  &&p3,  &&p4,  &&p5,  &&p6,  &&p7,  &&p8,  &&p9,  &&p10,
        &&p11, &&p12, &&p13, &&p14, &&p15, &&p16, &&p17, &&p18, &&p19, &&p20, &&p21,
        &&p22, &&p23, &&p24, &&p25, &&p26, &&p27, &&p28, &&p29, &&p30, &&p31, &&p32};
    static const void *const dtab[1] = {&&deep};
    _Static_assert(UCACHE_WSTRAIGHT == 32u && UCACHE_PSTRAIGHT == 32u, "33 labels each");
    ucache_ent_t *e = c->mru;
    if (PS_UNLIKELY(e->ra != ra || e->cfa != cfa)) {
        if (PS_UNLIKELY(ra == 0)) { /* ucache_choose: the tables */
            ucache_tabs_t *t = (ucache_tabs_t *)cfa;
            t->w = wtab;
            t->p = ptab;
            const void *d = dtab[0];
            __asm__("" : "+r"(d)); /* (a label's address, not a local's: GCC warned) */
            t->deep = d;
            return NULL;
        }
        return ucache_find_chain(c, ra, cfa);
    }
    const char *b = (const char *)cfa;
    const __m128i *v = (const __m128i *)e->chk;
    const int32_t *o = e->o, *po = e->po;
    const __m128i *pv = (const __m128i *)e->pv;
    __m256i w0 = _mm256_setzero_si256(), w1 = _mm256_setzero_si256();
    __m128i x0 = _mm_setzero_si128(), x1 = _mm_setzero_si128();
    goto *e->wj;
#define UA_P(acc, i)                                                                           \
    acc = _mm256_or_si256(                                                                     \
        acc, _mm256_xor_si256(                                                                 \
                 _mm256_inserti128_si256(                                                      \
                     _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(b + o[i]))),      \
                     _mm_loadu_si128((const __m128i *)(b + o[(i) + 1])), 1),                    \
                 _mm256_loadu_si256((const __m256i *)(v + (i)))))
w32: UA_P(w0, 30);
w30: UA_P(w1, 28);
w28: UA_P(w0, 26);
w26: UA_P(w1, 24);
w24: UA_P(w0, 22);
w22: UA_P(w1, 20);
w20: UA_P(w0, 18);
w18: UA_P(w1, 16);
w16: UA_P(w0, 14);
w14: UA_P(w1, 12);
w12: UA_P(w0, 10);
w10: UA_P(w1, 8);
w8: UA_P(w0, 6);
w6: UA_P(w1, 4);
w4: UA_P(w0, 2);
w2: UA_P(w1, 0);
    goto pairs;
w31: UA_P(w0, 29);
w29: UA_P(w1, 27);
w27: UA_P(w0, 25);
w25: UA_P(w1, 23);
w23: UA_P(w0, 21);
w21: UA_P(w1, 19);
w19: UA_P(w0, 17);
w17: UA_P(w1, 15);
w15: UA_P(w0, 13);
w13: UA_P(w1, 11);
w11: UA_P(w0, 9);
w9: UA_P(w1, 7);
w7: UA_P(w0, 5);
w5: UA_P(w1, 3);
w3: UA_P(w0, 1);
w1:
    x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(b + o[0])), _mm_load_si128(v));
w0:
pairs:;
#undef UA_P
#define UA_PAIR(i)                                                                             \
    _mm_xor_si128(_mm_castpd_si128(_mm_loadh_pd(                                              \
                      _mm_castsi128_pd(_mm_loadl_epi64((const __m128i *)(b + po[2 * (i)]))),    \
                      (const double *)(b + po[2 * (i) + 1]))),                                  \
                  _mm_load_si128(pv + (i)))
    goto *e->pj;
p32: x1 = _mm_or_si128(x1, UA_PAIR(31));
p31: x0 = _mm_or_si128(x0, UA_PAIR(30));
p30: x1 = _mm_or_si128(x1, UA_PAIR(29));
p29: x0 = _mm_or_si128(x0, UA_PAIR(28));
p28: x1 = _mm_or_si128(x1, UA_PAIR(27));
p27: x0 = _mm_or_si128(x0, UA_PAIR(26));
p26: x1 = _mm_or_si128(x1, UA_PAIR(25));
p25: x0 = _mm_or_si128(x0, UA_PAIR(24));
p24: x1 = _mm_or_si128(x1, UA_PAIR(23));
p23: x0 = _mm_or_si128(x0, UA_PAIR(22));
p22: x1 = _mm_or_si128(x1, UA_PAIR(21));
p21: x0 = _mm_or_si128(x0, UA_PAIR(20));
p20: x1 = _mm_or_si128(x1, UA_PAIR(19));
p19: x0 = _mm_or_si128(x0, UA_PAIR(18));
p18: x1 = _mm_or_si128(x1, UA_PAIR(17));
p17: x0 = _mm_or_si128(x0, UA_PAIR(16));
p16: x1 = _mm_or_si128(x1, UA_PAIR(15));
p15: x0 = _mm_or_si128(x0, UA_PAIR(14));
p14: x1 = _mm_or_si128(x1, UA_PAIR(13));
p13: x0 = _mm_or_si128(x0, UA_PAIR(12));
p12: x1 = _mm_or_si128(x1, UA_PAIR(11));
p11: x0 = _mm_or_si128(x0, UA_PAIR(10));
p10: x1 = _mm_or_si128(x1, UA_PAIR(9));
p9: x0 = _mm_or_si128(x0, UA_PAIR(8));
p8: x1 = _mm_or_si128(x1, UA_PAIR(7));
p7: x0 = _mm_or_si128(x0, UA_PAIR(6));
p6: x1 = _mm_or_si128(x1, UA_PAIR(5));
p5: x0 = _mm_or_si128(x0, UA_PAIR(4));
p4: x1 = _mm_or_si128(x1, UA_PAIR(3));
p3: x0 = _mm_or_si128(x0, UA_PAIR(2));
p2: x1 = _mm_or_si128(x1, UA_PAIR(1));
p1: x0 = _mm_or_si128(x0, UA_PAIR(0));
p0:;
#undef UA_PAIR
    const __m256i d = _mm256_or_si256(_mm256_or_si256(w0, w1),
                                      _mm256_zextsi128_si256(_mm_or_si128(x0, x1)));
    if (PS_LIKELY(_mm256_testz_si256(d, d)))
        return e;
    /* (the chain's SSE code after the upper halves were used; asm: GCC merged its own
     * vzeroupper's path with the early exit's, which has none) */
    __asm__ volatile("vzeroupper" ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                     "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
deep:
    return ucache_find_chain(c, ra, cfa);
}
#endif

/* ucache_lookup_avx2 where the CPU has it (chosen at the first seal, before any entry can be
 * found), else the SSE2 one. PERFSHIM_UCACHE_AVX2=0 (tests) keeps SSE2. */
ucache_ent_t *(*ucache_lookup_fn)(ucache_t *c, uintptr_t ra, uintptr_t cfa) = ucache_lookup_sse2;
static void ucache_choose(void)
{
#if defined(__x86_64__)
    static int chosen;
    if (__atomic_load_n(&chosen, __ATOMIC_RELAXED))
        return;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && options.ucache_avx2) {
        static ucache_ent_t none; /* ra 0: the lookup takes its miss path */
        ucache_t probe = {.mru = &none};
        ucache_lookup_avx2(&probe, 0, (uintptr_t)&ucache_avx2_tabs); /* its labels */
        __atomic_store_n(&ucache_lookup_fn, ucache_lookup_avx2, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&chosen, 1, __ATOMIC_RELAXED);
#endif
}

ucache_ent_t *ucache_claim(ucache_t *c, uintptr_t ra, uintptr_t cfa)
{
    unsigned v = c->victim;
    c->victim = (uint8_t)((v + 1) % UCACHE_ENTS);
    ucache_ent_t *e = &c->ent[v];
    if (e->chain) { /* off its chain (short: the entries of a few keys) */
        uint8_t *p = &c->head[e->chain - 1];
        while (*p != v + 1)
            p = &c->ent[*p - 1].next;
        *p = e->next;
    }
    if (e->calls) { /* the replaced stack's untimed allocations: to the acost table
                     * (rec_stack_walk, after the walk) */
        c->spill_id = e->id;
        c->spill_calls += e->calls;
        e->calls = 0;
    }
    e->ra = 0; /* unpublished until the stack has its id */
    e->cfa = cfa;
    e->n = 0;
    unsigned h = ucache_hash(ra, cfa);
    e->next = c->head[h];
    e->chain = (uint8_t)(h + 1);
    c->head[h] = (uint8_t)(v + 1);
    return e;
}

static uint64_t n_walks, n_cached;

void unwind_walk_counts(uint64_t *walks, uint64_t *cached)
{
    *walks = __atomic_load_n(&n_walks, __ATOMIC_RELAXED);
    *cached = __atomic_load_n(&n_cached, __ATOMIC_RELAXED);
}

/* A check of the slot at addr: it must lie in the thread's stack above the hook's frame
 * (readable for as long as the hook's caller's frames live). */
static int ucache_check(ucache_ent_t *e, const tstate_t *st, uintptr_t cfa, unw_word_t addr,
                        unw_word_t val)
{
    if (addr < cfa - 16 || addr + 8 > st->stack_hi || addr - (cfa - 16) > (uintptr_t)INT32_MAX ||
        (addr & 7) || e->n >= UCACHE_CHECKS)
        return 0;
    e->off[e->n] = (int32_t)(intptr_t)(addr - cfa);
    e->val[e->n] = val;
    e->n++;
    return 1;
}

/* The walk: st->ips as unw_backtrace fills them (the shim's own leading frames left out),
 * and the checks in *e while e is not NULL (set to NULL when the stack cannot be cached). */
static int walk(tstate_t *st, ucache_block_t *b, int max, uintptr_t ra, uintptr_t cfa,
                ucache_ent_t **ep)
{
    unw_cursor_t *cur = &b->cur;
    ucache_ent_t *e = NULL;
    int n = 0, skipped = 0;
    unw_word_t rbp = 0, rbp_loc = 0, checked_loc = 1;
    if (unw_getcontext_fn(&b->ctx) != 0 || unw_init_local_fn(cur, &b->ctx) < 0)
        return -1;
    for (;;) {
        unw_word_t ip;
        unw_save_loc_t loc = {.type = UNW_SLT_NONE};
        if (unw_get_reg_fn(cur, UNW_REG_IP, &ip) < 0) {
            e = NULL;
            break;
        }
        if (n == 0 && ip >= self_lo && ip < self_hi) {
            if (++skipped > PS_UNWIND_MAX_SKIP) { /* as unw_backtrace's limit: nothing */
                e = NULL;
                break;
            }
        } else {
            if (n == 0) { /* the hook's caller: the key */
                unw_word_t sp;
                if (ip == ra && unw_get_reg_fn(cur, UNW_REG_SP, &sp) == 0 && sp == cfa)
                    e = ucache_claim(&b->c, ra, cfa);
            } else if (e && (unw_get_save_loc_fn(cur, UNW_X86_64_RIP, &loc) < 0 ||
                             loc.type != UNW_SLT_MEMORY ||
                             !ucache_check(e, st, cfa, loc.u.addr, ip))) {
                e = NULL;
            }
            if (e && unw_is_signal_frame_fn(cur) > 0)
                e = NULL;
            /* the frame's rbp, for after the step: checked when its CFA was rbp + 16 */
            loc.type = UNW_SLT_NONE;
            if (e && (unw_get_save_loc_fn(cur, UNW_X86_64_RBP, &loc) < 0 ||
                      unw_get_reg_fn(cur, UNW_X86_64_RBP, &rbp) < 0))
                e = NULL;
            rbp_loc = loc.type == UNW_SLT_MEMORY ? loc.u.addr : 0;
            st->ips[n++] = ip;
            if (n >= max)
                break;
        }
        int r = unw_step_fn(cur);
        if (r == 0)
            break;
        if (r < 0) {
            e = NULL;
            break;
        }
        unw_word_t sp;
        if (e && n > 0 && (unw_get_reg_fn(cur, UNW_REG_SP, &sp) < 0 ||
                           (sp == rbp + 16 && rbp_loc != checked_loc &&
                            !ucache_check(e, st, cfa, rbp_loc, rbp))))
            e = NULL; /* (a frame-pointer frame whose rbp lives in no slot: not cached) */
        else if (e && n > 0 && sp == rbp + 16)
            checked_loc = rbp_loc;
    }
    *ep = e;
    return n;
}

int unwind_capture_cached(tstate_t *st, int max, uintptr_t ra, uintptr_t cfa, ucache_ent_t **fill)
{
    *fill = NULL;
    if (max > (int)UCACHE_MAX_FRAMES || !unw_step_fn || !st->stack_hi)
        return unwind_capture(st, max);
    ucache_block_t *b = (ucache_block_t *)st->ucache;
    if (PS_UNLIKELY(!b)) {
        b = imem_alloc(sizeof *b);
        if (!b)
            return unwind_capture(st, max);
        b->c.mru = &b->c.ent[0]; /* empty (ra 0): matches no hook's caller */
        st->ucache = &b->c;
    }
    unw_stack_lo = st->stack_lo;
    unw_stack_hi = st->stack_hi;
    valid_gen++;
    int n;
    ucache_ent_t *e;
    if (PS_LIKELY(unwind_tls_ready)) {
        n = walk(st, b, max, ra, cfa, &e);
    } else { /* its thread block comes from the shim's pool (bootstrap.h) */
        unwind_first_pending = 1;
        n = walk(st, b, max, ra, cfa, &e);
        unwind_first_pending = 0;
        unwind_tls_ready = 1;
    }
    if (n < 0)
        return unwind_capture(st, max);
    __atomic_add_fetch(&n_walks, 1, __ATOMIC_RELAXED);
    if (e && n > 0) {
        __atomic_add_fetch(&n_cached, 1, __ATOMIC_RELAXED);
        ucache_seal(&b->scratch, e);
        *fill = e;
    }
    return n;
}

int unwind_shallow(uint64_t *ips, uintptr_t ra)
{
    __atomic_fetch_add(&shallow, 1, __ATOMIC_RELAXED);
    ips[0] = ra;
    return 1;
}

uint64_t unwind_shallow_count(void)
{
    return __atomic_load_n(&shallow, __ATOMIC_RELAXED);
}

/* ---- the thread's stack bounds, from /proc/self/maps ------------------------------------- */

/* The stack that contains sp: a glibc thread stack (an rw mapping right above a ---p guard)
 * or the main thread's [stack] (down to RLIMIT_STACK, not below the mapping under it).
 * buf: scratch of cap bytes. 0 and [*lo, *hi), -1 (not found, or not a stack), -2 (no /proc). */
static int stack_bounds(uintptr_t sp, char *buf, size_t cap, uintptr_t *lo, uintptr_t *hi)
{
    uint32_t fl;
    int rc = prim_stack_bounds(sp, buf, cap, lo, hi, &fl);
    if (rc == -PS_E_OPEN)
        return -2;
    if (rc < 0)
        return -1;
    if (fl & PRIM_VMA_STACK)
        return 0;
    return (fl & (PRIM_VMA_R | PRIM_VMA_W)) == (PRIM_VMA_R | PRIM_VMA_W) &&
                   !(fl & PRIM_VMA_SHARED) && (fl & PRIM_VMA_GUARD_BELOW)
               ? 0
               : -1;
}

/* /proc/self/maps could not be opened (no /proc): stacks are unwound without the check, as
 * they were before it existed, rather than all recorded with their caller only. */
static int maps_unreadable;

int unwind_safe_slow(tstate_t *st, uintptr_t sp)
{
    if (unwind_in_loader)
        return 0;
    if (!st->stack_hi && bounds_for != st) {
        bounds_for = st;
        uintptr_t lo, hi;
        /* st->ips is free until the unwind: the read buffer (no stack used for it) */
        int rc = stack_bounds(sp, (char *)st->ips, sizeof st->ips, &lo, &hi);
        if (rc == 0) {
            st->stack_lo = lo;
            st->stack_hi = hi;
        } else if (rc == -2) {
            __atomic_store_n(&maps_unreadable, 1, __ATOMIC_RELAXED);
        }
    }
    if (!st->stack_hi && __atomic_load_n(&maps_unreadable, __ATOMIC_RELAXED))
        return 1;
    return sp < st->stack_hi && sp >= st->stack_lo + PS_UNWIND_STACK_BUDGET;
}
