/* Unit tests of preload/tstate.c (issue 18): the per-thread buffer's hand-off, with a sink
 * that stands in for the writer (tstate.h: tstate_sink_t), no LD_PRELOAD. A producer writes
 * numbered 8-byte records; whatever path they leave by (full buffers enqueued, chunks written
 * in place under backpressure, records a concurrent writer steals, the final refill of
 * thread exit) every record arrives exactly once, and the chunks' sequence numbers are
 * 0, 1, 2... with the records in order when the chunks are put in sequence order. Also: no
 * sink, no state; a record larger than the buffer is refused; the registry (first/next,
 * foreach, threads seen, reap) and the buffers it gives back. PS_ASSERT (log.h) is compiled
 * in with --enable-debug only: a false one aborts there, and is not even evaluated without. */
#define _GNU_SOURCE
#include <config.h>

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "perfshim/errors.h"
#include "test.h"
#include "tstate.h"

#define CAP 256u
#define TID 4242
#define FLAGS 0x5u

typedef struct chunk_s {
    uint32_t seq, len;
    unsigned char *data;
} chunk_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static chunk_t *chunks;
static size_t nchunks, capchunks;
static int bad_tid, bad_flags, bad_len;
static int backpressure; /* buf_get: 0 never NULL, 1 always NULL, 2 every third call */
static unsigned gets, bufs_out;
static uint32_t cap_now = CAP; /* the sink's buffer size (busy_thread_doubles_its_room: 1 MiB) */

static void log_chunk(const unsigned char *p, uint32_t len, uint32_t seq)
{
    pthread_mutex_lock(&mu);
    if (nchunks == capchunks) {
        capchunks = capchunks ? 2 * capchunks : 256;
        chunks = realloc(chunks, capchunks * sizeof *chunks);
    }
    chunk_t *c = &chunks[nchunks++];
    c->seq = seq;
    c->len = len;
    c->data = malloc(len ? len : 1);
    memcpy(c->data, p, len);
    if (len == 0 || len > cap_now || len % 8)
        bad_len++;
    pthread_mutex_unlock(&mu);
}

static unsigned char *f_buf_new(void)
{
    __atomic_add_fetch(&bufs_out, 1, __ATOMIC_RELAXED);
    return malloc(cap_now);
}

static unsigned char *f_buf_get(void)
{
    unsigned n = __atomic_add_fetch(&gets, 1, __ATOMIC_RELAXED);
    if (backpressure == 1 || (backpressure == 2 && n % 3 == 0))
        return NULL;
    return f_buf_new();
}

static void f_buf_put(unsigned char *buf)
{
    __atomic_sub_fetch(&bufs_out, 1, __ATOMIC_RELAXED);
    free(buf);
}

static uint32_t f_buf_cap(void)
{
    return cap_now;
}

static void f_write_now(const unsigned char *data, uint32_t len, pid_t tid, uint32_t seq,
                        uint16_t flags)
{
    bad_tid += tid != TID;
    bad_flags += flags != FLAGS;
    log_chunk(data, len, seq);
}

static void f_enqueue(unsigned char *buf, uint32_t off, uint32_t len, pid_t tid, uint32_t seq,
                      uint16_t flags)
{
    f_write_now(buf + off, len, tid, seq, flags);
    f_buf_put(buf);
}

static const tstate_sink_t fake = {.buf_new = f_buf_new,
                                   .buf_get = f_buf_get,
                                   .buf_put = f_buf_put,
                                   .buf_cap = f_buf_cap,
                                   .enqueue = f_enqueue,
                                   .write_now = f_write_now};

static void reset(int bp)
{
    for (size_t i = 0; i < nchunks; i++)
        free(chunks[i].data);
    nchunks = 0;
    bad_tid = bad_flags = bad_len = 0;
    backpressure = bp;
    gets = 0;
}

static void produce(tstate_t *st, uint64_t from, uint64_t n)
{
    for (uint64_t i = from; i < from + n; i++) {
        unsigned char *p = tstate_reserve(st, 8);
        assert_true(p != NULL);
        memcpy(p, &i, 8);
        tstate_commit(st, 8);
    }
}

static int by_seq(const void *a, const void *b)
{
    const chunk_t *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Every record 0..n-1 exactly once, in order by chunk sequence; sequences 0..k-1. */
static void expect_exactly_once(uint64_t n)
{
    qsort(chunks, nchunks, sizeof *chunks, by_seq);
    uint64_t next = 0;
    int seq_ok = 1, order_ok = 1;
    for (size_t i = 0; i < nchunks; i++) {
        seq_ok &= chunks[i].seq == i;
        for (uint32_t k = 0; k + 8 <= chunks[i].len; k += 8) {
            uint64_t v;
            memcpy(&v, chunks[i].data + k, 8);
            order_ok &= v == next;
            next++;
        }
    }
    expect_true(seq_ok);
    expect_true(order_ok);
    expect_u64_eq(next, n);
    expect_u64_eq(bad_tid, 0);
    expect_u64_eq(bad_flags, 0);
    expect_u64_eq(bad_len, 0);
}

TEST(no_sink_no_state)
{
    expect_true(tstate_create(TID, FLAGS) == NULL);
}

TEST(full_buffers_enqueued_in_order)
{
    tstate_set_sink(&fake);
    reset(0);
    tstate_t *st = tstate_create(TID, FLAGS);
    assert_true(st != NULL);
    expect_u64_eq(st->cap, CAP);
    produce(st, 0, 10000);
    expect_u64_eq(nchunks, 10000 * 8 / CAP - 1 + (10000 * 8 % CAP != 0)); /* full ones so far */
    tstate_refill(st, 0); /* thread exit: the rest */
    expect_exactly_once(10000);
    expect_u64_eq(nchunks, (10000 * 8 + CAP - 1) / CAP);
    tstate_reap(st);
}

/* A thread starts with TSTATE_FIRST_CAP of room and doubles it at each hand-off up to the
 * buffer's size: its chunks are 64, 128, 256, 512 KiB, then 1 MiB each (tstate.h). */
TEST(busy_thread_doubles_its_room)
{
    cap_now = 16 * TSTATE_FIRST_CAP;
    tstate_set_sink(&fake);
    reset(0);
    tstate_t *st = tstate_create(TID, FLAGS);
    assert_true(st != NULL);
    expect_u64_eq(st->cap, TSTATE_FIRST_CAP);
    const uint64_t want[] = {1, 2, 4, 8, 16, 16, 16}; /* x TSTATE_FIRST_CAP */
    uint64_t bytes = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        bytes += want[i] * TSTATE_FIRST_CAP;
    produce(st, 0, bytes / 8 + 1); /* one record more: the last full chunk is handed off */
    expect_u64_eq(st->cap, 16 * TSTATE_FIRST_CAP);
    tstate_refill(st, 0);
    assert_true(nchunks == sizeof want / sizeof want[0] + 1);
    qsort(chunks, nchunks, sizeof *chunks, by_seq);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        expect_u64_eq(chunks[i].len, want[i] * TSTATE_FIRST_CAP);
    expect_u64_eq(chunks[nchunks - 1].len, 8);
    expect_exactly_once(bytes / 8 + 1);
    tstate_reap(st);
    cap_now = CAP;
}

TEST(backpressure_written_in_place)
{
    tstate_set_sink(&fake);
    reset(1);
    unsigned out0 = bufs_out;
    tstate_t *st = tstate_create(TID, FLAGS);
    assert_true(st != NULL);
    unsigned char *buf = st->buf;
    produce(st, 0, 5000);
    expect_true(st->buf == buf); /* no fresh buffer: the same one, written out each time */
    expect_u64_eq(bufs_out, out0 + 1);
    tstate_refill(st, 0);
    expect_exactly_once(5000);
    tstate_reap(st);
    expect_u64_eq(bufs_out, out0);
}

TEST(record_larger_than_buffer_refused)
{
    tstate_set_sink(&fake);
    reset(0);
    tstate_t *st = tstate_create(TID, FLAGS);
    assert_true(st != NULL);
    produce(st, 0, 3);
    expect_true(tstate_reserve(st, CAP + 1) == NULL);
    expect_u64_eq(tstate_refill(st, CAP + 1), (uint64_t)-PS_E_LIMIT);
    expect_true(tstate_reserve(st, 8) != NULL); /* the thread goes on */
    expect_exactly_once(3);                     /* the refills handed the 3 over */
    tstate_reap(st);
}

static tstate_t *shared;
static int done;

static void *stealer(void *arg)
{
    (void)arg;
    unsigned char dst[CAP];
    for (;;) {
        int last = __atomic_load_n(&done, __ATOMIC_ACQUIRE);
        uint32_t seq = 0, len = tstate_steal(shared, dst, &seq);
        if (len)
            log_chunk(dst, len, seq);
        if (last)
            return NULL;
    }
}

TEST(concurrent_steals_nothing_twice_nothing_lost)
{
    tstate_set_sink(&fake);
    for (int bp = 0; bp <= 2; bp++) {
        reset(bp);
        shared = tstate_create(TID, FLAGS);
        assert_true(shared != NULL);
        done = 0;
        pthread_t t;
        assert_true(pthread_create(&t, NULL, stealer, NULL) == 0);
        produce(shared, 0, 200000);
        tstate_refill(shared, 0);
        __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
        pthread_join(t, NULL);
        expect_exactly_once(200000);
        tstate_reap(shared);
    }
}

static void count(tstate_t *st, void *arg)
{
    (void)st;
    ++*(int *)arg;
}

TEST(registry_walk_and_reap)
{
    tstate_set_sink(&fake);
    reset(0);
    uint64_t seen0 = tstate_threads_seen();
    unsigned out0 = bufs_out;
    tstate_t *a = tstate_create(1, 0), *b = tstate_create(2, 0), *c = tstate_create(3, 0);
    assert_true(a && b && c);
    expect_u64_eq(tstate_threads_seen(), seen0 + 3);
    expect_u64_eq(bufs_out, out0 + 3);
    int n = 0, found = 0;
    for (tstate_t *s = tstate_first(); s; s = s->next)
        found |= (s == a) << 0 | (s == b) << 1 | (s == c) << 2;
    expect_u64_eq(found, 7);
    tstate_foreach(count, &n);
    expect_u64_eq(n, 3);
    tstate_reap(b);
    found = 0;
    for (tstate_t *s = tstate_first(); s; s = s->next)
        found |= (s == a) << 0 | (s == c) << 2 | (s == b) << 1;
    expect_u64_eq(found, 5);
    expect_u64_eq(bufs_out, out0 + 2);
    tstate_reap(a);
    tstate_reap(c);
    expect_true(tstate_first() == NULL);
    expect_u64_eq(bufs_out, out0);
    expect_u64_eq(tstate_threads_seen(), seen0 + 3); /* seen, not alive */
}

TEST(assert_only_in_debug_builds)
{
    int n = 0;
    PS_ASSERT(++n == 1);
#if defined(PS_DEBUG) && PS_DEBUG >= 1
    expect_u64_eq(n, 1);
#else
    expect_u64_eq(n, 0); /* not evaluated */
#endif
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(2); /* the child's message is not the test's */
        PS_ASSERT(n < 0);
        _exit(0);
    }
    int status = 0;
    assert_true(waitpid(pid, &status, 0) == pid);
#if defined(PS_DEBUG) && PS_DEBUG >= 1
    expect_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
#else
    expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#endif
}

TEST_MAIN(TEST_ENTRY(no_sink_no_state), TEST_ENTRY(assert_only_in_debug_builds),
          TEST_ENTRY(full_buffers_enqueued_in_order), TEST_ENTRY(busy_thread_doubles_its_room),
          TEST_ENTRY(backpressure_written_in_place),
          TEST_ENTRY(record_larger_than_buffer_refused),
          TEST_ENTRY(concurrent_steals_nothing_twice_nothing_lost),
          TEST_ENTRY(registry_walk_and_reap))
