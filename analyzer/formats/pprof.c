/*
 * pprof.c -- the pprof profile format (formats/profile.proto, the wire format of google/pprof's
 * profile.proto), gzip-compressed, what `go tool pprof`, Grafana Pyroscope and Parca read; a
 * renderer of the profile view (core/profile.h), encoded with protobuf-c (code generated from
 * profile.proto at build time) and compressed with zlib.
 *
 * The profile: sample_type is the view's types with their units (perfshim report: allocations
 * count, bytes bytes, peak bytes, leaked bytes, inuse bytes); default_sample_type the one
 * --metric selects; each stack with a value not 0 is a Sample (location ids leaf first); a
 * Location per distinct return address, its Lines the symbolizer's frames of that address
 * (inlined functions first, then the function holding the code: one Line each, with its
 * file:line), its mapping the module that holds it; a Function per distinct (name, file); a
 * Mapping per module of the trace's module map (memory_start..memory_limit: its PT_LOAD
 * segments at the load bias, build_id in hex, the main program first), has_functions etc. set
 * since every frame was symbolized; time_nanos the wall clock at the trace's start,
 * duration_nanos the trace's; comment "perfshim heap
 * profile of PROGRAM". A stack without frames is one location "[no stack]" (address 0).
 *
 * Contract: analyzer-only. pprof_format (formats.def) opens it; 0 or -PS_E_NOMEM, errors of
 * writing are the caller's (ferror).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/grow.h"
#include "core/profile.h"
#include "core/safeout.h"
#include "core/intern.h"
#include "formats/profile.pb-c.h"
#include "perfshim/errors.h"

int pprof_format(void *view, FILE *o); /* formats/formats.def */

typedef struct pp_loc_s {
    uint64_t address, mapping; /* mapping id, 0 none */
    size_t line0, nlines;      /* into lines */
} pp_loc_t;

typedef struct pp_line_s {
    uint64_t function; /* index into functions */
    int64_t line;
} pp_line_t;

typedef struct pp_map_s {
    uint64_t start, limit;
    const tm_module_t *mod;
} pp_map_t;

typedef struct pprof_s {
    FILE *o;
    const profile_t *p;
    intern_t strings, functions, locations; /* functions: name \0 file; locations: address, n */
    int64_t *fn_name, *fn_file;             /* by function index (string indices) */
    size_t capfn, capfnfile;
    pp_loc_t *locs;
    size_t caplocs;
    pp_line_t *lines;
    size_t nlines, caplines;
    uint64_t *sloc; /* every sample's location ids, one after another */
    size_t nsloc, capsloc;
    size_t *start; /* sample i: sloc[start[i] .. start[i + 1]) */
    size_t capstart;
    int64_t *values; /* values[i * ntypes ...] */
    size_t capvalues, n;
    pp_map_t *maps; /* mapping id i + 1 */
    size_t nmaps;
    bool maps_done;
} pprof_t;

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
    return grow_array(v, cap, need, elem, 64);
}

static long pp_str(pprof_t *P, const char *s) { return intern_str(&P->strings, s, NULL); }

/* The mappings, from the meta's module map (the main program first). */
static int pp_maps(pprof_t *P)
{
    P->maps_done = true;
    const profile_meta_t *m = P->p->meta;
    if (!m || !m->nmodules)
        return 0;
    if (!(P->maps = calloc(m->nmodules, sizeof *P->maps)))
        return -PS_E_NOMEM;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < m->nmodules; i++) {
            const tm_module_t *mod = &m->modules[i];
            bool main = m->exe && mod->path && strcmp(mod->path, m->exe) == 0;
            if (main != (pass == 0) || !mod->nseg)
                continue;
            uint64_t lo = UINT64_MAX, hi = 0;
            for (uint32_t s = 0; s < mod->nseg; s++) {
                if (mod->segs[s].vaddr < lo)
                    lo = mod->segs[s].vaddr;
                if (mod->segs[s].vaddr + mod->segs[s].memsz > hi)
                    hi = mod->segs[s].vaddr + mod->segs[s].memsz;
            }
            P->maps[P->nmaps++] = (pp_map_t){mod->base + lo, mod->base + hi, mod};
        }
    return 0;
}

static uint64_t pp_mapping_of(const pprof_t *P, uint64_t address)
{
    for (size_t i = 0; i < P->nmaps; i++)
        if (address >= P->maps[i].start && address < P->maps[i].limit)
            return i + 1;
    return 0;
}

static long pp_function(pprof_t *P, const char *name, const char *file)
{
    bool added; /* (the whole key: two long names alike in their first KiB are two functions) */
    long f = intern_fmt(&P->functions, &added, "%s%c%s", name, 0, file ? file : "");
    if (f < 0 || !added)
        return f;
    long sn = pp_str(P, name), sf = pp_str(P, file);
    if (sn < 0 || sf < 0 ||
        grow((void **)&P->fn_name, &P->capfn, (size_t)f + 1, sizeof *P->fn_name) < 0 ||
        grow((void **)&P->fn_file, &P->capfnfile, (size_t)f + 1, sizeof *P->fn_file) < 0)
        return -PS_E_NOMEM;
    P->fn_name[f] = sn;
    P->fn_file[f] = sf;
    return f;
}

/* The location of the frames fr[0..n) of one address (inlined ones first); its index. */
static long pp_location(pprof_t *P, const sym_frame_t *fr, size_t n)
{
    uint64_t addr = n ? fr[0].address : 0, key[2] = {addr, n}; /* n: a stack cut inside an
                                                                 * address's inlined frames */
    bool added;
    long l = intern_get(&P->locations, key, sizeof key, &added);
    if (l < 0 || !added)
        return l;
    if (grow((void **)&P->locs, &P->caplocs, (size_t)l + 1, sizeof *P->locs) < 0 ||
        grow((void **)&P->lines, &P->caplines, P->nlines + (n ? n : 1), sizeof *P->lines) < 0)
        return -PS_E_NOMEM;
    P->locs[l] = (pp_loc_t){addr, n ? pp_mapping_of(P, addr) : 0, P->nlines, n ? n : 1};
    for (size_t k = 0; k < (n ? n : 1); k++) {
        char nb[64];
        const char *name = n ? profile_frame_name(&fr[k], nb, sizeof nb) : "[no stack]";
        const char *file = n ? fr[k].file : NULL;
        long f = pp_function(P, name, file);
        if (f < 0)
            return f;
        P->lines[P->nlines++] = (pp_line_t){(uint64_t)f, n ? (int64_t)fr[k].line : 0};
    }
    return l;
}

static int pprof_sample(void *ctx, const sym_frame_t *fr, size_t n, const uint64_t *values,
                        size_t select)
{
    (void)select;
    pprof_t *P = ctx;
    size_t nt = P->p->ntypes;
    bool any = false;
    for (size_t t = 0; t < nt; t++)
        any |= values[t] != 0;
    if (!any)
        return 0;
    int rc;
    if (!P->maps_done && (rc = pp_maps(P)) < 0)
        return rc;
    if (grow((void **)&P->sloc, &P->capsloc, P->nsloc + (n ? n : 1), sizeof *P->sloc) < 0 ||
        grow((void **)&P->start, &P->capstart, P->n + 2, sizeof *P->start) < 0 ||
        grow((void **)&P->values, &P->capvalues, (P->n + 1) * nt, sizeof *P->values) < 0)
        return -PS_E_NOMEM;
    P->start[P->n] = P->nsloc;
    size_t k = 0;
    do { /* one location per address: its inlined frames and the frame holding the code */
        size_t e = k;
        while (e + 1 < n && fr[e].inlined && fr[e + 1].address == fr[k].address)
            e++;
        long l = pp_location(P, fr + k, n ? e - k + 1 : 0);
        if (l < 0)
            return (int)l;
        P->sloc[P->nsloc++] = (uint64_t)l + 1;
        k = e + 1;
    } while (k < n);
    for (size_t t = 0; t < nt; t++)
        P->values[P->n * nt + t] = (int64_t)values[t];
    P->n++;
    P->start[P->n] = P->nsloc;
    return 0;
}

/* Writes buf gzip-compressed. */
static int pp_gzip(FILE *o, const uint8_t *buf, size_t len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return -PS_E_NOMEM;
    unsigned char out[16384];
    z.next_in = (Bytef *)buf;
    z.avail_in = (uInt)len;
    int zr;
    do {
        z.next_out = out;
        z.avail_out = sizeof out;
        zr = deflate(&z, Z_FINISH);
        fwrite(out, 1, sizeof out - z.avail_out, o);
    } while (zr == Z_OK);
    deflateEnd(&z);
    return zr == Z_STREAM_END ? 0 : -PS_E_NOMEM;
}

static char *pp_hex(const unsigned char *b, size_t n)
{
    char *s = malloc(2 * n + 1);
    for (size_t i = 0; s && i < n; i++)
        snprintf(s + 2 * i, 3, "%02x", b[i]);
    if (s)
        s[2 * n] = 0;
    return s;
}

static int pprof_write(pprof_t *P)
{
    const profile_t *p = P->p;
    const profile_meta_t *m = p->meta;
    size_t nt = p->ntypes;
    int rc = P->maps_done ? 0 : pp_maps(P);
    if (rc < 0)
        return rc;
    Perftools__Profiles__Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
    Perftools__Profiles__ValueType *vt = calloc(nt ? nt : 1, sizeof *vt);
    Perftools__Profiles__ValueType **vtp = calloc(nt ? nt : 1, sizeof *vtp);
    Perftools__Profiles__Sample *sm = calloc(P->n ? P->n : 1, sizeof *sm);
    Perftools__Profiles__Sample **smp = calloc(P->n ? P->n : 1, sizeof *smp);
    size_t nl = P->locations.n, nf = P->functions.n;
    Perftools__Profiles__Location *lc = calloc(nl ? nl : 1, sizeof *lc);
    Perftools__Profiles__Location **lcp = calloc(nl ? nl : 1, sizeof *lcp);
    Perftools__Profiles__Line *ln = calloc(P->nlines ? P->nlines : 1, sizeof *ln);
    Perftools__Profiles__Line **lnp = calloc(P->nlines ? P->nlines : 1, sizeof *lnp);
    Perftools__Profiles__Function *fn = calloc(nf ? nf : 1, sizeof *fn);
    Perftools__Profiles__Function **fnp = calloc(nf ? nf : 1, sizeof *fnp);
    Perftools__Profiles__Mapping *mp = calloc(P->nmaps ? P->nmaps : 1, sizeof *mp);
    Perftools__Profiles__Mapping **mpp = calloc(P->nmaps ? P->nmaps : 1, sizeof *mpp);
    char **strs = NULL;
    uint8_t *buf = NULL;
    int64_t comment = 0;
    rc = -PS_E_NOMEM;
    if (!vt || !vtp || !sm || !smp || !lc || !lcp || !ln || !lnp || !fn || !fnp || !mp || !mpp)
        goto out;
    for (size_t t = 0; t < nt; t++) {
        vt[t] = (Perftools__Profiles__ValueType)PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
        long a = pp_str(P, p->types[t]), b = pp_str(P, profile_unit(p, t));
        if (a < 0 || b < 0)
            goto out;
        vt[t].type = a;
        vt[t].unit = b;
        vtp[t] = &vt[t];
    }
    for (size_t i = 0; i < P->n; i++) {
        sm[i] = (Perftools__Profiles__Sample)PERFTOOLS__PROFILES__SAMPLE__INIT;
        sm[i].n_location_id = P->start[i + 1] - P->start[i];
        sm[i].location_id = &P->sloc[P->start[i]];
        sm[i].n_value = nt;
        sm[i].value = &P->values[i * nt];
        smp[i] = &sm[i];
    }
    for (size_t i = 0; i < P->nlines; i++) {
        ln[i] = (Perftools__Profiles__Line)PERFTOOLS__PROFILES__LINE__INIT;
        ln[i].function_id = P->lines[i].function + 1;
        ln[i].line = P->lines[i].line;
        lnp[i] = &ln[i];
    }
    for (size_t i = 0; i < nl; i++) {
        lc[i] = (Perftools__Profiles__Location)PERFTOOLS__PROFILES__LOCATION__INIT;
        lc[i].id = i + 1;
        lc[i].mapping_id = P->locs[i].mapping;
        lc[i].address = P->locs[i].address;
        lc[i].n_line = P->locs[i].nlines;
        lc[i].line = &lnp[P->locs[i].line0];
        lcp[i] = &lc[i];
    }
    for (size_t i = 0; i < nf; i++) {
        fn[i] = (Perftools__Profiles__Function)PERFTOOLS__PROFILES__FUNCTION__INIT;
        fn[i].id = i + 1;
        fn[i].name = fn[i].system_name = P->fn_name[i];
        fn[i].filename = P->fn_file[i];
        fnp[i] = &fn[i];
    }
    for (size_t i = 0; i < P->nmaps; i++) {
        const tm_module_t *mod = P->maps[i].mod;
        mp[i] = (Perftools__Profiles__Mapping)PERFTOOLS__PROFILES__MAPPING__INIT;
        mp[i].id = i + 1;
        mp[i].memory_start = P->maps[i].start;
        mp[i].memory_limit = P->maps[i].limit;
        char *hex = pp_hex(mod->buildid, mod->buildid_len < sizeof mod->buildid
                                             ? mod->buildid_len
                                             : sizeof mod->buildid);
        long a = pp_str(P, mod->path), b = hex ? pp_str(P, hex) : -1;
        free(hex);
        if (a < 0 || b < 0)
            goto out;
        mp[i].filename = a;
        mp[i].build_id = b;
        mp[i].has_functions = mp[i].has_filenames = mp[i].has_line_numbers =
            mp[i].has_inline_frames = 1;
        mpp[i] = &mp[i];
    }
    char cbuf[512];
    snprintf(cbuf, sizeof cbuf, "perfshim heap profile of %s",
             m && m->exe ? m->exe : "a program");
    long c = pp_str(P, cbuf), d = p->select < nt ? pp_str(P, p->types[p->select]) : 0;
    if (c < 0 || d < 0)
        goto out;
    comment = c;
    if (!(strs = malloc(P->strings.n * sizeof *strs)))
        goto out;
    for (size_t i = 0; i < P->strings.n; i++)
        strs[i] = (char *)intern_key(&P->strings, i, NULL);
    prof.n_sample_type = nt;
    prof.sample_type = vtp;
    prof.n_sample = P->n;
    prof.sample = smp;
    prof.n_mapping = P->nmaps;
    prof.mapping = mpp;
    prof.n_location = nl;
    prof.location = lcp;
    prof.n_function = nf;
    prof.function = fnp;
    prof.n_string_table = P->strings.n;
    prof.string_table = strs;
    prof.time_nanos = m ? (int64_t)m->start_realtime_ns : 0;
    prof.duration_nanos = m ? (int64_t)m->duration_ns : 0;
    prof.n_comment = 1;
    prof.comment = &comment;
    prof.default_sample_type = d;
    size_t len = perftools__profiles__profile__get_packed_size(&prof);
    if (!(buf = malloc(len ? len : 1)))
        goto out;
    perftools__profiles__profile__pack(&prof, buf);
    rc = pp_gzip(P->o, buf, len);
out:
    free(buf);
    free(strs);
    free(vt), free(vtp), free(sm), free(smp), free(lc), free(lcp);
    free(ln), free(lnp), free(fn), free(fnp), free(mp), free(mpp);
    return rc;
}

static int pprof_finish(void *ctx)
{
    pprof_t *P = ctx;
    int rc = pprof_write(P);
    intern_free(&P->strings);
    intern_free(&P->functions);
    intern_free(&P->locations);
    free(P->fn_name), free(P->fn_file), free(P->locs), free(P->lines);
    free(P->sloc), free(P->start), free(P->values), free(P->maps);
    free(P);
    return rc;
}

static const profile_ops_t pprof_ops = {.sample = pprof_sample, .finish = pprof_finish};

int pprof_format(void *view, FILE *o)
{
    profile_t *p = view;
    memset(p, 0, sizeof(*p));
    pprof_t *P = calloc(1, sizeof *P);
    if (!P || pp_str(P, "") != 0) { /* string_table[0] is "" */
        if (P)
            intern_free(&P->strings);
        free(P);
        return -PS_E_NOMEM;
    }
    if (safeout_binary(o) < 0) {
        fputs("perfshim: pprof is a binary format: not written to a terminal (use -o FILE)\n",
              stderr);
        intern_free(&P->strings);
        free(P);
        return -PS_E_INVAL;
    }
    P->o = o;
    P->p = p;
    p->ops = &pprof_ops;
    p->ctx = P;
    return 0;
}
