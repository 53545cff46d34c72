/*
 * misuse.h -- heap misuse found by the replay: mismatched releases (new[] freed by delete or
 * free, malloc'd memory freed by delete, new'd memory freed by free/realloc), double frees and
 * invalid frees, aggregated by (kind, allocating stack, releasing stack, functions).
 *
 * Contract: analyzer-only, single-threaded. The misuse analysis (analysis.h) owns one and
 * hands it to the heap replay (replay_t.misuse), which finds the errors (its block table
 * keeps released addresses as dead entries, so a second release is a double free) and reports
 * each here (a NULL misuse_t takes nothing: the analysis is not selected). Memory: one entry
 * per distinct error. Functions return 0 or -PS_E_NOMEM.
 */
#ifndef PERFSHIM_MISUSE_H
#define PERFSHIM_MISUSE_H

#include <stddef.h>
#include <stdint.h>

/* Heap misuse, aggregated per (kind, stacks, functions). Stack id 0: not recorded (an invalid
 * free has no allocation; a free() records its stack only with PERFSHIM_FREE_STACKS=2). */
enum replay_err_kind { REPLAY_ERR_MISMATCHED_FREE = 0, REPLAY_ERR_DOUBLE_FREE, REPLAY_ERR_INVALID_FREE };

typedef struct replay_error_s {
    uint8_t kind;              /* replay_err_kind */
    uint8_t alloc_fn, free_fn; /* ps_alloc_fn; alloc_fn 0 for an invalid free */
    uint32_t alloc_stack, free_stack;
    uint64_t count;
} replay_error_t;

typedef struct misuse_s misuse_t;

int misuse_new(misuse_t **out);
void misuse_free(misuse_t *m);
int misuse_mismatch(misuse_t *m, uint32_t alloc_stack, uint8_t alloc_fn, uint32_t free_stack,
                    uint8_t free_fn);
int misuse_double(misuse_t *m, uint32_t alloc_stack, uint8_t alloc_fn, uint32_t free_stack,
                  uint8_t free_fn);
int misuse_invalid(misuse_t *m, uint32_t free_stack, uint8_t free_fn);
/* "mismatched_free", "double_free", "invalid_free" (the JSON "kind"), "?" otherwise. */
const char *misuse_kind_name(int kind);
/* Moves the aggregated errors out (the caller frees *errs with free()). */
void misuse_take(misuse_t *m, replay_error_t **errs, size_t *n);

#endif /* PERFSHIM_MISUSE_H */
