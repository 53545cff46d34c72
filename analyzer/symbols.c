/*
 * symbols.c -- see symbols.h.
 *
 * Per module, on first use: the ELF file's function symbols go into one array sorted by
 * address, and all rows of all DWARF line tables into another (address, line, interned file
 * name, end-of-sequence), so a lookup is two binary searches. Reading every line table of a
 * module up front costs more than a per-CU lookup through .debug_aranges, but is exact for
 * CUs with DW_AT_ranges and for compilers that emit no aranges, and a report resolves a few
 * thousand addresses at most.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "symbols.h"

#include <dwarf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libdwarf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "perfshim/errors.h"

typedef struct fsym_s {
    uint64_t value, size;
    const char *name; /* in the module's string pool */
} fsym_t;

typedef struct lrow_s {
    uint64_t addr;
    uint32_t line;
    uint32_t file; /* index into mod_t.files */
    uint32_t end;  /* end of a sequence: no code from here */
    uint32_t order;/* input order, for a stable sort */
} lrow_t;

typedef struct mod_s {
    const replay_module_t *rm;
    const char *name; /* basename of the path */
    bool loaded, usable;
    fsym_t *syms;
    size_t nsyms;
    lrow_t *rows;
    size_t nrows;
    char **files;
    size_t nfiles, files_cap;
    char *pool; /* symbol names */
} mod_t;

typedef struct range_s {
    uint64_t lo, hi;
    uint32_t mod;
} range_t;

typedef struct cache_ent_s {
    uint64_t ip; /* 0: empty (0 is never a return address we resolve through the cache) */
    sym_frame_t f;
} cache_ent_t;

struct symbols_s {
    symbols_opts_t opts;
    mod_t *mods;
    size_t nmods;
    range_t *ranges;
    size_t nranges;
    cache_ent_t *cache;
    size_t cache_cap, cache_n;
};

/* ---- helpers ------------------------------------------------------------------------- */

static char *sym_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

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

/* ---- DWARF line tables --------------------------------------------------------------- */

static int mod_file(mod_t *m, const char *name, uint32_t *out)
{
    /* line tables name few files; the last few hits cover nearly every row */
    for (size_t i = m->nfiles; i-- > 0 && i + 8 >= m->nfiles;)
        if (!strcmp(m->files[i], name)) {
            *out = (uint32_t)i;
            return 0;
        }
    for (size_t i = 0; i < m->nfiles; i++)
        if (!strcmp(m->files[i], name)) {
            *out = (uint32_t)i;
            return 0;
        }
    if (m->nfiles == m->files_cap) {
        size_t cap = m->files_cap ? m->files_cap * 2 : 16;
        char **f = realloc(m->files, cap * sizeof(*f));
        if (!f)
            return -PS_E_NOMEM;
        m->files = f;
        m->files_cap = cap;
    }
    if (!(m->files[m->nfiles] = sym_strndup(name, strlen(name))))
        return -PS_E_NOMEM;
    *out = (uint32_t)m->nfiles++;
    return 0;
}

static int lrow_cmp(const void *a, const void *b)
{
    const lrow_t *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    /* an end of sequence sorts before a row that starts code at the same address */
    if (x->end != y->end)
        return x->end ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int dwarf_add_cu(mod_t *m, Dwarf_Debug dbg, Dwarf_Die cu, size_t *cap)
{
    Dwarf_Error err = NULL;
    Dwarf_Unsigned version = 0;
    Dwarf_Small tables = 0;
    Dwarf_Line_Context ctx = NULL;
    if (dwarf_srclines_b(cu, &version, &tables, &ctx, &err) != DW_DLV_OK) {
        if (err)
            dwarf_dealloc_error(dbg, err);
        return 0;
    }
    Dwarf_Line *lines = NULL;
    Dwarf_Signed nlines = 0;
    int rc = 0;
    if (dwarf_srclines_from_linecontext(ctx, &lines, &nlines, &err) != DW_DLV_OK) {
        if (err)
            dwarf_dealloc_error(dbg, err);
        nlines = 0;
    }
    for (Dwarf_Signed i = 0; i < nlines && rc == 0; i++) {
        Dwarf_Addr addr;
        Dwarf_Unsigned lineno;
        Dwarf_Bool end = 0;
        char *src = NULL;
        if (dwarf_lineaddr(lines[i], &addr, &err) != DW_DLV_OK ||
            dwarf_lineno(lines[i], &lineno, &err) != DW_DLV_OK) {
            if (err)
                dwarf_dealloc_error(dbg, err);
            err = NULL;
            continue;
        }
        if (dwarf_lineendsequence(lines[i], &end, &err) != DW_DLV_OK) {
            if (err)
                dwarf_dealloc_error(dbg, err);
            err = NULL;
        }
        uint32_t file = 0;
        if (dwarf_linesrc(lines[i], &src, &err) == DW_DLV_OK) {
            rc = mod_file(m, src, &file);
            dwarf_dealloc(dbg, src, DW_DLA_STRING);
        } else {
            if (err)
                dwarf_dealloc_error(dbg, err);
            err = NULL;
            rc = mod_file(m, "??", &file);
        }
        if (rc < 0)
            break;
        if (m->nrows == *cap) {
            size_t ncap = *cap ? *cap * 2 : 1024;
            lrow_t *r = realloc(m->rows, ncap * sizeof(*r));
            if (!r) {
                rc = -PS_E_NOMEM;
                break;
            }
            m->rows = r;
            *cap = ncap;
        }
        m->rows[m->nrows] = (lrow_t){addr, (uint32_t)lineno, file, end ? 1u : 0u,
                                     (uint32_t)m->nrows};
        m->nrows++;
    }
    dwarf_srclines_dealloc_b(ctx);
    return rc;
}

/* Reads every line table of the DWARF in fd. No DWARF is not an error. */
static int dwarf_read_lines(mod_t *m, int fd)
{
    Dwarf_Debug dbg = NULL;
    Dwarf_Error err = NULL;
    int res = dwarf_init_b(fd, DW_DLC_READ, DW_GROUPNUMBER_ANY, NULL, NULL, &dbg, &err);
    if (res != DW_DLV_OK) {
        if (err)
            dwarf_dealloc_error(dbg, err);
        return 0;
    }
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        Dwarf_Unsigned cu_len, typeoff, next;
        Dwarf_Half ver, asize, lsize, esize, cutype;
        Dwarf_Off abbrev;
        Dwarf_Sig8 sig;
        res = dwarf_next_cu_header_d(dbg, 1, &cu_len, &ver, &abbrev, &asize, &lsize, &esize,
                                     &sig, &typeoff, &next, &cutype, &err);
        if (res != DW_DLV_OK)
            break;
        Dwarf_Die cu = NULL;
        if (dwarf_siblingof_b(dbg, NULL, 1, &cu, &err) != DW_DLV_OK) {
            if (err)
                dwarf_dealloc_error(dbg, err);
            err = NULL;
            continue;
        }
        rc = dwarf_add_cu(m, dbg, cu, &cap);
        dwarf_dealloc_die(cu);
        if (rc < 0)
            break;
    }
    if (res == DW_DLV_ERROR && err)
        dwarf_dealloc_error(dbg, err);
    dwarf_finish(dbg, NULL);
    if (m->nrows)
        qsort(m->rows, m->nrows, sizeof(*m->rows), lrow_cmp);
    return rc;
}

/* ---- loading a module ---------------------------------------------------------------- */

static void path_join(char *buf, size_t n, const char *a, const char *b)
{
    snprintf(buf, n, "%s%s", a ? a : "", b);
}

/* Opens the first separate debug file that exists for m; -1 when none. */
static int mod_open_debug(const symbols_t *s, const mod_t *m, const char *file, Elf *e)
{
    char path[8192];
    const replay_module_t *rm = m->rm;
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
            int fd = open(path, O_RDONLY | O_CLOEXEC);
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
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            return fd;
    }
    return -1;
}

static int mod_load(const symbols_t *s, mod_t *m)
{
    m->loaded = true;
    const replay_module_t *rm = m->rm;
    if (rm->path[0] != '/')
        return 0; /* the vDSO, or an anonymous object: nothing on disk */
    char file[8192];
    path_join(file, sizeof(file), s->opts.sysroot, rm->path);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sym_warn(s, rm->path, "not found");
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
    if (symtab)
        rc = elf_read_syms(m, e, symtab);
    else if (dsymtab)
        rc = elf_read_syms(m, de, dsymtab);
    else if ((symtab = elf_section_typed(e, SHT_DYNSYM)))
        rc = elf_read_syms(m, e, symtab);
    if (rc == 0) {
        if (has_dwarf)
            rc = dwarf_read_lines(m, fd);
        else if (de && elf_section_named(de, ".debug_info"))
            rc = dwarf_read_lines(m, dfd);
    }
    if (de)
        elf_end(de);
    if (dfd >= 0)
        close(dfd);
out:
    if (e)
        elf_end(e);
    close(fd);
    return rc;
}

/* ---- lookup -------------------------------------------------------------------------- */

static const fsym_t *mod_find_sym(const mod_t *m, uint64_t a)
{
    size_t lo = 0, hi = m->nsyms; /* first symbol with value > a */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->syms[mid].value <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
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

static const lrow_t *mod_find_row(const mod_t *m, uint64_t a)
{
    size_t lo = 0, hi = m->nrows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->rows[mid].addr <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || m->rows[lo - 1].end)
        return NULL;
    return &m->rows[lo - 1];
}

static const range_t *sym_find_range(const symbols_t *s, uint64_t a)
{
    size_t lo = 0, hi = s->nranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ranges[mid].lo <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
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

static int sym_resolve(symbols_t *s, uint64_t ip, sym_frame_t *f)
{
    memset(f, 0, sizeof(*f));
    f->address = ip;
    uint64_t a = ip ? ip - 1 : 0; /* inside the call instruction */
    const range_t *r = sym_find_range(s, a);
    if (!r)
        return 0;
    mod_t *m = &s->mods[r->mod];
    f->module = m->rm->path;
    f->module_name = m->name;
    f->offset = ip - m->rm->base;
    if (!m->loaded) {
        int rc = mod_load(s, m);
        if (rc < 0)
            return rc;
    }
    if (!m->usable)
        return 0;
    uint64_t va = a - m->rm->base;
    const fsym_t *fs = mod_find_sym(m, va);
    if (fs)
        f->function = fs->name;
    const lrow_t *row = mod_find_row(m, va);
    if (row && row->line) {
        f->file = m->files[row->file];
        f->line = row->line;
    }
    return 0;
}

int symbols_lookup(symbols_t *s, uint64_t ip, sym_frame_t *out)
{
    if (ip == 0)
        return sym_resolve(s, ip, out);
    if ((s->cache_n + 1) * 2 > s->cache_cap) {
        size_t cap = s->cache_cap ? s->cache_cap * 2 : 1024;
        cache_ent_t *c = calloc(cap, sizeof(*c));
        if (!c)
            return -PS_E_NOMEM;
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
    if (!s->cache[i].ip) {
        int rc = sym_resolve(s, ip, &s->cache[i].f);
        if (rc < 0)
            return rc;
        s->cache[i].ip = ip;
        s->cache_n++;
    }
    *out = s->cache[i].f;
    return 0;
}

int symbols_open(symbols_t **out, const replay_module_t *mods, size_t nmods,
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

void symbols_close(symbols_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nmods; i++) {
        mod_t *m = &s->mods[i];
        free(m->syms);
        free(m->pool);
        free(m->rows);
        for (size_t k = 0; k < m->nfiles; k++)
            free(m->files[k]);
        free(m->files);
    }
    free(s->mods);
    free(s->ranges);
    free(s->cache);
    free(s);
}
