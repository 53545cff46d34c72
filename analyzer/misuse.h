/*
 * misuse.h -- heap misuse found by the replay: mismatched releases (new[] freed by delete or
 * free, malloc'd memory freed by delete, new'd memory freed by free/realloc), double frees and
 * invalid frees, aggregated by (kind, allocating stack, releasing stack, functions).
 *
 * Contract: analyzer-only, single-threaded, owned by one replay. The replay calls
 * misuse_released() for every release of a live block (the block goes to a "graveyard" keyed by
 * address, so a second release of it is a double free), misuse_reused() for every allocation
 * (the address is live again), misuse_mismatch() when the families differ, and
 * misuse_unmatched() for a release of an address that is not live: a double free when the
 * graveyard knows it, otherwise an invalid free (or a block allocated before tracing began: a
 * fork child's inherited heap, for which `report_invalid` is 0 and nothing is recorded).
 * Memory: one entry per freed address not reused since, one per distinct error. Functions
 * return 0 or -PS_E_NOMEM.
 */
#ifndef PERFSHIM_MISUSE_H
#define PERFSHIM_MISUSE_H

#include <stddef.h>
#include <stdint.h>

#include "replay.h"

typedef struct misuse_s misuse_t;

int misuse_new(misuse_t **out);
void misuse_free(misuse_t *m);
int misuse_released(misuse_t *m, uint64_t ptr, uint32_t alloc_stack, uint8_t alloc_fn);
void misuse_reused(misuse_t *m, uint64_t ptr);
int misuse_mismatch(misuse_t *m, uint32_t alloc_stack, uint8_t alloc_fn, uint32_t free_stack,
                    uint8_t free_fn);
/* Returns the kind recorded (REPLAY_ERR_DOUBLE_FREE / REPLAY_ERR_INVALID_FREE), -1 for none,
 * or -PS_E_NOMEM. */
int misuse_unmatched(misuse_t *m, uint64_t ptr, uint32_t free_stack, uint8_t free_fn,
                     int report_invalid);
/* Moves the aggregated errors out (the caller frees *errs with free()). */
void misuse_take(misuse_t *m, replay_error_t **errs, size_t *n);

#endif /* PERFSHIM_MISUSE_H */
