/*
 * symbols.c -- see symbols.h.
 *
 * Per module, on first use: the ELF file's function symbols go into one array sorted by
 * address (a lookup is a binary search), and the module's DWARF is opened through
 * dwarfinfo.c, which reads a compile unit's lines and inlined scopes only when an address
 * falls in it. Each distinct address is resolved once into its frames (inlined ones first)
 * and cached; C++ names are demangled once each (by the demangler main.c registers).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/symbols.h"

#include <dwarf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libdwarf.h>
#include <libelf.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/debughint.h"
#include "core/dwarfinfo.h"
#include "core/infile.h"
#include "core/ubound.h"
#include "perfshim/errors.h"

static symbols_demangler_t sym_demangler; /* NULL: names stay as they are */

void symbols_set_demangler(symbols_demangler_t fn)
{
    sym_demangler = fn;
}

#define SYM_MAX_INLINE 32 /* frames one address expands to, at most */

typedef struct fsym_s {
    uint64_t value, size;
    const char *name; /* in the module's string pool */
} fsym_t;

typedef struct mod_s {
    const tm_module_t *rm;
    const char *name; /* basename of the path */
    bool loaded, usable;
    fsym_t *syms;
    size_t nsyms;
    char *pool;  /* symbol names */
    dwi_t *dwi;  /* NULL: no DWARF */
    int dwarf_fd; /* kept open for dwi, -1 when none */
} mod_t;

typedef struct range_s {
    uint64_t lo, hi;
    uint32_t mod;
} range_t;

typedef struct cache_ent_s {
    uint64_t ip; /* 0: empty (0 is never a return address we resolve through the cache) */
    const sym_frame_t *frames; /* innermost first, in the arena; NULL: n alone (symbols_depth) */
    unsigned n;
} cache_ent_t;

typedef struct dm_ent_s {
    const char *mangled; /* NULL: empty; keyed by pointer (names live in pools) */
    const char *demangled;
} dm_ent_t;

struct symbols_s {
    symbols_opts_t opts;
    mod_t *mods;
    size_t nmods;
    range_t *ranges;
    size_t nranges;
    cache_ent_t *cache;
    size_t cache_cap, cache_n;
    dm_ent_t *dm;
    size_t dm_cap, dm_n;
    arena_t arena; /* frames and demangled names */
    size_t adopted; /* modules taken over from a symwarm (symbols_adopted) */
};

/* ---- helpers ------------------------------------------------------------------------- */

static void sym_warn(const symbols_t *s, const char *module, const char *what)
{
    if (!s->opts.quiet)
        fprintf(stderr, "perfshim: warning: %s: %s; frames show module+offset\n", module, what);
}

static int sym_range_cmp(const void *a, const void *b)
{
    const range_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* ---- ELF ----------------------------------------------------------------------------- */

static Elf_Scn *elf_section_named(Elf *e, const char *want)
{
    size_t shstrndx;
    if (elf_getshdrstrndx(e, &shstrndx) != 0)
        return NULL;
    for (Elf_Scn *scn = elf_nextscn(e, NULL); scn; scn = elf_nextscn(e, scn)) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh))
            continue;
        const char *name = elf_strptr(e, shstrndx, sh.sh_name);
        if (name && !strcmp(name, want))
            return scn;
    }
    return NULL;
}

static Elf_Scn *elf_section_typed(Elf *e, uint32_t type)
{
    for (Elf_Scn *scn = elf_nextscn(e, NULL); scn; scn = elf_nextscn(e, scn)) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) && sh.sh_type == type)
            return scn;
    }
    return NULL;
}

/* The GNU build-id of e into id[]; returns its length, 0 if none. */
static size_t elf_build_id(Elf *e, unsigned char *id, size_t cap)
{
    for (Elf_Scn *scn = elf_nextscn(e, NULL); scn; scn = elf_nextscn(e, scn)) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
            continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        if (!d)
            continue;
        size_t off = 0, name_off, desc_off;
        GElf_Nhdr nh;
        while ((off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
                !memcmp((const char *)d->d_buf + name_off, "GNU", 4)) {
                size_t n = nh.n_descsz < cap ? nh.n_descsz : cap;
                memcpy(id, (const char *)d->d_buf + desc_off, n);
                return n;
            }
        }
    }
    return 0;
}

static int fsym_cmp(const void *a, const void *b)
{
    const fsym_t *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    /* at one address, prefer a sized symbol, then the longer one */
    return x->size > y->size ? -1 : x->size < y->size;
}

/* Reads the function symbols of the table in scn into m (replacing none already there). */
static int elf_read_syms(mod_t *m, Elf *e, Elf_Scn *scn)
{
    GElf_Shdr sh;
    Elf_Data *d = elf_getdata(scn, NULL);
    if (!gelf_getshdr(scn, &sh) || !d || sh.sh_entsize == 0)
        return 0;
    size_t n = sh.sh_size / sh.sh_entsize, pool_len = 0, k = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            GElf_Sym sym;
            if (!gelf_getsym(d, (int)i, &sym))
                continue;
            int type = GELF_ST_TYPE(sym.st_info);
            if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_value == 0 ||
                sym.st_shndx == SHN_UNDEF)
                continue;
            const char *name = elf_strptr(e, sh.sh_link, sym.st_name);
            if (!name || !*name)
                continue;
            /* "memcpy@GLIBC_2.2.5", "f@@VERS": the version is not part of the name */
            size_t len = strcspn(name, "@") + 1;
            if (pass == 0) {
                pool_len += len;
                k++;
                continue;
            }
            memcpy(m->pool + pool_len, name, len - 1);
            m->pool[pool_len + len - 1] = 0;
            m->syms[k++] = (fsym_t){sym.st_value, sym.st_size, m->pool + pool_len};
            pool_len += len;
        }
        if (pass == 0) {
            m->pool = malloc(pool_len ? pool_len : 1);
            m->syms = malloc((k ? k : 1) * sizeof(*m->syms));
            if (!m->pool || !m->syms)
                return -PS_E_NOMEM;
            pool_len = k = 0;
        }
    }
    m->nsyms = k;
    qsort(m->syms, k, sizeof(*m->syms), fsym_cmp);
    return 0;
}

/* ---- loading a module ---------------------------------------------------------------- */

static void path_join(char *buf, size_t n, const char *a, const char *b)
{
    snprintf(buf, n, "%s%s", a ? a : "", b);
}

/* Opens the first separate debug file that exists for m; -1 when none. */
static int mod_open_debug(const symbols_t *s, const mod_t *m, const char *file, Elf *e)
{
    char path[8192], why[8300]; /* a debug file that is not a regular file is skipped */
    const tm_module_t *rm = m->rm;
    if (rm->buildid_len >= 2) {
        char hex[2 * 256 + 1];
        for (uint32_t i = 0; i < rm->buildid_len; i++)
            snprintf(hex + 2 * i, 3, "%02x", rm->buildid[i]);
        char rel[600];
        snprintf(rel, sizeof(rel), ".build-id/%.2s/%s.debug", hex, hex + 2);
        const char *dirs[2] = {s->opts.debug_dir, "/usr/lib/debug"};
        for (int i = 0; i < 2; i++) {
            if (!dirs[i])
                continue;
            if (i == 0)
                snprintf(path, sizeof(path), "%s/%s", dirs[i], rel);
            else
                snprintf(path, sizeof(path), "%s%s/%s", s->opts.sysroot ? s->opts.sysroot : "",
                         dirs[i], rel);
            int fd = infile_open(path, why, sizeof(why));
            if (fd >= 0)
                return fd;
        }
    }
    Elf_Scn *scn = elf_section_named(e, ".gnu_debuglink");
    Elf_Data *d = scn ? elf_getdata(scn, NULL) : NULL;
    if (!d || !d->d_buf || d->d_size < 2 || !memchr(d->d_buf, 0, d->d_size))
        return -1;
    const char *link = d->d_buf;
    if (strchr(link, '/'))
        return -1; /* a debuglink is a plain file name */
    const char *slash = strrchr(file, '/');
    int dlen = slash ? (int)(slash - file) : 0;
    const char *sysroot = s->opts.sysroot ? s->opts.sysroot : "";
    const char *modpath = m->rm->path;
    const char *mslash = strrchr(modpath, '/');
    int mdlen = mslash ? (int)(mslash - modpath) : 0;
    for (int i = 0; i < 4; i++) {
        switch (i) {
        case 0: snprintf(path, sizeof(path), "%.*s/%s", dlen, file, link); break;
        case 1: snprintf(path, sizeof(path), "%.*s/.debug/%s", dlen, file, link); break;
        case 2:
            snprintf(path, sizeof(path), "%s/usr/lib/debug%.*s/%s", sysroot, mdlen, modpath,
                     link);
            break;
        default:
            if (!s->opts.debug_dir)
                continue;
            snprintf(path, sizeof(path), "%s/%s", s->opts.debug_dir, link);
            break;
        }
        if (!strcmp(path, file))
            continue; /* the debuglink names the module itself */
        int fd = infile_open(path, why, sizeof(why));
        if (fd >= 0)
            return fd;
    }
    return -1;
}

static int mod_load(const symbols_t *s, mod_t *m)
{
    m->loaded = true;
    const tm_module_t *rm = m->rm;
    if (rm->path[0] != '/')
        return 0; /* the vDSO, or an anonymous object: nothing on disk */
    char file[8192];
    path_join(file, sizeof(file), s->opts.sysroot, rm->path);
    char why[8300];
    int fd = infile_open(file, why, sizeof(why)); /* the trace names it: a FIFO must not block */
    if (fd < 0) {
        sym_warn(s, rm->path, fd == -PS_E_INVAL ? "not a regular file" : "not found");
        return 0;
    }
    int rc = 0;
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (!e || elf_kind(e) != ELF_K_ELF) {
        sym_warn(s, rm->path, "not an ELF file");
        goto out;
    }
    if (rm->buildid_len) {
        unsigned char id[256];
        size_t n = elf_build_id(e, id, sizeof(id));
        if (n != rm->buildid_len || memcmp(id, rm->buildid, n) != 0) {
            sym_warn(s, rm->path, "build-id differs from the traced file's");
            goto out;
        }
    }
    m->usable = true;
    Elf_Scn *symtab = elf_section_typed(e, SHT_SYMTAB);
    bool has_dwarf = elf_section_named(e, ".debug_info") != NULL;
    int dfd = -1;
    Elf *de = NULL;
    if (!symtab || !has_dwarf) {
        dfd = mod_open_debug(s, m, file, e);
        if (dfd >= 0 && (!(de = elf_begin(dfd, ELF_C_READ_MMAP, NULL)) ||
                         elf_kind(de) != ELF_K_ELF)) {
            if (de)
                elf_end(de);
            de = NULL;
            close(dfd);
            dfd = -1;
        }
    }
    Elf_Scn *dsymtab = de ? elf_section_typed(de, SHT_SYMTAB) : NULL;
    /* the DWARF's compressed sections inflated on a second core while the symbols are read */
    bool de_dwarf = de && elf_section_named(de, ".debug_info");
    dwi_ahead_t *ahead = has_dwarf ? dwi_ahead(fd) : de_dwarf ? dwi_ahead(dfd) : NULL;
    if (symtab)
        rc = elf_read_syms(m, e, symtab);
    else if (dsymtab)
        rc = elf_read_syms(m, de, dsymtab);
    else if ((symtab = elf_section_typed(e, SHT_DYNSYM)))
        rc = elf_read_syms(m, e, symtab);
    if (rc == 0) { /* (ahead is fd's with has_dwarf, else dfd's: the dwi_open it is for) */
        if (has_dwarf && (rc = dwi_open(fd, ahead, &m->dwi)) == 0 && m->dwi) {
            m->dwarf_fd = fd;
            fd = -1;
        } else if (rc == 0 && de_dwarf &&
                   (rc = dwi_open(dfd, has_dwarf ? NULL : ahead, &m->dwi)) == 0 && m->dwi) {
            m->dwarf_fd = dfd;
            dfd = -1;
        }
    } else {
        dwi_ahead_free(ahead);
    }
    if (rc == 0 && !m->dwi && !s->opts.quiet && debughint_first(rm->path)) {
        char hint[512];
        fprintf(stderr, "perfshim: warning: %s: no debug info, frames show no file:line (%s)\n",
                rm->path, debughint_for(rm->path, hint, sizeof hint));
    }
    if (de)
        elf_end(de);
    if (dfd >= 0)
        close(dfd);
out:
    if (e)
        elf_end(e);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* ---- lookup -------------------------------------------------------------------------- */

static const fsym_t *mod_find_sym(const mod_t *m, uint64_t a)
{
    size_t lo = ubound_u64(m->syms, m->nsyms, sizeof(*m->syms), offsetof(fsym_t, value), a);
    /* symbols may nest (aliases, local labels): look back a little for one that covers a */
    for (size_t i = lo, k = 0; i-- > 0 && k < 8; k++) {
        const fsym_t *f = &m->syms[i];
        if (a < f->value + (f->size ? f->size : 1))
            return f;
        if (f->size == 0 && (i + 1 == m->nsyms || a < m->syms[i + 1].value))
            return f; /* unsized (assembly): up to the next symbol */
    }
    return NULL;
}

static const range_t *sym_find_range(const symbols_t *s, uint64_t a)
{
    size_t lo = ubound_u64(s->ranges, s->nranges, sizeof(*s->ranges), offsetof(range_t, lo), a);
    /* ranges of different epochs may overlap: the latest module that covers a wins */
    const range_t *best = NULL;
    for (size_t i = lo; i-- > 0;) {
        if (a < s->ranges[i].hi && (!best || s->ranges[i].mod > best->mod))
            best = &s->ranges[i];
        if (lo - i > 64)
            break;
    }
    return best;
}

/* The demangled form of a C++ name (names starting "_Z"), else name itself. */
static const char *sym_demangle(symbols_t *s, const char *name)
{
    if (!sym_demangler || !name || name[0] != '_' || name[1] != 'Z')
        return name;
    if ((s->dm_n + 1) * 2 > s->dm_cap) {
        size_t cap = s->dm_cap ? s->dm_cap * 2 : 256;
        dm_ent_t *t = calloc(cap, sizeof(*t));
        if (!t)
            return name;
        for (size_t j = 0; j < s->dm_cap; j++) {
            if (!s->dm[j].mangled)
                continue;
            size_t i = (size_t)(((uintptr_t)s->dm[j].mangled * 0x9e3779b97f4a7c15ull) >> 20) &
                       (cap - 1);
            while (t[i].mangled)
                i = (i + 1) & (cap - 1);
            t[i] = s->dm[j];
        }
        free(s->dm);
        s->dm = t;
        s->dm_cap = cap;
    }
    size_t i = (size_t)(((uintptr_t)name * 0x9e3779b97f4a7c15ull) >> 20) & (s->dm_cap - 1);
    while (s->dm[i].mangled && s->dm[i].mangled != name)
        i = (i + 1) & (s->dm_cap - 1);
    if (!s->dm[i].mangled) {
        int status = 0;
        char *d = sym_demangler(name, NULL, NULL, &status);
        const char *out = name;
        if (d && status == 0)
            out = arena_strdup(&s->arena, d);
        free(d);
        s->dm[i] = (dm_ent_t){name, out ? out : name};
        s->dm_n++;
    }
    return s->dm[i].demangled;
}

/* The module ip falls in (loaded), or NULL. */
static int sym_module(symbols_t *s, uint64_t ip, mod_t **out)
{
    uint64_t a = ip ? ip - 1 : 0; /* inside the call instruction */
    const range_t *r = sym_find_range(s, a);
    mod_t *m = r ? &s->mods[r->mod] : NULL;
    *out = m;
    if (m && !m->loaded)
        return mod_load(s, m);
    return 0;
}

/* The number of frames sym_resolve gives ip. */
static int sym_depth(symbols_t *s, uint64_t ip, unsigned *nout)
{
    mod_t *m;
    int rc = sym_module(s, ip, &m), n = 0;
    if (rc < 0)
        return rc;
    uint64_t a = ip ? ip - 1 : 0; /* as sym_resolve looks it up */
    if (m && m->usable && (n = dwi_depth(m->dwi, a - m->rm->base, SYM_MAX_INLINE)) < 0)
        return n;
    *nout = n > 0 ? (unsigned)n : 1u;
    return 0;
}

/* Resolves ip into 1..SYM_MAX_INLINE frames in the arena. */
static int sym_resolve(symbols_t *s, uint64_t ip, const sym_frame_t **frames, unsigned *nout)
{
    sym_frame_t base;
    memset(&base, 0, sizeof(base));
    base.address = ip;
    dwi_frame_t df[SYM_MAX_INLINE];
    int n = 0;
    uint64_t a = ip ? ip - 1 : 0; /* inside the call instruction */
    mod_t *m;
    int rc = sym_module(s, ip, &m);
    if (rc < 0)
        return rc;
    if (m) {
        base.module = m->rm->path;
        base.module_name = m->name;
        base.offset = ip - m->rm->base;
    }
    if (m && m->usable) {
        uint64_t va = a - m->rm->base;
        const fsym_t *fs = mod_find_sym(m, va);
        if (fs)
            base.function = fs->name;
        if ((n = dwi_lookup(m->dwi, va, df, SYM_MAX_INLINE)) < 0)
            return n;
    }
    unsigned total = n > 0 ? (unsigned)n : 1u;
    sym_frame_t *f = arena_alloc(&s->arena, total * sizeof(*f));
    if (!f)
        return -PS_E_NOMEM;
    for (unsigned i = 0; i < total; i++) {
        f[i] = base;
        if (n <= 0)
            break;
        f[i].file = df[i].file;
        f[i].line = df[i].file ? df[i].line : 0;
        f[i].inlined = df[i].inlined != 0;
        /* the code's own function: the symbol table's name is exact, DWARF's a fallback */
        if (df[i].inlined || !base.function)
            f[i].function = df[i].function;
    }
    for (unsigned i = 0; i < total; i++)
        f[i].function = sym_demangle(s, f[i].function);
    *frames = f;
    *nout = total;
    return 0;
}

/* ip's cache entry, added empty (ip 0) when it has none; NULL when out of memory. */
static cache_ent_t *sym_cache_slot(symbols_t *s, uint64_t ip)
{
    if ((s->cache_n + 1) * 2 > s->cache_cap) {
        size_t cap = s->cache_cap ? s->cache_cap * 2 : 1024;
        cache_ent_t *c = calloc(cap, sizeof(*c));
        if (!c)
            return NULL;
        for (size_t j = 0; j < s->cache_cap; j++) {
            if (!s->cache[j].ip)
                continue;
            size_t i = (size_t)((s->cache[j].ip * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
            while (c[i].ip)
                i = (i + 1) & (cap - 1);
            c[i] = s->cache[j];
        }
        free(s->cache);
        s->cache = c;
        s->cache_cap = cap;
    }
    size_t i = (size_t)((ip * 0x9e3779b97f4a7c15ull) >> 20) & (s->cache_cap - 1);
    while (s->cache[i].ip && s->cache[i].ip != ip)
        i = (i + 1) & (s->cache_cap - 1);
    return &s->cache[i];
}

int symbols_frames(symbols_t *s, uint64_t ip, const sym_frame_t **frames, unsigned *n)
{
    if (ip == 0)
        return sym_resolve(s, ip, frames, n);
    cache_ent_t *e = sym_cache_slot(s, ip);
    if (!e)
        return -PS_E_NOMEM;
    if (!e->frames) { /* new, or counted only */
        int rc = sym_resolve(s, ip, &e->frames, &e->n);
        if (rc < 0) {
            e->frames = NULL;
            return rc;
        }
        if (!e->ip)
            s->cache_n++;
        e->ip = ip;
    }
    *frames = e->frames;
    *n = e->n;
    return 0;
}

int symbols_depth(symbols_t *s, uint64_t ip, unsigned *n)
{
    if (ip == 0)
        return sym_depth(s, ip, n);
    cache_ent_t *e = sym_cache_slot(s, ip);
    if (!e)
        return -PS_E_NOMEM;
    if (!e->ip) {
        int rc = sym_depth(s, ip, &e->n);
        if (rc < 0)
            return rc;
        e->ip = ip;
        s->cache_n++;
    }
    *n = e->n;
    return 0;
}

const char *symbols_module_name(symbols_t *s, uint64_t ip)
{
    const range_t *r = sym_find_range(s, ip ? ip - 1 : 0);
    return r ? s->mods[r->mod].name : NULL;
}

int symbols_lookup(symbols_t *s, uint64_t ip, sym_frame_t *out)
{
    const sym_frame_t *f;
    unsigned n;
    int rc = symbols_frames(s, ip, &f, &n);
    if (rc < 0)
        return rc;
    *out = f[n - 1];
    out->file = f[0].file;
    out->line = f[0].line;
    return 0;
}

int symbols_open(symbols_t **out, const tm_module_t *mods, size_t nmods,
                 const symbols_opts_t *opts)
{
    *out = NULL;
    elf_version(EV_CURRENT);
    symbols_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -PS_E_NOMEM;
    if (opts)
        s->opts = *opts;
    size_t nranges = 0;
    for (size_t i = 0; i < nmods; i++)
        nranges += mods[i].nseg;
    s->mods = calloc(nmods ? nmods : 1, sizeof(*s->mods));
    s->ranges = calloc(nranges ? nranges : 1, sizeof(*s->ranges));
    if (!s->mods || !s->ranges) {
        symbols_close(s);
        return -PS_E_NOMEM;
    }
    s->nmods = nmods;
    for (size_t i = 0; i < nmods; i++) {
        mod_t *m = &s->mods[i];
        m->rm = &mods[i];
        m->dwarf_fd = -1;
        const char *slash = strrchr(mods[i].path, '/');
        m->name = slash ? slash + 1 : mods[i].path;
        for (uint32_t k = 0; k < mods[i].nseg; k++) {
            const ps_segment_t *sg = &mods[i].segs[k];
            if (sg->memsz == 0)
                continue;
            range_t *r = &s->ranges[s->nranges++];
            r->lo = mods[i].base + sg->vaddr;
            r->hi = r->lo + sg->memsz;
            r->mod = (uint32_t)i;
        }
    }
    qsort(s->ranges, s->nranges, sizeof(*s->ranges), sym_range_cmp);
    *out = s;
    return 0;
}

static atomic_bool symbols_leave; /* symbols_exit_fast */

void symbols_exit_fast(void)
{
    atomic_store(&symbols_leave, true);
}

void symbols_close(symbols_t *s)
{
    if (!s)
        return;
    if (atomic_load(&symbols_leave)) { /* only the threads end (joined: no thread left behind) */
        for (size_t i = 0; i < s->nmods; i++)
            dwi_leave(s->mods[i].dwi);
        return;
    }
    for (size_t i = 0; i < s->nmods; i++) {
        mod_t *m = &s->mods[i];
        free(m->syms);
        free(m->pool);
        dwi_close(m->dwi);
        if (m->dwarf_fd >= 0)
            close(m->dwarf_fd);
    }
    free(s->mods);
    free(s->ranges);
    free(s->cache);
    free(s->dm);
    arena_free(&s->arena);
    free(s);
}

const symbols_opts_t *symbols_options(const symbols_t *s)
{
    static const symbols_opts_t none;
    return s ? &s->opts : &none;
}

/* ---- symbols made ready on another thread (symwarm) ------------------------------------ */

struct symwarm_s {
    symbols_t *s;      /* its own (quiet), over mods */
    tm_module_t *mods; /* copies */
    size_t nmods;
    uint64_t *ips;
    size_t nips;
    pthread_t th;
    bool started;
    bool failed;      /* an error (out of memory): nothing is taken over */
    atomic_bool stop; /* symwarm_free before the end: stop between addresses */
};

static void *symwarm_main(void *arg)
{
    symwarm_t *w = arg;
    symbols_t *s = w->s;
    for (size_t i = 0; i < w->nips; i++) {
        if (atomic_load_explicit(&w->stop, memory_order_relaxed))
            break;
        uint64_t a = w->ips[i] ? w->ips[i] - 1 : 0; /* as sym_resolve looks it up */
        const range_t *r = sym_find_range(s, a);
        if (!r)
            continue;
        mod_t *m = &s->mods[r->mod];
        if (!m->loaded && mod_load(s, m) < 0) {
            w->failed = true;
            break;
        }
        dwi_frame_t df[SYM_MAX_INLINE];
        if (m->usable && m->dwi && dwi_lookup(m->dwi, a - m->rm->base, df, SYM_MAX_INLINE) < 0) {
            w->failed = true;
            break;
        }
    }
    return NULL;
}

void symwarm_wait(symwarm_t *w)
{
    if (w && w->started) {
        pthread_join(w->th, NULL);
        w->started = false;
    }
}

void symwarm_free(symwarm_t *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    symwarm_wait(w);
    symbols_close(w->s);
    for (size_t i = 0; i < w->nmods; i++) {
        free(w->mods[i].path);
        free(w->mods[i].segs);
    }
    free(w->mods);
    free(w->ips);
    free(w);
}

int symwarm_start(symwarm_t **out, const tm_module_t *mods, size_t nmods, const uint64_t *ips,
                  size_t nips, const symbols_opts_t *opts)
{
    *out = NULL;
    symwarm_t *w = calloc(1, sizeof(*w));
    if (!w)
        return -PS_E_NOMEM;
    atomic_init(&w->stop, false);
    w->mods = calloc(nmods ? nmods : 1, sizeof(*w->mods));
    w->ips = malloc((nips ? nips : 1) * sizeof(*w->ips));
    if (!w->mods || !w->ips) {
        symwarm_free(w);
        return -PS_E_NOMEM;
    }
    for (size_t i = 0; i < nmods; i++, w->nmods++) {
        tm_module_t *c = &w->mods[i];
        *c = mods[i];
        size_t plen = strlen(mods[i].path) + 1;
        c->path = malloc(plen);
        c->segs = malloc((c->nseg ? c->nseg : 1) * sizeof(*c->segs));
        if (!c->path || !c->segs) {
            free(c->path);
            free(c->segs);
            symwarm_free(w);
            return -PS_E_NOMEM;
        }
        memcpy(c->path, mods[i].path, plen);
        memcpy(c->segs, mods[i].segs, c->nseg * sizeof(*c->segs));
    }
    memcpy(w->ips, ips, nips * sizeof(*ips));
    w->nips = nips;
    symbols_opts_t o = opts ? *opts : (symbols_opts_t){0};
    o.quiet = true; /* a module with a problem is not taken over: s loads it, and warns */
    int rc = symbols_open(&w->s, w->mods, w->nmods, &o);
    if (rc < 0) {
        symwarm_free(w);
        return rc;
    }
    w->started = pthread_create(&w->th, NULL, symwarm_main, w) == 0;
    *out = w;
    return 0;
}

static bool sym_same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

size_t symbols_adopted(const symbols_t *s)
{
    return s ? s->adopted : 0;
}

void symbols_adopt(symbols_t *s, symwarm_t *w)
{
    if (!w)
        return;
    symwarm_wait(w);
    symbols_t *ws = w->s;
    bool same = s && ws && !w->failed && sym_same_str(s->opts.sysroot, ws->opts.sysroot) &&
                sym_same_str(s->opts.debug_dir, ws->opts.debug_dir);
    for (size_t j = 0; same && j < ws->nmods; j++) {
        mod_t *wm = &ws->mods[j];
        /* loaded without a problem (no warning a load by s would print): its file's symbols
         * and DWARF, which depend on the file alone (path, build-id), not on the epoch */
        if (!wm->loaded || !wm->usable || !wm->dwi)
            continue;
        for (size_t i = 0; i < s->nmods; i++) {
            mod_t *m = &s->mods[i];
            const tm_module_t *a = m->rm, *b = wm->rm;
            if (m->loaded || strcmp(a->path, b->path) || a->buildid_len != b->buildid_len ||
                memcmp(a->buildid, b->buildid, a->buildid_len))
                continue;
            m->loaded = m->usable = true;
            m->syms = wm->syms;
            m->nsyms = wm->nsyms;
            m->pool = wm->pool;
            m->dwi = wm->dwi;
            m->dwarf_fd = wm->dwarf_fd;
            wm->syms = NULL;
            wm->pool = NULL;
            wm->dwi = NULL;
            wm->dwarf_fd = -1;
            s->adopted++;
            break;
        }
    }
    symwarm_free(w);
}
