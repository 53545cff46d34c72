/*
 * hooks_dl.c -- see hooks_dl.h.
 *
 * The rebinding works on what the loader left in memory: the object's PT_DYNAMIC (on glibc
 * the loader has already relocated its d_ptr values; an unrelocated one is below the load
 * bias and gets it added), its RELA tables, and PT_GNU_RELRO (those pages are read-only after
 * loading: made writable for the store and read-only again).
 */
#include <config.h>

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap.h"
#include "hooks_dl.h"
#include "imem.h"
#include "log.h"
#include "shim.h"

#if defined(__x86_64__)

/* Referenced from the thunk's assembly: hidden, and kept. */
#define PS_HIDDEN_DL __attribute__((visibility("hidden"), used))

typedef void *(*real_dlopen_t)(const char *, int);
void *ps_dl_open_deep(const char *file, int mode);
void *ps_dl_open_slow(const char *file, int mode);
PS_HIDDEN_DL real_dlopen_t ps_dl_real_dlopen;

/* The whole hook for a call without RTLD_DEEPBIND, or while the shim does not record: a jump,
 * so glibc sees the app's return address. endbr64 is a no-op on CPUs without IBT. */
_Static_assert(SHIM_ACTIVE == 2, "the thunk below compares shim_state with 2");
__asm__(".text\n"
        ".globl dlopen\n"
        ".type dlopen, @function\n"
        "dlopen:\n"
        "  .cfi_startproc\n"
        "  endbr64\n"
        "  mov ps_dl_real_dlopen(%rip), %rax\n"
        "  test %rax, %rax\n"
        "  jz ps_dl_open_slow\n"
        "  test $0x8, %esi\n" /* RTLD_DEEPBIND */
        "  jz 1f\n"
        "  cmpl $2, shim_state(%rip)\n"
        "  je ps_dl_open_deep\n"
        "1:\n"
        "  jmp *%rax\n"
        "  .cfi_endproc\n"
        ".size dlopen, .-dlopen\n");

#define PS_DL_MAX_OBJS 1024

/* name, the shim's function the library's reference is pointed at */
#define PS_DEEP_REBIND(X)                                                                      \
    X(malloc, malloc)                                                                          \
    X(calloc, calloc)                                                                          \
    X(realloc, dl_realloc_deep)                                                                \
    X(reallocarray, dl_reallocarray_deep)                                                      \
    X(free, dl_free_deep)                                                                      \
    X(posix_memalign, posix_memalign)                                                          \
    X(aligned_alloc, aligned_alloc)                                                            \
    X(memalign, memalign)                                                                      \
    X(valloc, valloc)                                                                          \
    X(pvalloc, pvalloc)

/* A block the shim never saw (its live set does not hold it): allocated through libc before
 * the rebinding. Only known with the live set; 1 if `p` is such a block. */
static int dl_unseen(void *p)
{
    if (!p || bootstrap_owns(p) || !options.leak_check ||
        __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) != SHIM_ACTIVE || !shim_owns_trace())
        return 0;
    liveset_block_t b; /* a look, not an event: nothing stamped */
    if (!liveset_remove((uint64_t)(uintptr_t)p, &b, NULL))
        return 1;
    liveset_insert(b.ptr, b.size, b.flags, NULL);
    return 0;
}

static void dl_free_deep(void *p)
{
    if (dl_unseen(p)) {
        real_free(p);
        return;
    }
    free(p);
}

/* realloc of an unseen block: the result is recorded as a new allocation (old_ptr 0). */
static void *dl_realloc_unseen(void *old, size_t n, size_t m, int array)
{
    int e = errno;
    tstate_t *st = hook_enter();
    errno = e;
    size_t size;
    int overflow = __builtin_mul_overflow(n, m, &size);
    uint64_t t0 = st ? shim_ts(st) : 0;
    uint64_t c0 = st ? acost_begin(st) : 0;
    void *p = array ? real_reallocarray(old, n, m) : real_realloc(old, size);
    uint64_t cost = acost_end(c0);
    if (!st)
        return p;
    e = errno;
    uint64_t t1 = shim_ts_tick(st); /* (the writer's periodic work, as for every heap event) */
    shim_live_realloc_begin(st, NULL, t1);
    shim_rec_realloc(st, array ? PS_FN_REALLOCARRAY : PS_FN_REALLOC, NULL, p,
                     overflow ? SIZE_MAX : size, t0, t1, cost);
    hook_leave();
    errno = e;
    return p;
}

static void *dl_realloc_deep(void *old, size_t size)
{
    if (dl_unseen(old))
        return dl_realloc_unseen(old, size, 1, 0);
    return realloc(old, size);
}

static void *dl_reallocarray_deep(void *old, size_t n, size_t m)
{
    if (dl_unseen(old) && real_reallocarray)
        return dl_realloc_unseen(old, n, m, 1);
    return reallocarray(old, n, m);
}

/* ---- the loaded objects before and after ----------------------------------------------- */

typedef struct dl_obj_s {
    ElfW(Addr) base;
    const ElfW(Phdr) *phdr;
    ElfW(Half) phnum;
    const char *name;
} dl_obj_t;

typedef struct dl_objs_s {
    dl_obj_t *v;
    size_t n, cap;
} dl_objs_t;

static int dl_collect(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    dl_objs_t *o = arg;
    if (o->n < o->cap)
        o->v[o->n++] = (dl_obj_t){info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum,
                                  info->dlpi_name};
    return 0;
}

static int dl_seen_before(const dl_objs_t *before, const ElfW(Phdr) *phdr)
{
    for (size_t i = 0; i < before->n; i++)
        if (before->v[i].phdr == phdr)
            return 1;
    return 0;
}

static uintptr_t dl_ptr(const dl_obj_t *o, ElfW(Addr) v)
{
    return v < o->base ? o->base + v : v;
}

/* Points one GOT entry at `target` (RELRO pages made writable for the store). */
static int dl_store(void **slot, void *target, uintptr_t relro_lo, uintptr_t relro_hi)
{
    uintptr_t a = (uintptr_t)slot, page = prim_page_size();
    uintptr_t pg = a & ~(page - 1);
    int ro = a >= relro_lo && a < relro_hi;
    if (ro && prim_protect((void *)pg, page, 1) != 0)
        return 0;
    __atomic_store_n(slot, target, __ATOMIC_RELEASE);
    if (ro)
        prim_protect((void *)pg, page, 0);
    return 1;
}

/* The rebinding of one object loaded by a RTLD_DEEPBIND dlopen (handle h). Returns the number
 * of entries pointed at the shim. */
static unsigned dl_rebind(const dl_obj_t *o, void *h)
{
    const ElfW(Dyn) *dyn = NULL;
    uintptr_t lo = UINTPTR_MAX, hi = 0, relro_lo = 0, relro_hi = 0, page = prim_page_size();
    for (ElfW(Half) i = 0; i < o->phnum; i++) {
        const ElfW(Phdr) *ph = &o->phdr[i];
        if (ph->p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(o->base + ph->p_vaddr);
        else if (ph->p_type == PT_LOAD) {
            if (o->base + ph->p_vaddr < lo)
                lo = o->base + ph->p_vaddr;
            if (o->base + ph->p_vaddr + ph->p_memsz > hi)
                hi = o->base + ph->p_vaddr + ph->p_memsz;
        } else if (ph->p_type == PT_GNU_RELRO) {
            relro_lo = (o->base + ph->p_vaddr) & ~(page - 1);
            relro_hi = (o->base + ph->p_vaddr + ph->p_memsz) & ~(page - 1);
        }
    }
    if (!dyn)
        return 0;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    size_t strsz = 0, relasz = 0, jmprelsz = 0, relaent = sizeof(ElfW(Rela));
    const ElfW(Rela) *rela = NULL, *jmprel = NULL;
    int pltrel_is_rela = 1;
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: symtab = (const ElfW(Sym) *)dl_ptr(o, d->d_un.d_ptr); break;
        case DT_STRTAB: strtab = (const char *)dl_ptr(o, d->d_un.d_ptr); break;
        case DT_STRSZ: strsz = d->d_un.d_val; break;
        case DT_RELA: rela = (const ElfW(Rela) *)dl_ptr(o, d->d_un.d_ptr); break;
        case DT_RELASZ: relasz = d->d_un.d_val; break;
        case DT_RELAENT: relaent = d->d_un.d_val; break;
        case DT_JMPREL: jmprel = (const ElfW(Rela) *)dl_ptr(o, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: jmprelsz = d->d_un.d_val; break;
        case DT_PLTREL: pltrel_is_rela = d->d_un.d_val == DT_RELA; break;
        default: break;
        }
    }
    if (!symtab || !strtab || relaent != sizeof(ElfW(Rela)) || !pltrel_is_rela)
        return 0;
    unsigned n = 0;
    const ElfW(Rela) *tabs[2] = {rela, jmprel};
    size_t counts[2] = {rela ? relasz / relaent : 0, jmprel ? jmprelsz / relaent : 0};
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < counts[t]; i++) {
            const ElfW(Rela) *r = &tabs[t][i];
            unsigned type = (unsigned)ELF64_R_TYPE(r->r_info);
            size_t si = ELF64_R_SYM(r->r_info);
            if (!si || !(type == R_X86_64_JUMP_SLOT || type == R_X86_64_GLOB_DAT ||
                         (type == R_X86_64_64 && r->r_addend == 0)))
                continue;
            const ElfW(Sym) *s = &symtab[si];
            if (s->st_shndx != SHN_UNDEF || s->st_name >= strsz)
                continue;
            const char *name = strtab + s->st_name;
            void **slot = (void **)(o->base + r->r_offset);
            void *cur = *slot;
            /* lazily bound and not yet resolved: what the loader would bind it to */
            int unresolved = (uintptr_t)cur >= lo && (uintptr_t)cur < hi;
#define PS_X(sym, target)                                                                      \
    if (!strcmp(name, #sym)) {                                                                 \
        void *bound = unresolved ? dlsym(h, #sym) : cur;                                       \
        if (bound && bound == (void *)real_##sym)                                              \
            n += (unsigned)dl_store(slot, (void *)&target, relro_lo, relro_hi);                \
        continue;                                                                              \
    }
            PS_DEEP_REBIND(PS_X)
#undef PS_X
        }
    }
    return n;
}

/* ---- opening as the caller would -------------------------------------------------------- */

/* The caller's object: its link map (a dlopen handle) and its directory ($ORIGIN). */
static struct link_map *dl_caller_map(const void *caller, char *dir, size_t cap, char *exe,
                                      size_t exe_cap)
{
    Dl_info info;
    struct link_map *lm = NULL;
    dir[0] = 0;
    if (!dladdr1(caller, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
        return NULL;
    const char *path = lm->l_name && *lm->l_name ? lm->l_name : NULL;
    if (!path) {
        ssize_t k = readlink("/proc/self/exe", exe, exe_cap - 1);
        exe[k > 0 ? k : 0] = 0;
        path = exe;
    }
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;
    if (len < cap) {
        memcpy(dir, path, len);
        dir[len] = 0;
    }
    return lm;
}

/* $ORIGIN / ${ORIGIN} replaced by dir; 0 if it does not fit. */
static int dl_expand_origin(const char *file, const char *dir, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = file; *p;) {
        const char *add = p;
        size_t len = 1, skip = 1;
        if (!strncmp(p, "$ORIGIN", 7)) {
            add = dir, len = strlen(dir), skip = 7;
        } else if (!strncmp(p, "${ORIGIN}", 9)) {
            add = dir, len = strlen(dir), skip = 9;
        }
        if (n + len >= cap)
            return 0;
        memcpy(out + n, add, len);
        n += len;
        p += skip;
    }
    out[n] = 0;
    return 1;
}

/* A name without '/': the first file of that name in the caller's search path (RPATH,
 * LD_LIBRARY_PATH, RUNPATH, system directories), or NULL (then the loader's own lookup,
 * ld.so.cache included, from the shim). */
static const char *dl_search(struct link_map *lm, const char *file, char *out, size_t cap)
{
    Dl_serinfo sz;
    if (!lm || dlinfo(lm, RTLD_DI_SERINFOSIZE, &sz) != 0 || sz.dls_size < sizeof sz)
        return NULL;
    Dl_serinfo *si = imem_alloc(sz.dls_size);
    if (!si)
        return NULL;
    si->dls_size = sz.dls_size;
    si->dls_cnt = sz.dls_cnt;
    const char *found = NULL;
    if (dlinfo(lm, RTLD_DI_SERINFO, si) == 0) {
        for (unsigned i = 0; i < si->dls_cnt && !found; i++) {
            const char *d = si->dls_serpath[i].dls_name;
            size_t dl = strlen(d), fl = strlen(file);
            if (dl + 1 + fl >= cap)
                continue;
            memcpy(out, d, dl);
            out[dl] = '/';
            memcpy(out + dl + 1, file, fl + 1);
            if (access(out, R_OK) == 0)
                found = out;
        }
    }
    imem_free(si);
    return found;
}

/* imem, not the stack: dlopen may be called from a thread with a small stack */
typedef struct dl_names_s {
    char dir[4096], expanded[4096], searched[4096];
} dl_names_t;

/* The file glibc would open for `file` called from `caller`: $ORIGIN expanded, a bare name
 * searched in the caller's path (the name itself when not found there, or without memory). */
static const char *dl_as_caller(const char *file, const void *caller, dl_names_t *nm)
{
    if (!file || !nm)
        return file;
    const char *use = file;
    struct link_map *lm = dl_caller_map(caller, nm->dir, sizeof nm->dir, nm->searched,
                                        sizeof nm->searched);
    if (strchr(file, '$') && dl_expand_origin(file, nm->dir, nm->expanded, sizeof nm->expanded))
        use = nm->expanded;
    if (!strchr(use, '/')) {
        /* glibc first matches a bare name against the loaded objects' names, wherever the
         * call comes from; only a name not loaded is searched along the caller's path */
        void *loaded = ps_dl_real_dlopen(use, RTLD_LAZY | RTLD_NOLOAD);
        if (loaded) {
            dlclose(loaded);
            return use;
        }
        const char *s = dl_search(lm, use, nm->searched, sizeof nm->searched);
        if (s)
            use = s;
    }
    return use;
}

static PS_NOINLINE void *dl_open_deep_at(const char *file, int mode, const void *caller)
{
    int e = errno;
    dl_names_t *nm = imem_alloc(sizeof *nm);
    const char *use = dl_as_caller(file, caller, nm);
    int active = __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) == SHIM_ACTIVE;
    dl_objs_t before = {0}, after = {0};
    if (active) {
        before.cap = after.cap = PS_DL_MAX_OBJS;
        before.v = imem_alloc(2 * PS_DL_MAX_OBJS * sizeof(dl_obj_t));
        after.v = before.v ? before.v + PS_DL_MAX_OBJS : NULL;
        if (before.v)
            dl_iterate_phdr(dl_collect, &before);
    }
    errno = e;
    void *h = ps_dl_real_dlopen(use, mode);
    e = errno;
    if (h && before.v) {
        int g = shim_tls.guard;
        shim_tls.guard = 1;
        dl_iterate_phdr(dl_collect, &after);
        unsigned n = 0;
        for (size_t i = 0; i < after.n; i++)
            if (!dl_seen_before(&before, after.v[i].phdr))
                n += dl_rebind(&after.v[i], h);
        shim_tls.guard = g;
        PS_LOG(2, "%s opened with RTLD_DEEPBIND: %u malloc-family references rebound to the shim",
               file ? file : "the main program", n);
    }
    imem_free(before.v);
    imem_free(nm);
    errno = e;
    return h;
}

/* Entered by a jump from the thunk: the return address is the app's. */
PS_HIDDEN_DL PS_NOINLINE void *ps_dl_open_deep(const char *file, int mode)
{
    return dl_open_deep_at(file, mode, __builtin_return_address(0));
}

static void dl_resolve(void)
{
    int g = shim_tls.guard;
    shim_tls.guard = 1;
    real_dlopen_t r = (real_dlopen_t)dlsym(RTLD_NEXT, "dlopen");
    shim_tls.guard = g;
    __atomic_store_n(&ps_dl_real_dlopen, r, __ATOMIC_RELEASE);
}

/* Before the constructor ran (another library's constructor calls dlopen): resolve, then
 * open from here, the name resolved as the caller would. */
PS_HIDDEN_DL PS_NOINLINE void *ps_dl_open_slow(const char *file, int mode)
{
    const void *caller = __builtin_return_address(0);
    int e = errno;
    dl_resolve();
    if (!ps_dl_real_dlopen) {
        errno = e;
        return NULL;
    }
    if ((mode & RTLD_DEEPBIND) && __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) == SHIM_ACTIVE)
        return dl_open_deep_at(file, mode, caller);
    dl_names_t *nm = imem_alloc(sizeof *nm);
    const char *use = dl_as_caller(file, caller, nm);
    errno = e;
    void *h = ps_dl_real_dlopen(use, mode);
    e = errno;
    imem_free(nm);
    errno = e;
    return h;
}

__attribute__((constructor)) static void dl_ctor(void)
{
    dl_resolve();
}

#endif /* __x86_64__ */
