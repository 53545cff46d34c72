/*
 * writer.h -- the trace file: chunk compression, the queue of full buffers, the writer thread.
 *
 * Contract: writer_init() opens the file and writes the header (0, or -PS_E_* and the shim
 * then does not record). Producers hand full buffers over with writer_enqueue() (the buffer
 * becomes the writer's) after getting a fresh one from writer_buf_get(); when the queue holds
 * its limit (PERFSHIM_QUEUE_MB) writer_buf_get() returns NULL and the producer writes its own
 * chunk with writer_write_now(): backpressure, never an unbounded queue (the chunk is built
 * on a 64 KiB stack of the writer's, not the producer's: a small thread or coroutine stack
 * holds only the frames down to the switch, prim_call_on_stack). The writer thread
 * compresses queued buffers, flushes records that waited longer than PERFSHIM_FLUSH_MS from
 * every thread's buffer, samples RSS, and frees the state of threads that have exited.
 * writer_finish() (exit) stops the thread, writes everything left and the END record.
 * All of it is safe to call from hooks (the guard is set), and none of it uses the app's heap.
 *
 * The thread is lazy: writer_arm_lazy() (after writer_init) starts none; writer_want_thread()
 * (a second thread recorded its first event) asks for it, and the next writer_tick() starts
 * it (or the next writer_tick_lock(): a lock-only program). Until then the producers write
 * their own chunks (as under backpressure) and the recorders call writer_tick() (allocation
 * hooks) or writer_tick_lock() (lock wait events) when an event's timestamp reaches
 * writer_tick_due: it samples
 * RSS, takes a requested snapshot and flushes the calling thread's idle records. With the
 * thread running writer_tick_due is UINT64_MAX. The thread blocks every asynchronous signal.
 * The trace's descriptor is kept high and checked (same file) before every write; see
 * writer.c for what happens when the app closed or replaced it.
 *
 * What the writer needs of modules beside or above it, it gets from the wiring module (shim.c)
 * as callbacks (writer_set_hooks, before writer_arm_lazy and writer_start): the writer
 * thread's first step, and the live-set snapshots (leakscan) of its periodic work.
 */
#ifndef PERFSHIM_WRITER_H
#define PERFSHIM_WRITER_H

#include <stdint.h>
#include <sys/types.h>

#include "perfshim/compiler.h"
#include "perfshim/trace_format.h"

typedef struct writer_header_s {
    const char *path; /* expanded output path */
    const char *exe;
    const char *cmdline; /* NUL-separated args */
    uint32_t cmdline_len;
    uint64_t start_mono_ns, start_realtime_ns;
    uint32_t flags; /* PS_FILE_F_* */
    uint64_t sample_bytes, sample_seed; /* sampled mode (PS_FILE_F_SAMPLED): N, seed; 0: full */
} writer_header_t;

struct tstate_s;

/* Appends one whole record to the shim's own stream (the writer's internal_lock is held). */
typedef void (*writer_append_fn)(const void *rec, uint32_t len);
typedef struct writer_hooks_s {
    /* First thing on the writer thread (with its signals blocked): marks it as the shim's,
     * so that nothing it does is recorded and its stack is no leak-scan root. */
    void (*thread_enter)(void);
    /* Periodic work (the writer thread's loop, or writer_tick/writer_tick_lock without it):
     * nonzero when a snapshot was requested; then snapshot() takes it, its records through
     * `put`. */
    int (*snapshot_due)(void);
    void (*snapshot)(writer_append_fn put);
} writer_hooks_t;
/* Copies h (a NULL member: nothing to do). Before writer_arm_lazy() or writer_start(); until
 * then the writer has none. */
void writer_set_hooks(const writer_hooks_t *h);
int writer_init(const writer_header_t *h);
int writer_start(void); /* the thread now (0, or -PS_E_NOMEM) */
void writer_arm_lazy(void);
void writer_want_thread(void);
extern PS_HIDDEN uint64_t writer_tick_due;
/* From a recorder (allocation or free hook, guard set, outside the allocator) on st's thread,
 * when now >= writer_tick_due. Keeps errno. `ra` is the hook's caller: the writer thread is
 * started only from a hook the program called itself (not the C library, the loader or the
 * shim, which may hold one of glibc's internal locks that pthread_create takes). */
PS_NOINLINE PS_COLD void writer_tick(struct tstate_s *st, uint64_t now, uintptr_t ra);
/* The same from a lock hook (locktab.c), when now >= writer_tick_due and the thread holds no
 * lock it knows of (outside every critical section): after a wait event was written, or
 * before a new lock site's first acquisition; `ra` is the lock's call site. So a program that
 * only takes locks after start-up gets its writer thread and the flush period too (the
 * uncontended path of a known site never ticks). */
PS_NOINLINE PS_COLD void writer_tick_lock(struct tstate_s *st, uint64_t now, uintptr_t ra);
unsigned char *writer_buf_get(void); /* NULL when the queue is at its limit */
unsigned char *writer_buf_new(void); /* a buffer for a new thread (NULL only if no memory) */
void writer_buf_put(unsigned char *buf);
uint32_t writer_buf_cap(void);
void writer_enqueue(unsigned char *buf, uint32_t off, uint32_t len, pid_t tid, uint32_t seq,
                    uint16_t flags);
void writer_write_now(const unsigned char *data, uint32_t len, pid_t tid, uint32_t seq,
                      uint16_t flags);
void writer_finish(void);
/* Records (whole, back to back) that writer_finish writes in the shim's own stream before END;
 * the buffer is imem memory the writer frees. Set at most once, before writer_finish. */
void writer_set_final_records(unsigned char *recs, uint32_t len);
/* An RSS record of now: the process's resident bytes and the recorder's part of them
 * (imem_resident_bytes: fresh, counted now; else the value of up to IMEM_RESIDENT_EVERY_NS
 * ago). */
void writer_rss_record(ps_rec_rss_t *r, int fresh);
void writer_count_dropped(uint64_t events);
/* Fork child (single-threaded, from the atfork handler): forgets the parent's file, queue and
 * counters (queued buffers are the parent's records: recycled unwritten); writer_init() and
 * writer_start() then begin the child's own trace. Allocations are reused. */
void writer_after_fork_child(void);
/* Before exec: stops the writer thread, writes every thread's records and an END, keeps the
 * file open. writer_resume() (the exec failed) restarts the thread if there was one (else
 * re-arms the ticks); the final END then supersedes this one (readers take the latest END). */
void writer_checkpoint(void);
void writer_resume(void);
/* A consumer of records: called once per record, arg passed through. */
typedef void (*writer_put_fn)(const void *rec, uint32_t len, void *arg);
/* Signal context (a fatal signal): writes what is queued and every thread's committed records,
 * then, in the shim's own stream, the records `more` passes to the appender it is given (arg
 * NULL; `more` NULL: none) and `rec` (a CRASH record; NULL when it is in the thread's own stream), without
 * allocating or blocking: any lock that is taken is skipped, and what it guards is lost. */
void writer_crash_flush(const void *rec, uint32_t len, void (*more)(writer_put_fn put));

#endif /* PERFSHIM_WRITER_H */
