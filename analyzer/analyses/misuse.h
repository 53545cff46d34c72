/*
 * misuse.h -- heap misuse found by the replay: mismatched releases (new[] freed by delete or
 * free, malloc'd memory freed by delete, new'd memory freed by free/realloc), double frees and
 * invalid frees, aggregated by (kind, allocating stack, releasing stack, functions).
 *
 * Contract: analyzer-only, single-threaded, owned by one replay, which finds the errors (its
 * block table keeps released addresses as dead entries, so a second release is a double
 * free) and reports each here. Memory: one entry per distinct error. Functions return 0 or
 * -PS_E_NOMEM.
 */
#ifndef PERFSHIM_MISUSE_H
#define PERFSHIM_MISUSE_H

#include <stddef.h>
#include <stdint.h>

#include "analyses/replay.h"

typedef struct misuse_s misuse_t;

int misuse_new(misuse_t **out);
void misuse_free(misuse_t *m);
int misuse_mismatch(misuse_t *m, uint32_t alloc_stack, uint8_t alloc_fn, uint32_t free_stack,
                    uint8_t free_fn);
int misuse_double(misuse_t *m, uint32_t alloc_stack, uint8_t alloc_fn, uint32_t free_stack,
                  uint8_t free_fn);
int misuse_invalid(misuse_t *m, uint32_t free_stack, uint8_t free_fn);
/* Moves the aggregated errors out (the caller frees *errs with free()). */
void misuse_take(misuse_t *m, replay_error_t **errs, size_t *n);

#endif /* PERFSHIM_MISUSE_H */
