/*
 * prefetch.h -- decompresses the next chunk of every per-thread stream ahead of its use, on a
 * worker thread, so that zstd runs on a second core while the replay merges events.
 *
 * Contract: the replay (one thread) owns a prefetch_t. Stream s consumes the chunk indices
 * chunks[s][0..nchunks[s]) in order. prefetch_next(p, s, &view) hands out the next one:
 * 1 and a view (valid until the next prefetch_next for s), 0 when s has no more, or a
 * negative PS_E_* with the one-line message in err: PS_E_NOMEM is fatal; any other error
 * means that chunk could not be loaded and was skipped (call again for the next), except
 * PS_E_LIMIT, which is fatal too: the memory budget does not hold the chunks in use at once.
 * Memory: the decompressed chunks held (the one in use per stream, plus ones fetched ahead)
 * never exceed a budget, PERFSHIM_MAX_MEMORY_MB (default 512, 16..1048576), whatever the
 * trace claims: chunks ahead take at most half of it and are dropped when the one in use
 * needs the room. A chunk is freed as soon as the consumer moves past it. Up to
 * PREFETCH_AHEAD chunks per stream are fetched ahead, and the threads hand off in batches
 * (prefetch.c): a stream read at the worker's pace costs a wake-up per few chunks. With one CPU, when the thread cannot be
 * started, or with PERFSHIM_NO_PREFETCH set (for measurements), chunks are decompressed on
 * the caller's thread, with the same results.
 */
#ifndef PERFSHIM_PREFETCH_H
#define PERFSHIM_PREFETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/reader.h"

typedef struct prefetch_s prefetch_t;

/* Optional work on each chunk the worker decompresses, on its thread (the second core): digest
 * reads the chunk's view and leaves its result in *aux (a buffer it may allocate or reuse,
 * freed with free_aux; *bytes its size, counted in the memory budget). prefetch_aux hands the
 * result out with the chunk. digest runs on the caller's thread in the single-threaded mode,
 * with the same results, and only on chunks that loaded. */
typedef struct prefetch_digest_s {
    void (*digest)(const chunk_view_t *view, void **aux, size_t *bytes);
    void (*free_aux)(void *aux);
    /* NULL, or the digest of a columnar chunk c straight from its body (reader.h's
     * reader_cols_hook_t, the chunk's thread in c): 0 when it made the digest (the chunk's
     * view is then empty: the digest holds all the chunk has), else the chunk is decoded and
     * goes to digest as any other. */
    int (*digest_cols)(const chunk_info_t *c, const unsigned char *body, size_t n, size_t xlen,
                       void *dec, void **aux, size_t *bytes);
} prefetch_digest_t;

/* Whether the analyzer may put work on a second thread: more than one CPU online, and
 * PERFSHIM_NO_PREFETCH (for measurements) unset. The prefetch and the report's other worker
 * threads ask this. */
bool prefetch_second_core(void);

/* digest: NULL for none (it must outlive p). */
int prefetch_open(prefetch_t **out, const reader_t *r, size_t nstreams,
                  size_t *const *chunks, const size_t *nchunks, const prefetch_digest_t *digest);
int prefetch_next(prefetch_t *p, size_t s, chunk_view_t *view, char *err, size_t errlen);
/* The digest of the chunk the latest prefetch_next(p, s) handed out (valid as its view), or
 * NULL (no digest, or none made). */
const void *prefetch_aux(prefetch_t *p, size_t s);
void prefetch_close(prefetch_t *p);

#define PREFETCH_AHEAD 7 /* chunks fetched ahead per stream, at most */

/* Chunks of stream s fetched ahead and not yet handed out (for tests and measurements). */
size_t prefetch_ahead(prefetch_t *p, size_t s);

#endif /* PERFSHIM_PREFETCH_H */
