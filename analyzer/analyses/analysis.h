/*
 * analysis.h -- the analyses a command can select, in one table, and the one load sequence
 * every command uses: one pass over the trace (core/pass.h) that drives the selected
 * analyses, then symbols opened once, then what needs symbols (the leaks' call sites).
 *
 * Contract: analyzer-only, single-threaded. analyses_load() fills *rp (always the header and
 * summary fields of the trace model; the heap fields when ANALYSIS_HEAP is selected, errors
 * with ANALYSIS_MISUSE, rp->locks with ANALYSIS_LOCKS, rp->pressure with ANALYSIS_PRESSURE)
 * and *leaks (with ANALYSIS_LEAKS; zeroed
 * otherwise); analyses_symbols() then opens *sym on the trace's modules (symbolization is
 * lazy, so only the addresses an output prints, and the leaks' call sites, are ever resolved)
 * -- one load sequence for every command. Both return 0 or a negative PS_E_* with one line in
 * err; the caller frees with analyses_free (also after a failure). An analysis's
 * dependencies are selected with it (MISUSE: HEAP). LEAKS needs the heap replay only for a
 * trace with verdicts by address or snapshot markers (analyses/leakaddr.h): when the pass met
 * one without HEAP selected, analyses_load runs the pass again with it (a trace of an older
 * shim costs no replay).
 *
 * Adding an analysis: one line in ANALYSES below and its pass_ops_t in analysis.c.
 */
#ifndef PERFSHIM_ANALYSIS_H
#define PERFSHIM_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "analyses/leaks.h"
#include "analyses/replay.h"
#include "core/symbols.h"

/* X(ID, name, needs (ANALYSIS_* bits), what) -- in the order they see each record and event */
#define ANALYSES(X)                                                                              \
    X(MISUSE, "misuse", ANALYSIS_HEAP, "mismatched, double and invalid frees")                   \
    X(HEAP, "heap", 0u, "heap replay: sites, summary, timeline, peak, temporary allocations")    \
    X(LOCKS, "locks", 0u, "lock contention, holders, threads, lock-order cycles")                \
    X(LEAKS, "leaks", 0u, "leak scans and live-set snapshots")                                   \
    X(WAITS, "waits", ANALYSIS_LOCKS, "each lock wait kept as an event (timeline formats)")    \
    X(SERIES, "series", ANALYSIS_HEAP, "the live heap and RSS in fine steps (timeline formats)") \
    X(PRESSURE, "pressure", ANALYSIS_HEAP, "allocation pressure: rates, lifetimes, churn, chains")

enum analysis_id {
#define ANALYSIS_ENUM(id, name, needs, what) ANALYSIS_ID_##id,
    ANALYSES(ANALYSIS_ENUM)
#undef ANALYSIS_ENUM
    ANALYSIS_COUNT
};

#define ANALYSIS_MISUSE (1u << ANALYSIS_ID_MISUSE)
#define ANALYSIS_HEAP (1u << ANALYSIS_ID_HEAP)
#define ANALYSIS_LOCKS (1u << ANALYSIS_ID_LOCKS)
#define ANALYSIS_LEAKS (1u << ANALYSIS_ID_LEAKS)
#define ANALYSIS_WAITS (1u << ANALYSIS_ID_WAITS)
#define ANALYSIS_SERIES (1u << ANALYSIS_ID_SERIES)
#define ANALYSIS_PRESSURE (1u << ANALYSIS_ID_PRESSURE)
#define ANALYSIS_ALL ((1u << ANALYSIS_COUNT) - 1)

/* The analyses that `select` needs run (select and its dependencies). */
unsigned analyses_closure(unsigned select);
/* The pass: fills *rp and *leaks (NULL: no leak analysis) as above, symbols not yet open. */
int analyses_load(const char *path, unsigned select, replay_t *rp, leaks_t *leaks, char *err,
                  size_t errlen);
/* The analyses' parameters (a command's options): analyses_load uses the defaults. */
typedef struct analysis_params_s {
    uint64_t short_ns; /* pressure: "short-lived" (--short-lived), PRESSURE_SHORT_NS_DEFAULT */
    unsigned within_k; /* pressure: "within K" (--within), PRESSURE_K_DEFAULT */
} analysis_params_t;
int analyses_load_params(const char *path, unsigned select, const analysis_params_t *params,
                         replay_t *rp, leaks_t *leaks, char *err, size_t errlen);
/* analyses_load_params, and the symbols that analyses_symbols(.., so, ..) will open made
 * ready during the pass where that costs no peak memory (a small live heap; core/symbols.h:
 * symwarm): output unchanged, the symbols' fixed cost off the pass's thread. */
int analyses_load_ahead(const char *path, unsigned select, const analysis_params_t *params,
                        const symbols_opts_t *so, replay_t *rp, leaks_t *leaks, char *err,
                        size_t errlen);
/* After analyses_load (and whatever the command checks first, such as completeness): opens
 * the symbols once and resolves what needs them before output (the leaks' call sites). */
int analyses_symbols(replay_t *rp, leaks_t *leaks, const symbols_opts_t *so, symbols_t **sym,
                     char *err, size_t errlen);
void analyses_free(replay_t *rp, leaks_t *leaks, symbols_t *sym);

/* The heap replay with misuse and locks, no leaks, no symbols (the fuzz target's entry):
 * 0 or a negative PS_E_* with one line in err; rp is freed on failure. */
int replay_run(const char *path, replay_t *rp, char *err, size_t errlen);

#endif /* PERFSHIM_ANALYSIS_H */
