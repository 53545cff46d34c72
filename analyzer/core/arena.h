/*
 * arena.h -- a bump allocator for analyzer data that lives as long as its owner (symbol
 * names, file names, frame arrays): many small allocations, one free.
 *
 * Contract: single-threaded. arena_alloc() returns 16-byte aligned memory or NULL (out of
 * memory); a request larger than the block size gets a block of its own. arena_free()
 * releases everything and leaves the arena empty and reusable. A zeroed arena_t is valid.
 */
#ifndef PERFSHIM_ARENA_H
#define PERFSHIM_ARENA_H

#include <stddef.h>

typedef struct arena_block_s arena_block_t;

typedef struct arena_s {
    arena_block_t *head;
    size_t used, cap; /* of head */
} arena_t;

void *arena_alloc(arena_t *a, size_t n);
char *arena_strdup(arena_t *a, const char *s);
void arena_free(arena_t *a);

#endif /* PERFSHIM_ARENA_H */
