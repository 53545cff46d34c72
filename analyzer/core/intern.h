/*
 * intern.h -- an interning table: each distinct byte string gets a dense index 0, 1, 2, ...
 * in the order first seen. The profile formats (speedscope, pprof, massif) write each frame or
 * string once and refer to it by index; the lock analysis keys its LOCK_SITE snapshots by
 * (tid, lock, stack).
 *
 * Contract: analyzer-only, single-threaded. A zeroed intern_t is empty. intern_get() returns
 * the index of key (len bytes, copied on first sight; *added says whether it was new), or
 * -PS_E_NOMEM. intern_key() gives a key back by index (NUL-terminated, len in *len if not
 * NULL), valid until intern_free.
 */
#ifndef PERFSHIM_INTERN_H
#define PERFSHIM_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct intern_key_s {
    char *s;
    size_t len;
    uint64_t hash;
} intern_key_t;

typedef struct intern_s {
    intern_key_t *keys; /* by index */
    size_t n, cap;
    uint32_t *slots; /* open addressing: index + 1, 0 empty */
    size_t nslots;
} intern_t;

long intern_get(intern_t *t, const void *key, size_t len, bool *added);
/* intern_get of a NUL-terminated string (NULL: ""). */
long intern_str(intern_t *t, const char *s, bool *added);
/* intern_get of the printf-formatted key (NULs from %c 0 included), whole however long:
 * built on the stack, or on the heap when longer than 1 KiB; -PS_E_INVAL if the format
 * fails. */
long intern_fmt(intern_t *t, bool *added, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *intern_key(const intern_t *t, size_t i, size_t *len);
void intern_free(intern_t *t);

#endif /* PERFSHIM_INTERN_H */
