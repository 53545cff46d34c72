/*
 * arena.c -- see arena.h.
 */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK (64u * 1024u)

struct arena_block_s {
    arena_block_t *next;
    size_t pad; /* keeps data 16-byte aligned */
    unsigned char data[];
};

void *arena_alloc(arena_t *a, size_t n)
{
    n = (n + 15u) & ~(size_t)15u;
    if (n == 0)
        n = 16;
    if (!a->head || a->cap - a->used < n) {
        size_t cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
        if (cap > SIZE_MAX - sizeof(arena_block_t))
            return NULL;
        arena_block_t *b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        if (cap != ARENA_BLOCK && a->head) {
            /* a big one-off: keep the current block for the small ones */
            b->next = a->head->next;
            a->head->next = b;
            return b->data;
        }
        b->next = a->head;
        a->head = b;
        a->used = 0;
        a->cap = cap;
    }
    void *p = a->head->data + a->used;
    a->used += n;
    return p;
}

char *arena_strdup(arena_t *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = arena_alloc(a, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void arena_free(arena_t *a)
{
    for (arena_block_t *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
    a->used = a->cap = 0;
}
