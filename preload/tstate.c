/* tstate.c -- see tstate.h. */
#include <config.h>

#include "tstate.h"

#include <errno.h>
#include <string.h>

#include "imem.h"
#include "log.h"
#include "perfshim/errors.h"

static const tstate_sink_t *sink;
static ilock_t reg_lock;
static tstate_t *reg_head;
static uint64_t threads_seen;

void tstate_set_sink(const tstate_sink_t *s)
{
    PS_ASSERT(s && s->buf_new && s->buf_get && s->buf_put && s->buf_cap && s->enqueue &&
              s->write_now);
    sink = s;
}

tstate_t *tstate_create(pid_t tid, uint16_t chunk_flags)
{
    if (!sink)
        return NULL;
    tstate_t *st = imem_alloc(sizeof *st);
    if (!st)
        return NULL;
    st->buf = sink->buf_new();
    if (!st->buf) {
        imem_free(st);
        return NULL;
    }
    st->cap = sink->buf_cap() < TSTATE_FIRST_CAP ? sink->buf_cap() : TSTATE_FIRST_CAP;
    st->tid = tid;
    st->who = ((uint32_t)tid & 0xffffffu) << 8; /* liveset.h LIVESET_WHO (shim.h asserts it) */
    st->chunk_flags = chunk_flags;
    st->errnop = &errno; /* the calling thread's: a load in the hooks, not a call */
    ilock_lock(&reg_lock);
    st->next = reg_head;
    __atomic_store_n(&reg_head, st, __ATOMIC_RELEASE);
    threads_seen++;
    ilock_unlock(&reg_lock);
    return st;
}

int tstate_refill(tstate_t *st, uint32_t need)
{
    unsigned char *fresh = sink->buf_get(); /* NULL: writer is behind, write it ourselves */
    ilock_lock(&st->lock);
    PS_ASSERT(st->flushed <= st->pos && st->pos <= st->cap);
    unsigned char *old = st->buf;
    uint32_t off = st->flushed, len = st->pos - st->flushed;
    uint32_t seq = len ? st->seq++ : 0;
    const uint32_t full = sink->buf_cap(); /* a busy thread's next buffer: twice the room */
    st->cap = st->cap < full / 2 ? st->cap * 2 : full;
    if (fresh) {
        st->buf = fresh;
        st->flushed = 0;
        __atomic_store_n(&st->committed, 0, __ATOMIC_RELEASE); /* pos 0 */
    } else {
        st->flushed = st->pos;
    }
    ilock_unlock(&st->lock);

    if (fresh) {
        if (len)
            sink->enqueue(old, off, len, st->tid, seq, st->chunk_flags);
        else
            sink->buf_put(old);
    } else {
        /* Backpressure: the queue is full, so this thread compresses its own records. */
        if (len)
            sink->write_now(old + off, len, st->tid, seq, st->chunk_flags);
        ilock_lock(&st->lock);
        st->flushed = 0;
        __atomic_store_n(&st->committed, 0, __ATOMIC_RELEASE); /* pos 0 */
        ilock_unlock(&st->lock);
    }
    return need <= st->cap ? 0 : -PS_E_LIMIT;
}

uint32_t tstate_steal(tstate_t *st, unsigned char *dst, uint32_t *seq)
{
    ilock_lock(&st->lock);
    uint32_t c = __atomic_load_n(&st->committed, __ATOMIC_ACQUIRE);
    PS_ASSERT(c <= st->cap);
    uint32_t len = c > st->flushed ? c - st->flushed : 0;
    if (len) {
        memcpy(dst, st->buf + st->flushed, len);
        st->flushed = c;
        *seq = st->seq++;
    }
    ilock_unlock(&st->lock);
    return len;
}

tstate_t *tstate_first(void)
{
    return __atomic_load_n(&reg_head, __ATOMIC_ACQUIRE);
}

void tstate_reap(tstate_t *st)
{
    int found = 0;
    ilock_lock(&reg_lock);
    for (tstate_t **pp = &reg_head; *pp; pp = &(*pp)->next) {
        if (*pp == st) {
            *pp = st->next;
            found = 1;
            break;
        }
    }
    ilock_unlock(&reg_lock);
    PS_ASSERT(found); /* a registered state, reaped once */
    (void)found;
    sink->buf_put(st->buf);
    imem_free(st->ucache); /* the stack cache (unwind.c: imem_alloc'd, its first member) */
    imem_free(st->acost);
    imem_free(st);
}

void tstate_foreach(void (*fn)(tstate_t *st, void *arg), void *arg)
{
    ilock_lock(&reg_lock);
    for (tstate_t *st = reg_head; st; st = st->next)
        fn(st, arg);
    ilock_unlock(&reg_lock);
}

uint64_t tstate_threads_seen(void)
{
    return __atomic_load_n(&threads_seen, __ATOMIC_RELAXED);
}

void tstate_after_fork_child(void)
{
    /* The parent's threads do not exist here and their records are the parent's: drop them
     * (call after writer_after_fork_child, which makes the buffer list usable). */
    ilock_reset(&reg_lock);
    tstate_t *next;
    for (tstate_t *st = reg_head; st; st = next) {
        next = st->next;
        sink->buf_put(st->buf);
        imem_free(st->ucache);
        imem_free(st->acost);
        imem_free(st);
    }
    reg_head = NULL;
    threads_seen = 0;
}
