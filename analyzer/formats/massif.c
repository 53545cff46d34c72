/*
 * massif.c -- valgrind massif's output format (massif.out.PID: "desc:", "cmd:", "time_unit: ms",
 * snapshots of mem_heap_B), what ms_print and massif-visualizer read, as heaptrack_print
 * --print-massif writes it; a renderer of the profile view (core/profile.h): its "heap"
 * series are the snapshots (about 100 of them: every k-th point, the peak, the last; time: ms
 * from the trace's start, three decimals), the one at the
 * heap's peak (profile_meta's peak_bytes and peak_time_ns) is "heap_tree=peak" with the tree
 * of the "peak" sample type (every stack's live bytes at the peak), the last is detailed with
 * the tree of "inuse" (live at the end; its mem_heap_B the heap at the end), the others
 * empty. A tree: the root "(heap allocation functions) malloc/new/new[], --alloc-fns, etc."
 * then each stack's frames innermost first ("0xADDRESS: FUNCTION (FILE:LINE)", or "(in
 * MODULE)"), children largest first; those under massif's threshold of 1% of the snapshot
 * are one line "in N places, all below massif's threshold (1.00%)", as massif writes.
 * mem_heap_extra_B and mem_stacks_B are 0 (not recorded). '#' in a name (a comment to
 * ms_print) is written '_'.
 *
 * Contract: analyzer-only. massif_format (formats.def) opens it; 0 or -PS_E_NOMEM.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/profile.h"
#include "core/intern.h"
#include "perfshim/errors.h"

int massif_format(void *view, FILE *o); /* formats/formats.def */

#define MASSIF_SNAPSHOTS 100 /* about as many as massif takes: every k-th point of the series,
                              * the peak and the last */

typedef struct mnode_s {
    uint32_t label; /* index in labels */
    uint64_t bytes;
    size_t child, next; /* first child, next sibling: index + 1, 0 none */
} mnode_t;

typedef struct mtree_s {
    mnode_t *v; /* v[0]: the root */
    size_t n, cap;
} mtree_t;

typedef struct mpoint_s {
    uint64_t t_ns, bytes;
} mpoint_t;

typedef struct massif_s {
    FILE *o;
    const profile_t *p;
    intern_t labels;
    mtree_t peak, inuse;
    mpoint_t *pts;
    size_t npts, cappts;
} massif_t;

static int mtree_add(mtree_t *T, size_t parent, uint32_t label, uint64_t bytes, size_t *out)
{
    size_t *link = &T->v[parent].child;
    for (size_t c = *link; c; c = T->v[c - 1].next)
        if (T->v[c - 1].label == label) {
            T->v[c - 1].bytes += bytes;
            *out = c - 1;
            return 0;
        }
    if (T->n == T->cap) {
        size_t nc = T->cap ? T->cap * 2 : 64;
        mnode_t *v = realloc(T->v, nc * sizeof *v);
        if (!v)
            return -PS_E_NOMEM;
        T->v = v;
        T->cap = nc;
    }
    link = &T->v[parent].child; /* T->v may have moved */
    T->v[T->n] = (mnode_t){label, bytes, 0, *link};
    *link = T->n + 1;
    *out = T->n++;
    return 0;
}

static long massif_label(massif_t *M, const sym_frame_t *f)
{
    char nb[64], b[1024];
    const char *name = profile_frame_name(f, nb, sizeof nb);
    int n;
    if (f->file)
        n = snprintf(b, sizeof b, "0x%" PRIX64 ": %s (%s:%" PRIu32 ")", f->address, name,
                     f->file, f->line);
    else if (f->module)
        n = snprintf(b, sizeof b, "0x%" PRIX64 ": %s (in %s)", f->address, name, f->module);
    else
        n = snprintf(b, sizeof b, "0x%" PRIX64 ": %s", f->address, name);
    if (n < 0)
        return -PS_E_INVAL;
    size_t len = (size_t)n < sizeof b ? (size_t)n : sizeof b - 1;
    for (size_t i = 0; i < len; i++)
        if (b[i] == '#' || b[i] == '\n' || b[i] == '\r')
            b[i] = b[i] == '#' ? '_' : ' ';
    return intern_get(&M->labels, b, len, NULL);
}

static int massif_tree_add(massif_t *M, mtree_t *T, const sym_frame_t *fr, size_t n,
                           uint64_t bytes)
{
    if (!bytes)
        return 0;
    T->v[0].bytes += bytes;
    size_t at = 0;
    for (size_t k = 0; k < n; k++) {
        long l = massif_label(M, &fr[k]);
        int rc = l < 0 ? (int)l : mtree_add(T, at, (uint32_t)l, bytes, &at);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int massif_sample(void *ctx, const sym_frame_t *fr, size_t n, const uint64_t *values,
                         size_t select)
{
    (void)select;
    massif_t *M = ctx;
    long ip = profile_type_index(M->p, "peak"), iu = profile_type_index(M->p, "inuse");
    int rc = ip < 0 ? 0 : massif_tree_add(M, &M->peak, fr, n, values[ip]);
    return rc < 0 || iu < 0 ? rc : massif_tree_add(M, &M->inuse, fr, n, values[iu]);
}

static int massif_counter(void *ctx, const char *series, uint64_t t_ns, uint64_t value)
{
    massif_t *M = ctx;
    if (strcmp(series, "heap") != 0)
        return 0;
    if (M->npts == M->cappts) {
        size_t nc = M->cappts ? M->cappts * 2 : 64;
        mpoint_t *v = realloc(M->pts, nc * sizeof *v);
        if (!v)
            return -PS_E_NOMEM;
        M->pts = v;
        M->cappts = nc;
    }
    M->pts[M->npts++] = (mpoint_t){t_ns, value};
    return 0;
}

static int node_by_bytes(const void *a, const void *b)
{
    const mnode_t *x = *(const mnode_t *const *)a, *y = *(const mnode_t *const *)b;
    return x->bytes != y->bytes ? (x->bytes > y->bytes ? -1 : 1)
                                : (x->label > y->label) - (x->label < y->label);
}

/* One node at indent `depth` and its subtree; total: the snapshot's heap (the threshold's). */
static int massif_node(massif_t *M, const mtree_t *T, size_t i, unsigned depth,
                       const char *label, uint64_t total)
{
    const mnode_t *nd = &T->v[i];
    size_t nc = 0;
    for (size_t c = nd->child; c; c = T->v[c - 1].next)
        nc++;
    const mnode_t **kids = malloc((nc ? nc : 1) * sizeof *kids);
    if (!kids)
        return -PS_E_NOMEM;
    size_t k = 0;
    for (size_t c = nd->child; c; c = T->v[c - 1].next)
        kids[k++] = &T->v[c - 1];
    qsort(kids, nc, sizeof *kids, node_by_bytes);
    size_t nsig = 0, ninsig = 0;
    uint64_t insig = 0;
    for (k = 0; k < nc; k++) {
        if (kids[k]->bytes * 100 >= total && kids[k]->bytes) /* massif's 1% threshold */
            nsig++;
        else {
            ninsig++;
            insig += kids[k]->bytes;
        }
    }
    fprintf(M->o, "%*sn%zu: %" PRIu64 " %s\n", (int)depth, "", nsig + (ninsig ? 1 : 0),
            nd->bytes, label);
    int rc = 0;
    for (k = 0; k < nsig && rc == 0; k++)
        rc = massif_node(M, T, (size_t)(kids[k] - T->v), depth + 1,
                         intern_key(&M->labels, kids[k]->label, NULL), total);
    if (ninsig)
        fprintf(M->o, "%*sn0: %" PRIu64 " in %zu place%s, all below massif's threshold (1.00%%)\n",
                (int)depth + 1, "", insig, ninsig, ninsig == 1 ? "" : "s");
    free(kids);
    return rc;
}

static int massif_snapshot(massif_t *M, size_t num, uint64_t t_ns, uint64_t bytes,
                           const char *kind, const mtree_t *T)
{
    fprintf(M->o,
            "#-----------\nsnapshot=%zu\n#-----------\ntime=%" PRIu64 ".%03u\nmem_heap_B=%" PRIu64
            "\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=%s\n",
            num, t_ns / 1000000, (unsigned)(t_ns / 1000 % 1000), bytes, kind);
    if (!T)
        return 0;
    return massif_node(M, T, 0, 0,
                       "(heap allocation functions) malloc/new/new[], --alloc-fns, etc.",
                       bytes);
}

static int massif_write(massif_t *M)
{
    const profile_meta_t *m = M->p->meta;
    const char *cmd = m && m->cmdline && *m->cmdline ? m->cmdline : m && m->exe ? m->exe : "";
    fputs("desc: perfshim: the heap replayed from the trace (requested sizes; no allocator "
          "overhead, no stacks)\ncmd: ",
          M->o);
    for (const char *s = cmd; *s; s++)
        fputc(*s == '\n' || *s == '#' ? ' ' : *s, M->o);
    fputs("\ntime_unit: ms\n", M->o);
    size_t peak = M->npts;
    for (size_t i = 0; m && i < M->npts && peak == M->npts; i++)
        if (M->pts[i].t_ns == m->peak_time_ns && M->pts[i].bytes == m->peak_bytes)
            peak = i; /* an empty heap's peak: the start */
    int rc = 0;
    size_t every = (M->npts + MASSIF_SNAPSHOTS - 1) / MASSIF_SNAPSHOTS, num = 0;
    for (size_t i = 0; i < M->npts && rc == 0; i++) {
        uint64_t b = M->pts[i].bytes;
        if (i == peak)
            rc = massif_snapshot(M, num++, M->pts[i].t_ns, b, "peak", &M->peak);
        else if (i + 1 == M->npts)
            rc = massif_snapshot(M, num++, M->pts[i].t_ns,
                                 b > M->inuse.v[0].bytes ? b : M->inuse.v[0].bytes, "detailed",
                                 &M->inuse);
        else if (i % every == 0)
            rc = massif_snapshot(M, num++, M->pts[i].t_ns, b, "empty", NULL);
    }
    if (rc == 0 && M->npts == 0) /* no time axis: the end, detailed */
        rc = massif_snapshot(M, 0, m ? m->duration_ns : 0, M->inuse.v[0].bytes, "detailed",
                             &M->inuse);
    return rc;
}

static int massif_finish(void *ctx)
{
    massif_t *M = ctx;
    int rc = massif_write(M);
    intern_free(&M->labels);
    free(M->peak.v);
    free(M->inuse.v);
    free(M->pts);
    free(M);
    return rc;
}

static const profile_ops_t massif_ops = {
    .sample = massif_sample, .finish = massif_finish, .counter = massif_counter};

static int mtree_init(mtree_t *T)
{
    if (!(T->v = calloc(T->cap = 64, sizeof *T->v)))
        return -PS_E_NOMEM;
    T->n = 1; /* the root */
    return 0;
}

int massif_format(void *view, FILE *o)
{
    profile_t *p = view;
    memset(p, 0, sizeof(*p));
    massif_t *M = calloc(1, sizeof *M);
    if (!M || mtree_init(&M->peak) < 0 || mtree_init(&M->inuse) < 0) {
        if (M) {
            free(M->peak.v);
            free(M->inuse.v);
        }
        free(M);
        return -PS_E_NOMEM;
    }
    M->o = o;
    M->p = p;
    p->ops = &massif_ops;
    p->ctx = M;
    return 0;
}
