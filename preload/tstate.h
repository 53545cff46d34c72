/*
 * tstate.h -- per-thread state: the thread's event buffer and its hand-off to the writer.
 *
 * Contract: a tstate_t is owned by its thread (the producer), which appends records with
 * tstate_reserve()/tstate_commit() and no lock: the fast path is a bounds check, the copy and
 * one release store of `committed` (the cursor, `pos`: one field). Three things take the per-thread `lock`, never on the fast
 * path: the producer handing off a full buffer (tstate_refill; also, with no writer thread,
 * its own records that waited a flush period), the writer thread taking records that waited
 * too long (tstate_steal), and the final flush at exit. A range of
 * records is taken exactly once, under `lock`, and gets the thread's next chunk sequence
 * number, so nothing is written twice or lost. tstate memory is the shim's own (imem); only
 * the writer thread unlinks and frees a tstate, after its thread has exited.
 * The other side of the hand-off (buffers, the queue, compression: the writer) is a
 * tstate_sink_t the wiring module (shim.c) sets before the first tstate_create, so tstate
 * calls nothing above it and a test can stand in for the writer (tests/unit/tstate.c).
 */
#ifndef PERFSHIM_TSTATE_H
#define PERFSHIM_TSTATE_H

#include <stdint.h>
#include <sys/types.h>

#include "ilock.h"
#include "log.h"
#include "perfshim/compiler.h"
#include "perfshim/trace_format.h"
#include "stamp.h"

typedef struct tstate_s {
    /* producer-owned (hot) */
    unsigned char *buf;
    /* The write cursor and the bytes readable by other threads are one field (other threads
     * load it as `committed`, acquire): the producer writes it only by a release store after
     * a record's bytes (tstate_commit, rec.h REC_END; under `lock` at a hand-off), where a
     * plain store of pos and a release store of committed were two stores of one value every
     * event (issue 18's hook4 work: one store an event fewer). */
    union {
        uint32_t pos;
        uint32_t committed;
    };
    uint32_t cap; /* the room used in buf: TSTATE_FIRST_CAP, doubled at hand-offs (below) */
    pid_t tid;
    uint32_t who;         /* the live set's name of the thread, LIVESET_WHO(tid) (liveset.h; one
                           * load in the recorders, not a load and a shift: issue 18) */
    uint16_t chunk_flags;
    int64_t sample_left;  /* sampled mode (sampled.h): bytes until the next sample */
    uint64_t sample_rng;  /* sampled mode: the countdown's generator (0: not seeded) */
    stamp_clock_t clk;    /* heap events' timestamps: the floor and when to read again (stamp.h) */
    /* shared, under lock */
    ilock_t lock PS_ALIGNED_CL;
    uint32_t flushed; /* [0, flushed) of buf is already taken */
    uint32_t seq;     /* next chunk sequence number */
    int exited;       /* its thread ran the exit destructor */
    /* registry, changed by tstate_create (head) and the writer (unlink) under reg_lock */
    struct tstate_s *next;
    uint32_t w_seen_seq; /* writer-private: seq at the previous periodic flush */
    uintptr_t stack_lo, stack_hi; /* the thread's stack (leakscan_thread_attach), 0 if unknown */
    struct ucache_s *ucache; /* the thread's stack cache (unwind.h), NULL until its first walk */
    struct acost_s *acost;   /* the thread's allocator-time totals (acost.h), NULL until used */
    uint64_t cost_rng;       /* acost_pick's generator state (0: not seeded) */
    int32_t cost_skip;       /* acost_pick's countdown: the next timed call is the cost_skip-th */
    uint64_t cost_rel_calls; /* releases not timed, not yet in the acost table (acost.h) */
    int *errnop;             /* the thread's errno (tstate_create's caller's): the slow paths
                              * that may change it keep it through this (rec.c) */
    uint64_t ips[PERFSHIM_MAX_DEPTH + 8]; /* unwind scratch */
} tstate_t;

/* Where full buffers go (writer.h's functions of the same names, in the shim). Called from
 * tstate_create, tstate_refill (the producer, st->lock not held), tstate_reap and
 * tstate_after_fork_child. */
typedef struct tstate_sink_s {
    unsigned char *(*buf_new)(void); /* a buffer for a new thread (NULL only if no memory) */
    unsigned char *(*buf_get)(void); /* a fresh buffer; NULL when the queue is at its limit */
    void (*buf_put)(unsigned char *buf); /* a buffer back, unwritten */
    uint32_t (*buf_cap)(void);           /* the bytes of every buffer */
    /* buf[off, off + len): the records of chunk seq of thread tid; buf becomes the sink's */
    void (*enqueue)(unsigned char *buf, uint32_t off, uint32_t len, pid_t tid, uint32_t seq,
                    uint16_t flags);
    /* the same, written now by the calling thread (backpressure); data stays the caller's */
    void (*write_now)(const unsigned char *data, uint32_t len, pid_t tid, uint32_t seq,
                      uint16_t flags);
} tstate_sink_t;
void tstate_set_sink(const tstate_sink_t *sink);

/* Creates, registers and returns the state of the calling thread (NULL if out of memory or
 * no sink is set). */
tstate_t *tstate_create(pid_t tid, uint16_t chunk_flags);
/* Hands the buffer's untaken records to the writer and makes room for `need` more bytes.
 * Returns 0, or -PS_E_NOMEM if no buffer could be had (records are then written in place). */
PS_NOINLINE PS_COLD int tstate_refill(tstate_t *st, uint32_t need);

/* Writer side: copies untaken records into dst (cap >= st->cap) and marks them taken.
 * Returns the bytes copied (0: nothing pending) and the chunk sequence in *seq. */
uint32_t tstate_steal(tstate_t *st, unsigned char *dst, uint32_t *seq);
/* Registry walk (writer): the first state, then st->next. Lock-free for the walker. */
tstate_t *tstate_first(void);
/* Unlinks and frees st (writer only; st's thread must be gone). */
void tstate_reap(tstate_t *st);
uint64_t tstate_threads_seen(void);
/* Calls fn on every registered state under the registry lock (no state is freed meanwhile). */
void tstate_foreach(void (*fn)(tstate_t *st, void *arg), void *arg);
/* Fork child: forgets every state (the calling thread gets a new one on its next event). */
void tstate_after_fork_child(void);

/* A thread fills its buffer up to st->cap: TSTATE_FIRST_CAP at first, twice that at each
 * hand-off (tstate_refill) up to the buffer's size (PERFSHIM_BUFFER_KB, 1 MiB): a thread that
 * makes few events writes (makes resident) 64 KiB of its buffer, a busy one reaches
 * full-size chunks, which compress best, after four hand-offs. */
#define TSTATE_FIRST_CAP (64u << 10)

/* TSTATE_PREFETCH bytes ahead of the record being written, the buffer's line is fetched for
 * writing: a buffer the writer thread had (recycled) is in the other core's cache, and the
 * store that first touches a line waited for it (perf, churn under the shim: the record's
 * store was a quarter of ps_hook_malloc's samples; with the prefetch the app thread's CPU
 * ~11% lower, 8 paired runs, loaded machine). A prefetch never faults: past the buffer's end
 * it does nothing. */
#define TSTATE_PREFETCH 512

static PS_ALWAYS_INLINE unsigned char *tstate_reserve(tstate_t *st, uint32_t len)
{
    if (PS_UNLIKELY(st->pos + len > st->cap) && tstate_refill(st, len) != 0)
        return NULL;
    __builtin_prefetch((const void *)((uintptr_t)st->buf + st->pos + TSTATE_PREFETCH), 1, 3);
    return st->buf + st->pos;
}

static PS_ALWAYS_INLINE void tstate_commit(tstate_t *st, uint32_t len)
{
    PS_ASSERT(st->pos + len <= st->cap); /* reserved first (--enable-debug only) */
    __atomic_store_n(&st->committed, st->pos + len, __ATOMIC_RELEASE); /* (pos: the same field) */
}

#endif /* PERFSHIM_TSTATE_H */
