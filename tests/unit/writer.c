/*
 * tests/unit/writer.c -- the writer alone (libperfshim_core, no shim): what it needs of the
 * modules above it comes from writer_set_hooks (writer.h), so linking writer.o pulls neither
 * shim.o nor leakscan.o, and the hooks it is given run where writer.h says: thread_enter
 * first on the writer thread, a requested snapshot in a tick (no thread) and in the thread's
 * loop, its records through the appender given to it; and END counts the events of every
 * chunk, a snapshot's still in the shim's own stream at exit included (a stress run once
 * ended with a snapshot taken after the last flush: its chunk held events END had not counted).
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/reader.h"
#include "options.h"
#include "prim.h"
#include "test.h"
#include "tsc.h"
#include "tstate.h"
#include "writer.h"

static int enters, snapshots, wanted;

static void h_enter(void)
{
    __atomic_add_fetch(&enters, 1, __ATOMIC_RELEASE);
}
static int h_due(void)
{
    return __atomic_load_n(&wanted, __ATOMIC_ACQUIRE);
}
static void h_snapshot(writer_append_fn put)
{
    /* an event (a lock record, as locktab_snapshot's), into the shim's own stream */
    ps_rec_lock_site_t rec = {.h = {PS_REC_LOCK_SITE, PS_LOCK_SITE_F_SNAPSHOT, sizeof rec},
                              .ts = prim_now_ns(),
                              .lock = 0x1000,
                              .tid = 1};
    put(&rec, sizeof rec);
    __atomic_store_n(&wanted, 0, __ATOMIC_RELEASE);
    __atomic_add_fetch(&snapshots, 1, __ATOMIC_RELEASE);
}

static const char *no_env(const char *name)
{
    (void)name;
    return NULL;
}

/* waits up to 5 s for *w to reach v */
static int wait_for(int *w, int v)
{
    for (int i = 0; i < 500 && __atomic_load_n(w, __ATOMIC_ACQUIRE) < v; i++)
        usleep(10000);
    return __atomic_load_n(w, __ATOMIC_ACQUIRE) >= v;
}

/* The chunks' events (their headers' counts) and END's count; -1 when the trace cannot be read
 * or has no END. */
static int trace_counts(const char *path, uint64_t *chunk_events, uint64_t *end_events,
                        uint64_t *snapshots_read)
{
    reader_t *r = NULL;
    int ok = reader_open(&r, path) >= 0, have_end = 0;
    *chunk_events = *end_events = *snapshots_read = 0;
    for (size_t i = 0; ok && i < reader_chunk_count(r); i++) {
        *chunk_events += reader_chunk(r, i)->h.nevents;
        chunk_view_t v;
        record_t rec;
        int rc = reader_chunk_load(r, i, &v);
        while (rc >= 0 && (rc = view_next(r, &v, &rec)) == 1) {
            if (rec.type == PS_REC_END)
                have_end = 1, *end_events = rec.u.end.events;
            *snapshots_read += rec.type == PS_REC_LOCK_SITE;
        }
        ok = rc >= 0;
    }
    reader_close(r);
    return ok && have_end ? 0 : -1;
}

TEST(the_hooks_run_in_ticks_and_on_the_thread)
{
    static const tstate_sink_t sink = {.buf_new = writer_buf_new,
                                       .buf_get = writer_buf_get,
                                       .buf_put = writer_buf_put,
                                       .buf_cap = writer_buf_cap,
                                       .enqueue = writer_enqueue,
                                       .write_now = writer_write_now};
    static const writer_hooks_t hooks = {h_enter, h_due, h_snapshot};
    char dir[] = "/tmp/perfshim-unit-writer.XXXXXX", path[64];
    assert_true(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/t.trace", dir);
    assert_u64_eq(options_load(&options, no_env), 0);
    options.flush_ms = 10; /* the thread's loop comes round every 10 ms */
    tsc_init();
    tstate_set_sink(&sink);
    writer_set_hooks(&hooks);
    writer_header_t h = {.path = path, .exe = "writer", .cmdline = "writer", .cmdline_len = 7};
    assert_u64_eq(writer_init(&h), 0);
    writer_arm_lazy();
    tstate_t *st = tstate_create(1, 0);
    assert_true(st != NULL);

    /* no thread: a tick takes a requested snapshot, and only then (the next tick is due a
     * flush period later: this one is 1 s later) */
    uint64_t now = prim_now_ns();
    writer_tick(st, now, 0);
    expect_u64_eq(snapshots, 0);
    __atomic_store_n(&wanted, 1, __ATOMIC_RELEASE);
    writer_tick(st, now + 1000000000u, 0);
    expect_u64_eq(snapshots, 1);
    expect_u64_eq(enters, 0);

    /* the thread: thread_enter once, then its loop takes a requested snapshot; its flush
     * period is 10 s from here, so the snapshot is still in the shim's own stream at exit */
    options.flush_ms = 10000;
    assert_u64_eq(writer_start(), 0);
    expect_true(wait_for(&enters, 1));
    __atomic_store_n(&wanted, 1, __ATOMIC_RELEASE);
    expect_true(wait_for(&snapshots, 2));
    writer_finish();
    expect_u64_eq(enters, 1);
    expect_u64_eq(snapshots, 2);
    uint64_t chunk_events, end_events, read;
    expect_u64_eq(trace_counts(path, &chunk_events, &end_events, &read), 0);
    expect_u64_eq(read, 2);
    expect_u64_eq(end_events, chunk_events);
    unlink(path);
    rmdir(dir);
}

TEST_MAIN(TEST_ENTRY(the_hooks_run_in_ticks_and_on_the_thread))
