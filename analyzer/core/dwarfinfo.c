/*
 * dwarfinfo.c -- see dwarfinfo.h.
 *
 * Opening reads .debug_aranges (else, when a module has none, walks the CU headers once) and
 * records each CU's address ranges in one sorted array. A CU is loaded on first hit: its file
 * table (dwarf_srcfiles), its line rows sorted by address, and its scopes: every
 * DW_TAG_subprogram and DW_TAG_inlined_subroutine with code, each with its ranges, its parent
 * scope and (inlined ones) the call site. A scope's children are read only when an address
 * looked up falls in it, and its name when a lookup gives it as a frame: a lookup in a large
 * CU reads its functions' ranges, not every inlined tree and name. A lookup is a binary
 * search for the CU, one for the line row, and a scan of the CU's scope ranges for the
 * deepest scope that holds the address; the caller caches per address.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/dwarfinfo.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <errno.h>
#include <gelf.h>
#include <libdwarf.h>
#include <libelf.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/arena.h"
#include "core/prefetch.h"
#include "core/ubound.h"
#include "perfshim/errors.h"

/* ---- libdwarf's inflating ------------------------------------------------------------ */

/* libdwarf (20210528) inflates a compressed section (SHF_COMPRESSED: a separate debug file's,
 * libc's among them) whole, with zlib's uncompress(), when the section is first used: libc's
 * .debug_info, 2.3 -> 5.8 MB, is the larger part of a report's fixed cost. The uncompress()
 * below, defined in the executable, is the one libdwarf's reference binds to (the executable
 * comes first in the dynamic linker's search; `nm -D perfshim` lists it): it inflates with
 * libdeflate when its library is installed (dlopen, RTLD_LOCAL: no build dependency), about
 * twice as fast as zlib's inflate, and otherwise, or on any result but success, with zlib's
 * uncompress2 (what zlib's own uncompress calls). Both decode the same zlib stream and check
 * its Adler-32: the bytes are the same. */
enum { DEFL_SUCCESS = 0 }; /* libdeflate_result's LIBDEFLATE_SUCCESS */

typedef struct defl_s defl_t; /* struct libdeflate_decompressor */
static struct {
    defl_t *(*alloc)(void);
    int (*zlib_decompress)(defl_t *, const void *, size_t, void *, size_t, size_t *);
    void (*free)(defl_t *);
} defl;
static pthread_once_t defl_once = PTHREAD_ONCE_INIT;

static void defl_load(void)
{
    void *h = dlopen("libdeflate.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
    /* (object to function pointer: POSIX dlsym's contract) */
    *(void **)&defl.alloc = dlsym(h, "libdeflate_alloc_decompressor");
    *(void **)&defl.zlib_decompress = dlsym(h, "libdeflate_zlib_decompress");
    *(void **)&defl.free = dlsym(h, "libdeflate_free_decompressor");
    if (!defl.alloc || !defl.zlib_decompress || !defl.free)
        defl.alloc = NULL; /* all or nothing; the library stays loaded (harmless) */
}

static int dwi_inflate(Bytef *dest, uLongf *destLen, const Bytef *source, uLong sourceLen)
{
    pthread_once(&defl_once, defl_load);
    defl_t *d = defl.alloc ? defl.alloc() : NULL;
    if (d) {
        size_t got = 0;
        int rc = defl.zlib_decompress(d, source, sourceLen, dest, *destLen, &got);
        defl.free(d);
        if (rc == DEFL_SUCCESS) {
            *destLen = (uLongf)got;
            return Z_OK;
        }
    }
    uLong in = sourceLen;
    return uncompress2(dest, destLen, source, &in);
}

/* ---- inflating a module's sections ahead, on a second core -----------------------------
 * libdwarf inflates its sections one after the other on the caller's thread, each when it is
 * first used: .debug_info (libc's: 60% of the inflating) and, right after it, .debug_rnglists
 * and .debug_loclists, then, at the first lookup, .debug_line, .debug_str and .debug_line_str.
 * symbols.c starts a thread (dwi_ahead, infl_t) before it reads the module's ELF symbols,
 * and it inflates the compressed sections other than .debug_info (and .debug_aranges, the
 * first and small) in the order libdwarf will want them, into buffers of its own, while the
 * caller's thread reads the symbols and then has libdwarf inflate .debug_info; uncompress()
 * below, asked for a section whose compressed bytes are one of those, copies the bytes
 * inflated ahead when they are ready, and otherwise inflates as before, never waiting for
 * the thread (with the second core busy, by another program, it may be slow: waiting for
 * it made the load ~10 ms slower than no thread at all). The bytes libdwarf gets are the
 * same either way: one inflater, one input. Only with a second core (prefetch_second_core). Memory (a report's peak RSS is often its
 * symbols', at the end): the file is read with pread, not mapped (mapped pages read count in
 * the RSS), and the thread's buffers are anonymous mappings, each given back to the system a
 * piece at a time as it is copied into libdwarf's (or at dwi_close if libdwarf never asks):
 * a section is held twice for at most INFL_PIECE bytes, and no freed heap is left behind. */
#define INFL_MAX 16
#define INFL_PIECE ((size_t)256 << 10) /* copied, then unmapped (a multiple of the page) */
#define INFL_POPULATE_MAX ((size_t)64 << 20)
enum { INFL_TODO, INFL_RUNNING, INFL_DONE, INFL_GONE };

typedef struct infl_job_s {
    uint64_t src; /* file offset of the compressed stream (after the ELF Chdr) */
    size_t srclen;
    size_t size; /* inflated size (ch_size) */
    Bytef *out;  /* INFL_DONE: the inflated bytes (mmap'ed, size bytes) */
    int state;   /* under infl_mu */
} infl_job_t;

typedef struct dwi_ahead_s infl_t; /* (dwarfinfo.h's dwi_ahead_t) */
struct dwi_ahead_s {
    infl_t *next; /* infl_list */
    int fd;              /* the dwi_t's: read with pread (no mapping of the file: its pages
                          * read would count in the RSS) */
    infl_job_t job[INFL_MAX];
    size_t njobs;
    bool stop; /* under infl_mu: dwi_close before the end */
    pthread_t th;
};

static pthread_mutex_t infl_mu = PTHREAD_MUTEX_INITIALIZER;
static infl_t *infl_list; /* of every open dwi_t's (a symwarm thread may have one) */

/* The sections inflated ahead, in the order the thread does them: libdwarf reads
 * .debug_aranges, .debug_abbrev and .debug_info at dwi_open's index, the lists just after,
 * the lines and strings at the first lookup. */
static const char *const infl_names[] = {
    ".debug_abbrev", ".debug_rnglists", ".debug_loclists", ".debug_str_offsets", ".debug_addr",
    ".debug_line",   ".debug_str",      ".debug_line_str", ".debug_ranges",
};
#define INFL_NNAMES (sizeof(infl_names) / sizeof(infl_names[0]))

/* An anonymous mapping of n bytes, or NULL. Populated (one call, not a fault per page)
 * unless large: an inflated size is the file's word, and only the bytes inflated are used. */
static Bytef *infl_map(size_t n)
{
    int populate = n <= INFL_POPULATE_MAX ? MAP_POPULATE : 0;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | populate, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* All n bytes of fd at off into buf. */
static bool infl_pread(int fd, void *buf, size_t n, uint64_t off)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

/* Whether fd's n bytes at off are those of buf (read a piece at a time). */
static bool infl_same(int fd, uint64_t off, const Bytef *buf, size_t n)
{
    unsigned char piece[16384];
    for (size_t o = 0; o < n; o += sizeof piece) {
        size_t k = n - o < sizeof piece ? n - o : sizeof piece;
        if (!infl_pread(fd, piece, k, off + o) || memcmp(piece, buf + o, k) != 0)
            return false;
    }
    return true;
}

/* Job i if it is still to do (and f not stopping): inflates it; returns whether it was. */
static bool infl_run(infl_t *f, size_t i)
{
    infl_job_t *j = &f->job[i];
    pthread_mutex_lock(&infl_mu);
    bool go = !f->stop && j->state == INFL_TODO;
    if (go)
        j->state = INFL_RUNNING;
    pthread_mutex_unlock(&infl_mu);
    if (!go)
        return false;
    Bytef *in = infl_map(j->srclen), *out = infl_map(j->size);
    uLongf got = (uLongf)j->size;
    bool ok = in && out && infl_pread(f->fd, in, j->srclen, j->src) &&
              dwi_inflate(out, &got, in, (uLong)j->srclen) == Z_OK && got == j->size;
    if (in)
        munmap(in, j->srclen);
    if (!ok && out) {
        munmap(out, j->size);
        out = NULL;
    }
    pthread_mutex_lock(&infl_mu);
    bool wanted = j->state == INFL_RUNNING; /* (else libdwarf's call inflated it meanwhile) */
    if (wanted) {
        j->out = out;
        j->state = ok ? INFL_DONE : INFL_GONE; /* (failed: libdwarf's call inflates it) */
    }
    pthread_mutex_unlock(&infl_mu);
    if (!wanted && out)
        munmap(out, j->size);
    return true;
}

static void *infl_main(void *arg)
{
    infl_t *f = arg;
    for (size_t i = 0; i < f->njobs; i++)
        infl_run(f, i);
    return NULL;
}

static void infl_unlink(infl_t *f)
{
    pthread_mutex_lock(&infl_mu);
    for (infl_t **p = &infl_list; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            break;
        }
    pthread_mutex_unlock(&infl_mu);
}

/* The jobs of fd's compressed sections named in infl_names, with a thread at them; NULL when
 * none (or one core, or no libelf view of fd). */
static infl_t *infl_start(int fd)
{
    if (!prefetch_second_core())
        return NULL;
    infl_t *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->fd = fd;
    size_t shstrndx;
    Elf *e = elf_begin(fd, ELF_C_READ, NULL); /* (headers and names only) */
    GElf_Ehdr eh;
    static const union { uint16_t u; unsigned char b[2]; } host = {1};
    if (!e || elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh) ||
        eh.e_ident[EI_DATA] != (host.b[0] ? ELFDATA2LSB : ELFDATA2MSB) ||
        elf_getshdrstrndx(e, &shstrndx) != 0)
        goto none;
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto none;
    bool c32 = eh.e_ident[EI_CLASS] == ELFCLASS32;
    size_t hdr = c32 ? sizeof(Elf32_Chdr) : sizeof(Elf64_Chdr);
    unsigned rank[INFL_MAX];
    for (Elf_Scn *scn = elf_nextscn(e, NULL); scn && f->njobs < INFL_MAX;
         scn = elf_nextscn(e, scn)) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_COMPRESSED) ||
            sh.sh_type == SHT_NOBITS || sh.sh_size <= hdr || sh.sh_offset > (uint64_t)st.st_size ||
            sh.sh_size > (uint64_t)st.st_size - sh.sh_offset) /* (in the file) */
            continue;
        const char *name = elf_strptr(e, shstrndx, sh.sh_name);
        unsigned r = 0;
        while (name && r < INFL_NNAMES && strcmp(name, infl_names[r]))
            r++;
        if (!name || r == INFL_NNAMES)
            continue;
        union { Elf32_Chdr c32; Elf64_Chdr c64; } ch; /* (in the host's byte order: checked) */
        if (!infl_pread(fd, &ch, hdr, sh.sh_offset))
            continue;
        uint64_t type = c32 ? ch.c32.ch_type : ch.c64.ch_type;
        uint64_t size = c32 ? ch.c32.ch_size : ch.c64.ch_size;
        if (type != ELFCOMPRESS_ZLIB || size == 0 ||
            size / 1100 > sh.sh_size) /* (deflate inflates at most ~1032 times) */
            continue;
        size_t k = f->njobs++;
        for (; k > 0 && rank[k - 1] > r; k--) {
            f->job[k] = f->job[k - 1];
            rank[k] = rank[k - 1];
        }
        f->job[k] = (infl_job_t){sh.sh_offset + hdr, (size_t)(sh.sh_size - hdr), (size_t)size,
                                 NULL, INFL_TODO};
        rank[k] = r;
    }
    elf_end(e);
    e = NULL;
    if (!f->njobs)
        goto none;
    pthread_mutex_lock(&infl_mu);
    f->next = infl_list;
    infl_list = f;
    pthread_mutex_unlock(&infl_mu);
    if (pthread_create(&f->th, NULL, infl_main, f) == 0)
        return f;
    infl_unlink(f);
none:
    if (e)
        elf_end(e);
    free(f);
    return NULL;
}

/* Stops f's thread (after the section at hand), forgets f, frees what libdwarf did not take. */
static void infl_stop(infl_t *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&infl_mu);
    f->stop = true;
    pthread_mutex_unlock(&infl_mu);
    pthread_join(f->th, NULL);
    infl_unlink(f);
    for (size_t i = 0; i < f->njobs; i++)
        if (f->job[i].out)
            munmap(f->job[i].out, f->job[i].size);
    free(f);
}

int uncompress(Bytef *dest, uLongf *destLen, const Bytef *source, uLong sourceLen)
{
    Bytef *got = NULL;
    size_t gotlen = 0;
    pthread_mutex_lock(&infl_mu);
    for (infl_t *f = infl_list; f; f = f->next)
        for (size_t i = 0; i < f->njobs; i++) {
            infl_job_t *j = &f->job[i];
            if (j->state == INFL_GONE || j->srclen != sourceLen ||
                !infl_same(f->fd, j->src, source, sourceLen))
                continue;
            if (j->state == INFL_DONE) {
                got = j->out;
                gotlen = j->size;
                j->out = NULL;
            }
            /* still to do, or at it: inflated below, on this thread, which never waits for
             * the other (busy with another program, it may be slow to get there) */
            j->state = INFL_GONE;
            goto found;
        }
found:
    pthread_mutex_unlock(&infl_mu);
    if (got && gotlen <= *destLen) {
        for (size_t o = 0; o < gotlen; o += INFL_PIECE) {
            size_t n = gotlen - o < INFL_PIECE ? gotlen - o : INFL_PIECE;
            memcpy(dest + o, got + o, n);
            munmap(got + o, n); /* (the mapping's pages from o on: o is page-aligned) */
        }
        *destLen = (uLongf)gotlen;
        return Z_OK;
    }
    if (got)
        munmap(got, gotlen);
    return dwi_inflate(dest, destLen, source, sourceLen);
}

#define DWI_MAX_NEST 128u  /* DIE nesting followed; deeper DIEs are not read */
#define DWI_MAX_HOPS 8     /* abstract_origin / specification links followed for a name */

typedef struct lrow_s {
    uint64_t addr;
    uint32_t line, file; /* file: index into cu_t.files, UINT32_MAX when unknown */
    uint32_t end;        /* end of a sequence: no code from here */
    uint32_t order;      /* input order, for a stable sort */
} lrow_t;

typedef struct scope_s {
    const char *name;
    int32_t parent; /* index into cu_t.scopes, -1 for none */
    uint32_t depth;
    uint32_t call_line;     /* where this inlined scope was inlined */
    bool has_call_file;
    uint64_t call_file;     /* as DWARF numbers it (cu_file maps it once the files are read) */
    bool inlined;
    bool expanded; /* its children were read: they are, when an address of it was looked up */
    bool named;    /* name read: it is when a lookup first gives this scope as a frame */
    bool has_off;  /* off is known (else the name and children are read when it is met) */
    uint32_t nest; /* its DIE's nesting in the CU (DWI_MAX_NEST bounds it) */
    Dwarf_Off off; /* its DIE, to read its name and children later */
} scope_t;

typedef struct srange_s {
    uint64_t lo, hi;
    uint32_t scope;
} srange_t;

typedef struct cu_s {
    Dwarf_Off off; /* global offset of the CU's DIE */
    bool loaded;   /* its scopes (subprograms) */
    bool lines;    /* its file names and line table (not read for a frame count) */
    uint32_t file_base; /* DWARF < 5 numbers files from 1 */
    const char **files;
    uint32_t nfiles;
    lrow_t *rows;
    size_t nrows;
    scope_t *scopes;
    size_t nscopes, scopes_cap;
    srange_t *sr;
    size_t nsr, sr_cap;
    unsigned version;
    uint64_t base; /* the CU's low_pc */
} cu_t;

typedef struct curange_s {
    uint64_t lo, hi;
    uint32_t cu;
} curange_t;

struct dwi_s {
    Dwarf_Debug dbg;
    arena_t arena;
    cu_t *cus;
    size_t ncus, cus_cap;
    curange_t *ranges;
    size_t nranges, ranges_cap;
    infl_t *infl; /* sections inflated ahead, NULL for none */
};

/* ---- helpers ------------------------------------------------------------------------- */

#define DWI_CLEAR(d, e)                                                                        \
    do {                                                                                       \
        if (e) {                                                                               \
            dwarf_dealloc_error((d)->dbg, (e));                                                \
            (e) = NULL;                                                                        \
        }                                                                                      \
    } while (0)

/* Makes room for one more element in *arr (capacity *cap, n in use). */
static int dwi_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return -PS_E_NOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int dwi_udata(dwi_t *d, Dwarf_Die die, Dwarf_Half at, Dwarf_Unsigned *out)
{
    Dwarf_Error err = NULL;
    Dwarf_Attribute a = NULL;
    int ok = 0;
    if (dwarf_attr(die, at, &a, &err) == DW_DLV_OK) {
        ok = dwarf_formudata(a, out, &err) == DW_DLV_OK;
        if (!ok) { /* DW_FORM_implicit_const (DWARF 5) reads only as signed */
            DWI_CLEAR(d, err);
            Dwarf_Signed v;
            ok = dwarf_formsdata(a, &v, &err) == DW_DLV_OK && v >= 0;
            if (ok)
                *out = (Dwarf_Unsigned)v;
        }
        dwarf_dealloc_attribute(a);
    }
    DWI_CLEAR(d, err);
    return ok;
}

static const char *dwi_string(dwi_t *d, Dwarf_Die die, Dwarf_Half at)
{
    Dwarf_Error err = NULL;
    Dwarf_Attribute a = NULL;
    char *s = NULL;
    if (dwarf_attr(die, at, &a, &err) == DW_DLV_OK) {
        if (dwarf_formstring(a, &s, &err) != DW_DLV_OK)
            s = NULL;
        dwarf_dealloc_attribute(a);
    }
    DWI_CLEAR(d, err);
    return s; /* points into the string section: not freed */
}

/* The DIE that attribute `at` of die refers to, or NULL. */
static Dwarf_Die dwi_ref(dwi_t *d, Dwarf_Die die, Dwarf_Half at)
{
    Dwarf_Error err = NULL;
    Dwarf_Attribute a = NULL;
    Dwarf_Die out = NULL;
    if (dwarf_attr(die, at, &a, &err) == DW_DLV_OK) {
        Dwarf_Off off;
        if (dwarf_global_formref(a, &off, &err) == DW_DLV_OK &&
            dwarf_offdie_b(d->dbg, off, 1, &out, &err) != DW_DLV_OK)
            out = NULL;
        dwarf_dealloc_attribute(a);
    }
    DWI_CLEAR(d, err);
    return out;
}

/* A function's name: the linkage name found along abstract_origin / specification links,
 * else the first DW_AT_name met. Copied into the arena (NULL if none or out of memory). */
static const char *dwi_name(dwi_t *d, Dwarf_Die die)
{
    const char *plain = NULL, *linkage = NULL;
    Dwarf_Die cur = die;
    for (int hop = 0; cur && hop < DWI_MAX_HOPS && !linkage; hop++) {
        linkage = dwi_string(d, cur, DW_AT_linkage_name);
        if (!linkage)
            linkage = dwi_string(d, cur, DW_AT_MIPS_linkage_name);
        if (!plain)
            plain = dwi_string(d, cur, DW_AT_name);
        Dwarf_Die next = NULL;
        if (!linkage && !(next = dwi_ref(d, cur, DW_AT_abstract_origin)))
            next = dwi_ref(d, cur, DW_AT_specification);
        if (cur != die)
            dwarf_dealloc_die(cur);
        cur = next;
    }
    if (cur && cur != die)
        dwarf_dealloc_die(cur);
    const char *n = linkage ? linkage : plain;
    return n ? arena_strdup(&d->arena, n) : NULL;
}

/* Calls add(ctx, lo, hi) for each address range of die: low_pc/high_pc, or DW_AT_ranges
 * (DWARF 5 .debug_rnglists, DWARF 2..4 .debug_ranges based at cu_base). */
typedef int (*dwi_range_fn)(dwi_t *d, void *ctx, uint64_t lo, uint64_t hi);

static int dwi_ranges(dwi_t *d, Dwarf_Die die, unsigned version, uint64_t cu_base,
                      dwi_range_fn add, void *ctx)
{
    Dwarf_Error err = NULL;
    Dwarf_Addr lo, hi;
    Dwarf_Half form;
    enum Dwarf_Form_Class cls;
    if (dwarf_lowpc(die, &lo, &err) == DW_DLV_OK) {
        if (dwarf_highpc_b(die, &hi, &form, &cls, &err) == DW_DLV_OK) {
            if (cls != DW_FORM_CLASS_ADDRESS)
                hi += lo;
            return hi > lo ? add(d, ctx, lo, hi) : 0;
        }
    }
    DWI_CLEAR(d, err);
    Dwarf_Attribute a = NULL;
    if (dwarf_attr(die, DW_AT_ranges, &a, &err) != DW_DLV_OK) {
        DWI_CLEAR(d, err);
        return 0;
    }
    int rc = 0;
    if (dwarf_whatform(a, &form, &err) != DW_DLV_OK)
        goto out;
    if (version >= 5 || form == DW_FORM_rnglistx) {
        Dwarf_Unsigned val, count = 0, goff;
        Dwarf_Rnglists_Head head = NULL;
        int res = form == DW_FORM_rnglistx ? dwarf_formudata(a, &val, &err)
                                           : dwarf_global_formref(a, &val, &err);
        if (res != DW_DLV_OK ||
            dwarf_rnglists_get_rle_head(a, form, val, &head, &count, &goff, &err) != DW_DLV_OK)
            goto out;
        for (Dwarf_Unsigned i = 0; i < count && rc == 0; i++) {
            unsigned len, code;
            Dwarf_Unsigned r1, r2, c1, c2;
            Dwarf_Bool unavailable = 0;
            if (dwarf_get_rnglists_entry_fields_a(head, i, &len, &code, &r1, &r2, &unavailable,
                                                  &c1, &c2, &err) != DW_DLV_OK) {
                DWI_CLEAR(d, err);
                break;
            }
            if (code == DW_RLE_end_of_list)
                break;
            if (code == DW_RLE_base_address || code == DW_RLE_base_addressx || unavailable)
                continue;
            if (c2 > c1)
                rc = add(d, ctx, c1, c2);
        }
        dwarf_dealloc_rnglists_head(head);
    } else {
        Dwarf_Off off, real;
        Dwarf_Ranges *rs = NULL;
        Dwarf_Signed n = 0;
        Dwarf_Unsigned bytes;
        if (dwarf_global_formref(a, &off, &err) != DW_DLV_OK) {
            DWI_CLEAR(d, err);
            Dwarf_Unsigned u;
            if (dwarf_formudata(a, &u, &err) != DW_DLV_OK)
                goto out;
            off = u;
        }
        if (dwarf_get_ranges_b(d->dbg, off, die, &real, &rs, &n, &bytes, &err) != DW_DLV_OK)
            goto out;
        uint64_t base = cu_base;
        for (Dwarf_Signed i = 0; i < n && rc == 0; i++) {
            if (rs[i].dwr_type == DW_RANGES_END)
                break;
            if (rs[i].dwr_type == DW_RANGES_ADDRESS_SELECTION)
                base = rs[i].dwr_addr2;
            else if (rs[i].dwr_addr2 > rs[i].dwr_addr1)
                rc = add(d, ctx, base + rs[i].dwr_addr1, base + rs[i].dwr_addr2);
        }
        dwarf_ranges_dealloc(d->dbg, rs, n);
    }
out:
    DWI_CLEAR(d, err);
    dwarf_dealloc_attribute(a);
    return rc;
}

/* ---- opening: the CU index ----------------------------------------------------------- */

static int dwi_add_curange(dwi_t *d, void *ctx, uint64_t lo, uint64_t hi)
{
    if (dwi_grow((void **)&d->ranges, &d->ranges_cap, d->nranges, sizeof(*d->ranges)) < 0)
        return -PS_E_NOMEM;
    d->ranges[d->nranges++] = (curange_t){lo, hi, (uint32_t)(uintptr_t)ctx};
    return 0;
}

static int curange_cmp(const void *a, const void *b)
{
    const curange_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static uint64_t dwi_lowpc(dwi_t *d, Dwarf_Die die)
{
    Dwarf_Error err = NULL;
    Dwarf_Addr lo = 0;
    if (dwarf_lowpc(die, &lo, &err) != DW_DLV_OK)
        lo = 0;
    DWI_CLEAR(d, err);
    return lo;
}

typedef struct arent_s {
    uint64_t lo, hi;
    Dwarf_Off off; /* the CU's DIE */
} arent_t;

static int arent_cmp(const void *a, const void *b)
{
    const arent_t *x = a, *y = b;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The CU index from .debug_aranges: no walk over every CU header (libdwarf builds a context
 * for each, reading its DIE), a CU's context is made when an address first falls in it.
 * 0 with d->nranges 0 when the section is absent or unreadable (the caller walks then). */
static int dwi_index_aranges(dwi_t *d)
{
    Dwarf_Error err = NULL;
    Dwarf_Arange *ar = NULL;
    Dwarf_Signed n = 0;
    if (dwarf_get_aranges(d->dbg, &ar, &n, &err) != DW_DLV_OK) {
        DWI_CLEAR(d, err);
        return 0;
    }
    int rc = 0;
    size_t k = 0;
    arent_t *t = n > 0 ? malloc((size_t)n * sizeof(*t)) : NULL;
    if (n > 0 && !t)
        rc = -PS_E_NOMEM;
    for (Dwarf_Signed i = 0; i < n; i++) {
        Dwarf_Unsigned seg, segsize, len;
        Dwarf_Addr start;
        Dwarf_Off off;
        if (t && dwarf_get_arange_info_b(ar[i], &seg, &segsize, &start, &len, &off, &err) ==
                     DW_DLV_OK) {
            if (len > 0 && start + len > start)
                t[k++] = (arent_t){start, start + len, off};
        }
        DWI_CLEAR(d, err);
        dwarf_dealloc(d->dbg, ar[i], DW_DLA_ARANGE);
    }
    dwarf_dealloc(d->dbg, ar, DW_DLA_LIST);
    if (k)
        qsort(t, k, sizeof(*t), arent_cmp);
    for (size_t i = 0; i < k && rc == 0; i++) {
        if (i == 0 || t[i].off != t[i - 1].off) {
            rc = dwi_grow((void **)&d->cus, &d->cus_cap, d->ncus, sizeof(*d->cus));
            if (rc == 0)
                d->cus[d->ncus++] = (cu_t){.off = t[i].off};
        }
        if (rc == 0)
            rc = dwi_add_curange(d, (void *)(uintptr_t)(d->ncus - 1), t[i].lo, t[i].hi);
    }
    free(t);
    if (rc < 0 || d->nranges == 0) { /* start over with the walk */
        d->ncus = d->nranges = 0;
    }
    return rc;
}

dwi_ahead_t *dwi_ahead(int fd)
{
    return infl_start(fd);
}

void dwi_ahead_free(dwi_ahead_t *a)
{
    infl_stop(a);
}

/* libdwarf records every allocation it hands out (a tsearch tree per Dwarf_Debug, so that
 * dwarf_finish can free what a caller did not): ~20 M instructions of a report's symbols on
 * churn (tsearch, tdelete), for nothing here, which deallocates every DIE, attribute, list,
 * string, range list and line context it gets (dwarf_set_de_alloc_flag, libdwarf 20200307
 * on; process-wide, set once before the first dwarf_init_b). */
static pthread_once_t dwi_alloc_once = PTHREAD_ONCE_INIT;

static void dwi_alloc_untracked(void)
{
    dwarf_set_de_alloc_flag(0);
}

int dwi_open(int fd, dwi_ahead_t *ahead, dwi_t **out)
{
    *out = NULL;
    pthread_once(&dwi_alloc_once, dwi_alloc_untracked);
    if (ahead && ahead->fd != fd) { /* (another file's: not this one's bytes) */
        infl_stop(ahead);
        ahead = NULL;
    }
    dwi_t *d = calloc(1, sizeof(*d));
    if (!d) {
        infl_stop(ahead);
        return -PS_E_NOMEM;
    }
    Dwarf_Error err = NULL;
    d->infl = ahead ? ahead : infl_start(fd);
    if (dwarf_init_b(fd, DW_DLC_READ, DW_GROUPNUMBER_ANY, NULL, NULL, &d->dbg, &err) !=
        DW_DLV_OK) {
        if (err)
            dwarf_dealloc_error(d->dbg, err);
        infl_stop(d->infl);
        free(d);
        return 0;
    }
    int rc = dwi_index_aranges(d);
    bool walk = rc == 0 && d->nranges == 0; /* no .debug_aranges: every CU header */
    while (walk) {
        Dwarf_Unsigned cu_len, typeoff, next;
        Dwarf_Half ver, asize, lsize, esize, cutype;
        Dwarf_Off abbrev;
        Dwarf_Sig8 sig;
        int res = dwarf_next_cu_header_d(d->dbg, 1, &cu_len, &ver, &abbrev, &asize, &lsize,
                                         &esize, &sig, &typeoff, &next, &cutype, &err);
        if (res != DW_DLV_OK) {
            DWI_CLEAR(d, err);
            break;
        }
        Dwarf_Die cu = NULL;
        if (dwarf_siblingof_b(d->dbg, NULL, 1, &cu, &err) != DW_DLV_OK) {
            DWI_CLEAR(d, err);
            continue;
        }
        Dwarf_Off off;
        if (dwarf_dieoffset(cu, &off, &err) == DW_DLV_OK) {
            rc = dwi_grow((void **)&d->cus, &d->cus_cap, d->ncus, sizeof(*d->cus));
            if (rc == 0) {
                uint32_t idx = (uint32_t)d->ncus++;
                d->cus[idx] = (cu_t){.off = off};
                rc = dwi_ranges(d, cu, ver, dwi_lowpc(d, cu), dwi_add_curange,
                                (void *)(uintptr_t)idx);
            }
        }
        DWI_CLEAR(d, err);
        dwarf_dealloc_die(cu);
        if (rc < 0)
            break;
    }
    if (rc < 0 || d->nranges == 0) {
        dwi_close(d);
        return rc;
    }
    qsort(d->ranges, d->nranges, sizeof(*d->ranges), curange_cmp);
    *out = d;
    return 0;
}

/* ---- loading one CU ------------------------------------------------------------------ */

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

static int dwi_load_files(dwi_t *d, cu_t *c, Dwarf_Die die)
{
    Dwarf_Error err = NULL;
    char **list = NULL;
    Dwarf_Signed n = 0;
    if (dwarf_srcfiles(die, &list, &n, &err) != DW_DLV_OK) {
        DWI_CLEAR(d, err);
        return 0;
    }
    int rc = 0;
    c->files = arena_alloc(&d->arena, (size_t)n * sizeof(*c->files));
    if (!c->files)
        rc = -PS_E_NOMEM;
    for (Dwarf_Signed i = 0; i < n; i++) {
        if (rc == 0 && !(c->files[i] = arena_strdup(&d->arena, list[i])))
            rc = -PS_E_NOMEM;
        dwarf_dealloc(d->dbg, list[i], DW_DLA_STRING);
    }
    dwarf_dealloc(d->dbg, list, DW_DLA_LIST);
    if (rc == 0)
        c->nfiles = (uint32_t)n;
    return rc;
}

static uint32_t cu_file(const cu_t *c, Dwarf_Unsigned fileno)
{
    if (fileno < c->file_base || fileno - c->file_base >= c->nfiles)
        return UINT32_MAX;
    return (uint32_t)(fileno - c->file_base);
}

static int dwi_load_lines(dwi_t *d, cu_t *c, Dwarf_Die die)
{
    Dwarf_Error err = NULL;
    Dwarf_Unsigned version = 0;
    Dwarf_Small tables = 0;
    Dwarf_Line_Context ctx = NULL;
    if (dwarf_srclines_b(die, &version, &tables, &ctx, &err) != DW_DLV_OK) {
        DWI_CLEAR(d, err);
        return 0;
    }
    c->file_base = version >= 5 ? 0 : 1;
    Dwarf_Line *lines = NULL;
    Dwarf_Signed nlines = 0;
    if (dwarf_srclines_from_linecontext(ctx, &lines, &nlines, &err) != DW_DLV_OK) {
        DWI_CLEAR(d, err);
        nlines = 0;
    }
    int rc = 0;
    if (nlines > 0 && !(c->rows = malloc((size_t)nlines * sizeof(*c->rows))))
        rc = -PS_E_NOMEM;
    for (Dwarf_Signed i = 0; i < nlines && rc == 0; i++) {
        Dwarf_Addr addr;
        Dwarf_Unsigned lineno, fileno = 0;
        Dwarf_Bool end = 0;
        if (dwarf_lineaddr(lines[i], &addr, &err) != DW_DLV_OK ||
            dwarf_lineno(lines[i], &lineno, &err) != DW_DLV_OK) {
            DWI_CLEAR(d, err);
            continue;
        }
        if (dwarf_lineendsequence(lines[i], &end, &err) != DW_DLV_OK)
            DWI_CLEAR(d, err);
        if (dwarf_line_srcfileno(lines[i], &fileno, &err) != DW_DLV_OK)
            DWI_CLEAR(d, err);
        c->rows[c->nrows] = (lrow_t){addr, (uint32_t)lineno, cu_file(c, fileno), end ? 1u : 0u,
                                     (uint32_t)c->nrows};
        c->nrows++;
    }
    dwarf_srclines_dealloc_b(ctx);
    if (c->nrows)
        qsort(c->rows, c->nrows, sizeof(*c->rows), lrow_cmp);
    return rc;
}

typedef struct scope_ctx_s {
    cu_t *c;
    uint32_t scope;
} scope_ctx_t;

static int dwi_add_srange(dwi_t *d, void *ctx, uint64_t lo, uint64_t hi)
{
    (void)d;
    scope_ctx_t *s = ctx;
    if (dwi_grow((void **)&s->c->sr, &s->c->sr_cap, s->c->nsr, sizeof(*s->c->sr)) < 0)
        return -PS_E_NOMEM;
    s->c->sr[s->c->nsr++] = (srange_t){lo, hi, s->scope};
    return 0;
}

/* Adds die as a scope when it has code; returns its index, -1 when it has none, or <-1 on
 * out of memory (as -1 - PS_E_NOMEM). */
static int64_t dwi_add_scope(dwi_t *d, cu_t *c, Dwarf_Die die, bool inlined, int32_t parent,
                             unsigned version, uint64_t cu_base)
{
    if (dwi_grow((void **)&c->scopes, &c->scopes_cap, c->nscopes, sizeof(*c->scopes)) < 0)
        return -1 - PS_E_NOMEM;
    size_t before = c->nsr;
    scope_ctx_t ctx = {c, (uint32_t)c->nscopes};
    if (dwi_ranges(d, die, version, cu_base, dwi_add_srange, &ctx) < 0)
        return -1 - PS_E_NOMEM;
    if (c->nsr == before)
        return -1;
    scope_t *s = &c->scopes[c->nscopes];
    *s = (scope_t){.parent = parent, .inlined = inlined};
    s->depth = parent >= 0 ? c->scopes[parent].depth + 1 : 0;
    Dwarf_Error err = NULL;
    s->has_off = dwarf_dieoffset(die, &s->off, &err) == DW_DLV_OK;
    DWI_CLEAR(d, err);
    if (!s->has_off) {
        s->name = dwi_name(d, die);
        s->named = true;
    }
    if (inlined) {
        Dwarf_Unsigned v;
        if (dwi_udata(d, die, DW_AT_call_file, &v))
            s->has_call_file = true, s->call_file = v;
        if (dwi_udata(d, die, DW_AT_call_line, &v))
            s->call_line = (uint32_t)v;
    }
    return (int64_t)c->nscopes++;
}

/* Tags whose children may hold code. Types are not entered: compilers put the definitions
 * of member functions at namespace level, with DW_AT_specification back to the class. */
static bool dwi_descend(Dwarf_Half tag)
{
    switch (tag) {
    case DW_TAG_namespace:
    case DW_TAG_subprogram:
    case DW_TAG_inlined_subroutine:
    case DW_TAG_lexical_block:
    case DW_TAG_try_block:
    case DW_TAG_catch_block:
    case DW_TAG_module:
        return true;
    default:
        return false;
    }
}

/* Reads the scopes from kid and its siblings down, under scope `parent`. A scope's children
 * are read only when one of its ranges holds va (dwi_expand reads them when a later lookup
 * falls in it): a lookup reads the subprograms of its CU, but the inlined trees of only the
 * functions it falls in. */
static int dwi_walk(dwi_t *d, cu_t *c, Dwarf_Die kid, int32_t parent0, unsigned base,
                    uint64_t va)
{
    struct { Dwarf_Die die; int32_t parent; } stack[DWI_MAX_NEST];
    unsigned sp = 0;
    Dwarf_Error err = NULL;
    stack[sp++] = (typeof(stack[0])){kid, parent0};
    int rc = 0;
    while (sp > 0) {
        Dwarf_Die die = stack[sp - 1].die;
        int32_t parent = stack[sp - 1].parent, scope = parent;
        Dwarf_Half tag = 0;
        bool descend = true;
        if (dwarf_tag(die, &tag, &err) != DW_DLV_OK)
            DWI_CLEAR(d, err);
        if (rc == 0 && (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine)) {
            size_t before = c->nsr;
            int64_t r = dwi_add_scope(d, c, die, tag == DW_TAG_inlined_subroutine, parent,
                                      c->version, c->base);
            if (r < -1) {
                rc = (int)(r + 1);
            } else if (r >= 0) {
                scope = (int32_t)r;
                scope_t *sc = &c->scopes[r];
                sc->nest = base + sp;
                for (size_t i = before; i < c->nsr && !sc->expanded; i++)
                    sc->expanded = va >= c->sr[i].lo && va < c->sr[i].hi;
                if (!sc->expanded && sc->has_off)
                    descend = false; /* later, if ever */
                else
                    sc->expanded = true;
            }
        }
        Dwarf_Die sib = NULL;
        kid = NULL;
        if (dwarf_siblingof_b(d->dbg, die, 1, &sib, &err) != DW_DLV_OK)
            sib = NULL;
        DWI_CLEAR(d, err);
        if (rc == 0 && descend && dwi_descend(tag) && base + sp < DWI_MAX_NEST &&
            dwarf_child(die, &kid, &err) != DW_DLV_OK)
            kid = NULL;
        DWI_CLEAR(d, err);
        dwarf_dealloc_die(die);
        if (sib)
            stack[sp - 1].die = sib;
        else
            sp--;
        if (kid)
            stack[sp++] = (typeof(stack[0])){kid, scope};
    }
    return rc;
}

static int dwi_load_scopes(dwi_t *d, cu_t *c, Dwarf_Die cu_die, uint64_t va)
{
    Dwarf_Error err = NULL;
    c->base = dwi_lowpc(d, cu_die);
    Dwarf_Die kid = NULL;
    int rc = 0;
    if (dwarf_child(cu_die, &kid, &err) == DW_DLV_OK)
        rc = dwi_walk(d, c, kid, -1, 0, va);
    DWI_CLEAR(d, err);
    return rc;
}

/* Reads the children of scope si (not read when it was met). */
static int dwi_expand(dwi_t *d, cu_t *c, uint32_t si, uint64_t va)
{
    c->scopes[si].expanded = true;
    Dwarf_Error err = NULL;
    Dwarf_Die die = NULL, kid = NULL;
    int rc = 0;
    if (dwarf_offdie_b(d->dbg, c->scopes[si].off, 1, &die, &err) == DW_DLV_OK) {
        /* bounded as if the walk had gone on from where it met the scope */
        unsigned nest = c->scopes[si].nest;
        if (nest < DWI_MAX_NEST && dwarf_child(die, &kid, &err) == DW_DLV_OK)
            rc = dwi_walk(d, c, kid, (int32_t)si, nest, va);
        dwarf_dealloc_die(die);
    }
    DWI_CLEAR(d, err);
    return rc;
}

/* Reads c's scopes (first time) and, with lines, its files and line table (first time): a
 * frame count needs the scopes only. */
static int dwi_load_cu(dwi_t *d, cu_t *c, uint64_t va, bool lines)
{
    bool scopes = !c->loaded;
    lines = lines && !c->lines;
    if (!scopes && !lines)
        return 0;
    c->loaded = true;
    c->lines = c->lines || lines;
    Dwarf_Error err = NULL;
    Dwarf_Die die = NULL;
    if (dwarf_offdie_b(d->dbg, c->off, 1, &die, &err) != DW_DLV_OK) {
        DWI_CLEAR(d, err);
        c->lines = true; /* nothing to read, later either */
        return 0;
    }
    int rc = 0;
    if (lines) {
        rc = dwi_load_files(d, c, die);
        if (rc == 0)
            rc = dwi_load_lines(d, c, die);
    }
    if (rc == 0 && scopes) {
        Dwarf_Half ver = 0, offsize = 0;
        if (dwarf_get_version_of_die(die, &ver, &offsize) != DW_DLV_OK)
            ver = 4;
        c->version = ver, rc = dwi_load_scopes(d, c, die, va);
    }
    dwarf_dealloc_die(die);
    return rc;
}

/* ---- lookup -------------------------------------------------------------------------- */

static cu_t *dwi_find_cu(dwi_t *d, uint64_t va)
{
    size_t lo = ubound_u64(d->ranges, d->nranges, sizeof(*d->ranges), offsetof(curange_t, lo), va);
    for (size_t i = lo, k = 0; i-- > 0 && k < 16; k++)
        if (va < d->ranges[i].hi)
            return &d->cus[d->ranges[i].cu];
    return NULL;
}

static const lrow_t *cu_find_row(const cu_t *c, uint64_t va)
{
    size_t lo = ubound_u64(c->rows, c->nrows, sizeof(*c->rows), offsetof(lrow_t, addr), va);
    if (lo == 0 || c->rows[lo - 1].end)
        return NULL;
    return &c->rows[lo - 1];
}

/* Scope i's function name, read from its DIE the first time. */
static const char *scope_name(dwi_t *d, cu_t *c, int32_t i)
{
    scope_t *s = &c->scopes[i];
    if (!s->named) {
        s->named = true;
        Dwarf_Error err = NULL;
        Dwarf_Die die = NULL;
        if (dwarf_offdie_b(d->dbg, s->off, 1, &die, &err) == DW_DLV_OK) {
            s->name = dwi_name(d, die);
            dwarf_dealloc_die(die);
        }
        DWI_CLEAR(d, err);
    }
    return s->name;
}

/* dwi_lookup, or with frames NULL dwi_depth: the count alone, which needs neither the line
 * table nor the names. */
static int dwi_find(dwi_t *d, uint64_t va, dwi_frame_t *frames, int max)
{
    if (!d || max <= 0)
        return 0;
    cu_t *c = dwi_find_cu(d, va);
    if (!c)
        return 0;
    int rc = dwi_load_cu(d, c, va, frames != NULL);
    if (rc < 0)
        return rc;
    /* every scope that holds va read down to its children, as if the CU had been read whole */
    for (size_t i = 0; i < c->nsr; i++) {
        const srange_t *r = &c->sr[i];
        if (va >= r->lo && va < r->hi && !c->scopes[r->scope].expanded) {
            rc = dwi_expand(d, c, r->scope, va);
            if (rc < 0)
                return rc;
            i = (size_t)-1; /* c->sr may have moved: from the start */
        }
    }
    int32_t best = -1;
    for (size_t i = 0; i < c->nsr; i++) {
        const srange_t *r = &c->sr[i];
        if (va >= r->lo && va < r->hi &&
            (best < 0 || c->scopes[r->scope].depth > c->scopes[best].depth))
            best = (int32_t)r->scope;
    }
    int n = 0;
    if (!frames) {
        while (best >= 0 && c->scopes[best].inlined && n < max - 1) {
            n++;
            best = c->scopes[best].parent;
        }
        return n + 1;
    }
    const lrow_t *row = cu_find_row(c, va);
    const char *file = NULL;
    uint32_t line = 0;
    if (row && row->line) {
        file = row->file < c->nfiles ? c->files[row->file] : NULL;
        line = row->line;
    }
    while (best >= 0 && c->scopes[best].inlined && n < max - 1) {
        const scope_t *s = &c->scopes[best];
        frames[n++] = (dwi_frame_t){scope_name(d, c, best), file, line, 1};
        uint32_t cf = s->has_call_file ? cu_file(c, s->call_file) : UINT32_MAX;
        file = cf < c->nfiles ? c->files[cf] : NULL;
        line = s->call_line;
        best = s->parent;
    }
    while (best >= 0 && c->scopes[best].inlined) /* too deep: skip to the function */
        best = c->scopes[best].parent;
    frames[n++] = (dwi_frame_t){best >= 0 ? scope_name(d, c, best) : NULL, file, line, 0};
    return n;
}

int dwi_lookup(dwi_t *d, uint64_t va, dwi_frame_t *frames, int max)
{
    return frames ? dwi_find(d, va, frames, max) : 0;
}

int dwi_depth(dwi_t *d, uint64_t va, int max)
{
    return dwi_find(d, va, NULL, max);
}

void dwi_leave(dwi_t *d)
{
    if (!d)
        return;
    infl_stop(d->infl);
    d->infl = NULL;
}

void dwi_close(dwi_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->ncus; i++) {
        free(d->cus[i].rows);
        free(d->cus[i].scopes);
        free(d->cus[i].sr);
    }
    free(d->cus);
    free(d->ranges);
    arena_free(&d->arena);
    if (d->dbg)
        dwarf_finish(d->dbg, NULL);
    infl_stop(d->infl);
    free(d);
}
