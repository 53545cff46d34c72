/*
 * sitediff.h -- the call sites of two heap replays (a base run and a new run, `perfshim diff`)
 * matched by their symbolized stack, each classified as added, removed, grown, shrunk, mixed
 * or unchanged, with the totals of both runs.
 *
 * The matching key of a site (docs/perfshim.1 "diff", docs/json-schema.md "perfshim-diff") is
 * its call stack as analyses/callsite.h cuts it (allocator and shim frames removed), every
 * frame expanded with its inlined frames (at most DOC_MAX_FRAMES), innermost first, joined by
 * ";", each frame written as
 *     FUNCTION (FILE:LINE)      a function with a source line (FILE: the last path component)
 *     FUNCTION (FILE)           the same under SITEDIFF_MATCH_FUNCTION (lines ignored)
 *     FUNCTION (MODULE)         a function without a source line (MODULE: last component)
 *     MODULE+0xOFFSET           no symbol: the offset in the module (stable across runs of
 *                               one build, whatever ASLR does)
 *     ?                         an address in no module (JIT code)
 * Never a raw address, which ASLR changes between runs. Sites of one run with equal keys are
 * one site (their values summed).
 *
 * Classification: a metric changed when |new - base| > threshold_pct % of base (any change
 * when base is 0) and, for the byte metrics, |new - base| >= min_bytes; the allocation count
 * counts only when a byte metric changed too or min_bytes is 0. grown: a metric grew and none
 * shrank; shrunk: the reverse; mixed: both; unchanged: none; added / removed: the site is in
 * one run only (and some metric of it passes the thresholds, else unchanged).
 *
 * Contract: analyzer-only, single-threaded. sitediff_build() reads rp[0] (base) and rp[1]
 * (new), heap replays with their symbols sym[0], sym[1] open (analyses/analysis.h); the
 * sites point into the replays and symbols, which must outlive the sitediff_t. The sites are
 * sorted: by status (grown, added, mixed, shrunk, removed, unchanged), then by the size of
 * the change in bytes, allocations, then key. Returns 0 or a negative PS_E_*; free with
 * sitediff_free (also after a failure).
 */
#ifndef PERFSHIM_SITEDIFF_H
#define PERFSHIM_SITEDIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyses/replay.h"
#include "core/doc.h"
#include "core/symbols.h"

/* X(ID, json key, short name (--metric, --fail-on, profile), text unit) */
#define SITEDIFF_METRICS(X)                                                                    \
    X(ALLOCATIONS, "allocations", "allocations", DOC_UNIT_COUNT)                               \
    X(BYTES, "bytes", "bytes", DOC_UNIT_BYTES)                                                 \
    X(PEAK, "peak_bytes", "peak", DOC_UNIT_BYTES)                                              \
    X(LEAKED, "leaked_bytes", "leaked", DOC_UNIT_BYTES)

enum sitediff_metric {
#define SD_METRIC_ENUM(id, key, name, unit) SD_##id,
    SITEDIFF_METRICS(SD_METRIC_ENUM)
#undef SD_METRIC_ENUM
    SD_NMETRICS
};

/* X(ID, name): in the order of the sorted sites */
#define SITEDIFF_STATUSES(X)                                                                   \
    X(GROWN, "grown")                                                                          \
    X(ADDED, "added")                                                                          \
    X(MIXED, "mixed")                                                                          \
    X(SHRUNK, "shrunk")                                                                        \
    X(REMOVED, "removed")                                                                      \
    X(UNCHANGED, "unchanged")

enum sitediff_status {
#define SD_STATUS_ENUM(id, name) SD_##id,
    SITEDIFF_STATUSES(SD_STATUS_ENUM)
#undef SD_STATUS_ENUM
    SD_NSTATUS
};

typedef struct sitediff_metric_info_s {
    const char *key, *name;
    doc_unit_t unit;
} sitediff_metric_info_t;
extern const sitediff_metric_info_t sitediff_metrics[SD_NMETRICS];
extern const char *const sitediff_status_names[SD_NSTATUS];

typedef enum sitediff_match_e { SITEDIFF_MATCH_LINE, SITEDIFF_MATCH_FUNCTION } sitediff_match_t;

typedef struct sitediff_opts_s {
    sitediff_match_t match;
    uint64_t threshold_pct, min_bytes;
} sitediff_opts_t;

typedef struct sitediff_site_s {
    char *key;
    /* the stack to show: the new run's when the site is in it, else the base run's */
    symbols_t *sym;
    const uint64_t *ips;
    uint32_t depth;
    bool in[2]; /* in the base run, in the new run */
    uint64_t v[2][SD_NMETRICS];
    enum sitediff_status status;
} sitediff_site_t;

typedef struct sitediff_s {
    sitediff_site_t *sites;
    size_t nsites;
    size_t count[SD_NSTATUS];
    uint64_t total[2][SD_NMETRICS]; /* the runs' summaries: peak heap, live at exit */
} sitediff_t;

int sitediff_build(sitediff_t *out, const replay_t *const rp[2], symbols_t *const sym[2],
                   const sitediff_opts_t *o);
void sitediff_free(sitediff_t *d);
/* Whether new grew by more than pct % of base (base 0: new > 0). */
bool sitediff_grew(uint64_t base, uint64_t new_value, uint64_t pct);
/* new / base with 4 decimals ("2.0000") into buf; NULL when base is 0. */
const char *sitediff_ratio(char *buf, size_t n, uint64_t base, uint64_t new_value);
/* The key of a stack (the format above) into a malloc'ed string in *key. */
int sitediff_key(symbols_t *sym, const uint64_t *ips, uint32_t depth, sitediff_match_t match,
                 char **key);

#endif /* PERFSHIM_SITEDIFF_H */
