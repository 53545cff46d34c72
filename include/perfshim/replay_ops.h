/*
 * replay_ops.h -- the op file of `perfshim replay` (the allocator what-if): the heap sequence
 * of a trace, per thread, in a form a small driver replays against any allocator.
 *
 * Contract: shared by the analyzer (analyses/whatif.c writes it) and the replay driver
 * (driver/replay_driver.c reads it); libc only. Little-endian, fixed width, written and read
 * with memcpy. A reader rejects another magic, a version > PS_OPS_VERSION, a header whose
 * counts do not fit the file, and any op whose fields are out of range (see below).
 *
 * Layout:
 *   ps_ops_header_t
 *   ps_ops_thread_t[nthreads]   each thread's ops: `count` ops at byte `offset`
 *   ps_op_t...                  the ops of thread 0, then thread 1, ...
 *
 * Blocks are named by dense ids (0 .. nblocks-1) instead of addresses. An id is reused only
 * by the thread that allocated it after that thread released it; an id released by another
 * thread is never reused, so a slot of the driver's id table is only written by one thread at
 * a time.
 *
 * Order. Each thread's ops are in its recorded order. Across threads the only order kept is
 * the one a release needs: an op that releases (or reallocates) a block another thread
 * allocated carries wait_thread/wait_op, "do not start before thread wait_thread has done
 * wait_op ops" (its allocating op is op wait_op - 1 of that thread). Every other interleaving
 * of the threads is free (the driver runs each thread as fast as it can).
 */
#ifndef PERFSHIM_REPLAY_OPS_H
#define PERFSHIM_REPLAY_OPS_H

#include <stdint.h>

#define PS_OPS_MAGIC "PSOP" /* 4 bytes, no NUL */
#define PS_OPS_VERSION 1u
#define PS_OPS_NO_WAIT UINT32_MAX /* wait_thread of an op that waits for nothing */
#define PS_OPS_MAX_THREADS 65536u /* the driver runs one thread per recorded thread */

/* X(NAME, value, "name"): what an op does. */
#define PS_OP_KINDS(X)                                                                         \
    X(MALLOC, 1, "malloc")         /* id = malloc(size) (also new, new[]) */                   \
    X(CALLOC, 2, "calloc")         /* id = calloc(1, size) */                                  \
    X(ALIGNED, 3, "aligned")       /* id = posix_memalign(1 << align_log2, size) */            \
    X(REALLOC, 4, "realloc")       /* id2 = realloc(id, size); old_size: id's size */          \
    X(FREE, 5, "free")             /* free(id) (also delete) */

enum ps_op_kind {
#define PS_X(name, val, str) PS_OP_##name = val,
    PS_OP_KINDS(PS_X)
#undef PS_X
};

typedef struct ps_ops_header_s {
    char magic[4];     /* PS_OPS_MAGIC */
    uint32_t version;  /* PS_OPS_VERSION */
    uint32_t nthreads; /* ps_ops_thread_t that follow, <= PS_OPS_MAX_THREADS */
    uint32_t pad;
    uint64_t nblocks;  /* ids are < nblocks */
    uint64_t nops;     /* the sum of the threads' counts */
} ps_ops_header_t;     /* 32 bytes */

typedef struct ps_ops_thread_s {
    uint64_t offset; /* byte offset of the thread's first op in the file */
    uint64_t count;  /* its ops */
    uint32_t tid;    /* the recorded thread id (for messages) */
    uint32_t pad;
} ps_ops_thread_t;   /* 24 bytes */

typedef struct ps_op_s {
    uint8_t kind;         /* ps_op_kind */
    uint8_t align_log2;   /* ALIGNED: log2 of the alignment (3..30) */
    uint16_t pad;
    uint32_t wait_thread; /* PS_OPS_NO_WAIT, or a thread index other than the op's own */
    uint32_t id;          /* the block allocated (MALLOC..ALIGNED), released (FREE), or the
                           * old block (REALLOC) */
    uint32_t id2;         /* REALLOC: the new block; 0 otherwise */
    uint64_t size;        /* bytes asked for (allocations, REALLOC) */
    uint64_t old_size;    /* REALLOC: the old block's size */
    uint64_t wait_op;     /* with wait_thread: ops that thread must have done, 1..its count */
} ps_op_t;                /* 40 bytes */

#ifdef __cplusplus
#define PS_OPS_ASSERT static_assert
#else
#define PS_OPS_ASSERT _Static_assert
#endif
PS_OPS_ASSERT(sizeof(ps_ops_header_t) == 32, "ps_ops_header_t");
PS_OPS_ASSERT(sizeof(ps_ops_thread_t) == 24, "ps_ops_thread_t");
PS_OPS_ASSERT(sizeof(ps_op_t) == 40, "ps_op_t");
#undef PS_OPS_ASSERT

#endif /* PERFSHIM_REPLAY_OPS_H */
