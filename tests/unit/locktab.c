/* Unit tests of preload/locktab.c's release path (issue 18), on a thread's held-lock stack
 * built by hand, no LD_PRELOAD: locktab_release_begin finds the innermost acquired entry of
 * a lock (below the top, an entry not acquired yet is none; a lock not held has none); an
 * in-order release pops the top entry, counts the hold and writes nothing; an out-of-order
 * one closes the gap, renumbers the entries above and moves their pending wait events (and
 * the `waited` bits) down with them; releasing an entry whose wait is pending writes that
 * LOCK_WAIT record, with the holder the wait named; a release by another thread than the
 * lock's previous owner counts an owner change. Records go into a thread state with a sink
 * standing in for the writer (tstate.h). */
#define _GNU_SOURCE
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "locktab.h"
#include "perfshim/trace_format.h"
#include "test.h"
#include "tsc.h"
#include "tstate.h"

#define CAP 4096u

static unsigned char *s_new(void)
{
    return malloc(CAP);
}
static void s_put(unsigned char *b)
{
    free(b);
}
static uint32_t s_cap(void)
{
    return CAP;
}
static void s_enqueue(unsigned char *b, uint32_t off, uint32_t len, pid_t tid, uint32_t seq,
                      uint16_t flags)
{
    (void)off, (void)len, (void)tid, (void)seq, (void)flags;
    free(b);
}
static void s_write_now(const unsigned char *d, uint32_t len, pid_t tid, uint32_t seq,
                        uint16_t flags)
{
    (void)d, (void)len, (void)tid, (void)seq, (void)flags;
}
static const tstate_sink_t sink = {s_new, s_new, s_put, s_cap, s_enqueue, s_write_now};

enum { A, B, C, D, NLOCK };
static uint64_t lockaddr[NLOCK] = {0x1000, 0x2000, 0x3000, 0x4000};
static lockinfo_t info[NLOCK];
static locksite_t site[NLOCK];
static lockthr_t T;
static tstate_t *st;

static void setup(uint32_t tid)
{
    if (!st) {
        tsc_init();
        tstate_set_sink(&sink);
        st = tstate_create(1, 0);
        assert_true(st != NULL);
    }
    memset(&T, 0, sizeof T);
    memset(site, 0, sizeof site);
    memset(info, 0, sizeof info);
    for (int i = 0; i < NLOCK; i++) {
        info[i].addr = lockaddr[i];
        site[i].lock = lockaddr[i];
        site[i].info = &info[i];
        site[i].stack = 100u + (uint32_t)i;
    }
    T.tid = tid;
    lock_me = &T;
    st->pos = st->flushed = st->committed = 0;
}

/* An acquisition of lock i at its site, as locktab_pre and locktab_acquired leave it (the
 * site lookup, which unwinds, is not under test). */
static lockheld_t *take(int i)
{
    uint32_t d = T.depth;
    lockheld_t *h = &T.held[d];
    *h = (lockheld_t){.lock = lockaddr[i], .stack = site[i].stack, .idx = d, .site = &site[i]};
    T.depth = d + 1;
    site[i].acquisitions++;
    h->t0 = tsc_now() | 1; /* acquired */
    return h;
}

static void release(int i)
{
    lockheld_t *h = locktab_release_begin((const void *)(uintptr_t)lockaddr[i]);
    assert_true(h != NULL);
    locktab_release_end(st, h, tsc_now());
}

static uint64_t holds(int i)
{
    uint64_t n = 0;
    for (int b = 0; b < PS_LOCK_HIST; b++)
        n += site[i].hold_hist[b];
    return n;
}

/* The records written into st so far: how many, and the last LOCK_WAIT. */
static int records(ps_rec_lock_wait_t *last_wait)
{
    int n = 0;
    for (uint32_t pos = 0; pos + sizeof(ps_rec_hdr_t) <= st->pos;) {
        ps_rec_hdr_t h;
        memcpy(&h, st->buf + pos, sizeof h);
        if (h.len < sizeof h)
            break;
        if (h.type == PS_REC_LOCK_WAIT && h.len == sizeof *last_wait)
            memcpy(last_wait, st->buf + pos, sizeof *last_wait);
        n++;
        pos += h.len;
    }
    return n;
}

TEST(release_begin_finds_the_innermost_acquired_entry)
{
    setup(7);
    take(A);
    take(B);
    take(A); /* a second hold of A (a read lock taken twice) */
    expect_true(locktab_release_begin((const void *)(uintptr_t)lockaddr[A]) == &T.held[2]);
    expect_true(locktab_release_begin((const void *)(uintptr_t)lockaddr[B]) == &T.held[1]);
    expect_true(locktab_release_begin((const void *)(uintptr_t)lockaddr[D]) == NULL);
    take(C);
    T.held[3].t0 = 0; /* pushed, the real call not returned yet: no acquired entry */
    take(D);          /* (below the top: the top entry is taken as is, unchecked) */
    expect_true(locktab_release_begin((const void *)(uintptr_t)lockaddr[C]) == NULL);
    expect_u64_eq(T.depth, 5);
}

TEST(in_order_release_pops_and_counts)
{
    setup(7);
    take(A);
    take(B);
    release(B);
    expect_u64_eq(T.depth, 1);
    expect_u64_eq(holds(B), 1);
    expect_u64_eq(holds(A), 0);
    release(A);
    expect_u64_eq(T.depth, 0);
    expect_u64_eq(holds(A), 1);
    expect_u64_eq(info[A].last_owner, 7);
    expect_u64_eq(site[A].owner_changes, 0); /* no previous owner */
    ps_rec_lock_wait_t w;
    expect_u64_eq(records(&w), 0);
    T.tid = 8; /* another thread takes and releases A: the owner changed */
    take(A);
    release(A);
    expect_u64_eq(site[A].owner_changes, 1);
    expect_u64_eq(info[A].last_owner, 8);
}

TEST(out_of_order_release_moves_entries_and_pending_waits)
{
    setup(7);
    take(A);
    take(B);
    take(C);
    take(D);
    /* C and D ended a contended wait: their LOCK_WAIT events wait for their release */
    T.pend[2] = (lockwait_t){.t_begin = 1, .holder_tid = 22, .holder_stack = 222};
    T.pend[3] = (lockwait_t){.t_begin = 1, .holder_tid = 33, .holder_stack = 333};
    T.waited = 1u << 2 | 1u << 3;
    release(B);
    expect_u64_eq(T.depth, 3);
    expect_u64_eq(T.held[0].lock, lockaddr[A]);
    expect_u64_eq(T.held[1].lock, lockaddr[C]);
    expect_u64_eq(T.held[2].lock, lockaddr[D]);
    for (uint32_t i = 0; i < 3; i++)
        expect_u64_eq(T.held[i].idx, i);
    expect_u64_eq(T.waited, 1u << 1 | 1u << 2);
    expect_u64_eq(T.pend[1].holder_tid, 22);
    expect_u64_eq(T.pend[2].holder_tid, 33);
    expect_u64_eq(holds(B), 1);
    ps_rec_lock_wait_t w;
    expect_u64_eq(records(&w), 0); /* B had no pending wait */

    release(C); /* now held[1], its wait pending: the event is written now */
    memset(&w, 0, sizeof w);
    expect_u64_eq(records(&w), 1);
    expect_u64_eq(w.lock, lockaddr[C]);
    expect_u64_eq(w.holder_tid, 22);
    expect_u64_eq(w.holder_stack, 222);
    expect_u64_eq(w.stack, site[C].stack);
    expect_u64_eq(site[C].contended, 1);
    expect_u64_eq(T.depth, 2);
    expect_u64_eq(T.waited, 1u << 1); /* D's bit, moved down with it */
    expect_u64_eq(T.pend[1].holder_tid, 33);

    release(D); /* the top entry, but a wait pending: the slow path writes it */
    expect_u64_eq(records(&w), 2);
    expect_u64_eq(w.holder_tid, 33);
    expect_u64_eq(T.waited, 0);
    release(A);
    expect_u64_eq(T.depth, 0);
    expect_u64_eq(holds(A) + holds(B) + holds(C) + holds(D), 4);
}

TEST_MAIN(TEST_ENTRY(release_begin_finds_the_innermost_acquired_entry),
          TEST_ENTRY(in_order_release_pops_and_counts),
          TEST_ENTRY(out_of_order_release_moves_entries_and_pending_waits))
