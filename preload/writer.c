/*
 * writer.c -- see writer.h.
 *
 * Locks (all ilock_t, never held while unwinding): q_lock guards the queue and the free
 * buffer list; file_lock guards the fd, the shared zstd context of producers that write
 * under backpressure, and the chunk counters. The writer thread has its own zstd context and
 * compresses outside file_lock; only the write(2) of a finished chunk is under it.
 * internal_lock guards the shim's own stream (internal_buf); tick_lock makes one app thread
 * at a time do the periodic work while there is no writer thread. Order: tick_lock, then
 * internal_lock, then a thread's lock, q_lock, file_lock (the crash path only try-locks);
 * zs_lock (the literals-only columns' choice, chunk_build) is a leaf, only try-locked.
 *
 * The descriptor: the trace is opened, then moved to a high number (prim_fd_move_high), and
 * before every chunk is written fstat must still find the same file (device and inode) there:
 * a program that closes descriptors it does not know (daemons, closefrom, close_range) or
 * dup2s over them must never get trace chunks in its own file. When the number no longer
 * holds the trace, it is left alone (it may be the app's now) and the trace is reopened by
 * its absolute path (O_APPEND: the chunks continue at its end) if that still names the same
 * file; otherwise recording stops with one warning and every later event is counted as
 * dropped. The fstat costs 3 us on the VM it was measured on, once per chunk (one chunk per
 * 64 KiB of records, ~2000 events). Not caught: a dup2 by another app thread in the
 * microseconds between the fstat and the write (interposing close/dup2 would be needed).
 *
 * The writer thread is started lazily (writer_want_thread): until the process has a second
 * thread it stays single-threaded, as natively (unshare(CLONE_NEWUSER), and glibc's
 * single-thread lock fast path, need that). Meanwhile the app thread writes its own full
 * buffers (the backpressure path), and its own events do the periodic work (writer_tick from
 * allocation hooks, writer_tick_lock from lock wait events and new lock sites): RSS samples,
 * snapshots, the idle flush, and the thread's start once it is wanted. Both are needed: a
 * program that takes only locks once its threads run never ticked before writer_tick_lock, so
 * it never got the thread and kept its records until a buffer filled or it exited (all lost
 * with a SIGKILL). The thread, when there is one, blocks every asynchronous signal, so
 * signals the app blocks and waits for (sigwait, signalfd) are never delivered to it.
 */
#include <config.h>

#include "writer.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h> /* cols_encode: popcnt or not */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem */
#include <zstd.h>
#include <zstd_errors.h>

#include "announce.h"
#include "ilock.h"
#include "imem.h"
#include "log.h"
#include "options.h"
#include "perfshim/errors.h"
#include "perfshim/trace_format.h"
#include "perfshim/trace_cols.h"
#include "perfshim/trace_pack.h"
#include "perfshim/trace_zstd.h"
#include "prim.h"
#include "stacktab.h"
#include "stamp.h"
#include "tstate.h"
#include "unwind.h"

typedef struct qitem_s {
    unsigned char *buf;
    uint32_t off, len, seq;
    pid_t tid;
    uint16_t flags;
} qitem_t;

static int fd = -1;     /* the trace's descriptor (high); -1 once closed or lost */
static int trace_open;  /* from writer_init to the final close, even when fd is lost */
static dev_t trace_dev; /* what fd must still be */
static ino_t trace_ino;
static char trace_path[PATH_MAX]; /* absolute, for reopening */
static uint32_t buf_cap;
static uint32_t q_max; /* queue capacity in buffers */

static ilock_t q_lock;
static qitem_t *queue; /* ring of q_max items */
static uint32_t q_head, q_count;
static int q_signal; /* futex word: bumped on enqueue and stop */
static unsigned char **freelist;
static uint32_t free_count, free_max;

static ilock_t file_lock;
static ZSTD_CCtx *sync_cctx;
static unsigned char *sync_dst;
static ps_cols_enc_t *sync_enc; /* the columns' state of sync_cctx's chunks */
static ps_cols_zstate_t sync_zs; /* sync_cctx's room for ps_cols_compress */
/* The stack sync_cctx's chunks are built on (sync_write_locked), under file_lock: an app
 * thread's hand-off needs on its own stack only the frames down to the switch. zstd's frames
 * under a hook's overflowed a 16 KiB thread stack 16 frames deep (stack_budget) and would a
 * small coroutine stack; the build takes ~2.3 KiB, the rest is margin (a signal handler
 * that runs meanwhile runs here too). A guard page below it. */
#define SYNC_STACK (64u << 10)
static unsigned char *sync_stack; /* its lowest byte above the guard page; NULL: none */
static size_t dst_cap;
static size_t pack_cap; /* the packing room after dst_cap: ps_cols_bound(buf_cap) */
static uint64_t events_written, events_dropped, chunks_written, chunks_inline;
static int io_failed;

static pthread_t writer_thread;
static int writer_running, writer_stop;
static int writer_wanted; /* a second thread exists: start the thread at the next tick */
static int writer_ended;  /* writer_end ran: no thread starts any more (until a resume) */

/* Without a writer thread: when the next app event must do the periodic work (writer_tick);
 * UINT64_MAX while the thread does it. */
uint64_t writer_tick_due = UINT64_MAX;
static ilock_t tick_lock;
static uint64_t tick_next_flush, tick_next_rss;

/* writer.h: what the wiring module gives the writer; none until writer_set_hooks. */
static void no_enter(void)
{
}
static int no_snapshot_due(void)
{
    return 0;
}
static void no_snapshot(writer_append_fn put)
{
    (void)put;
}
static writer_hooks_t hooks = {no_enter, no_snapshot_due, no_snapshot};

void writer_set_hooks(const writer_hooks_t *h)
{
    hooks.thread_enter = h->thread_enter ? h->thread_enter : no_enter;
    hooks.snapshot_due = h->snapshot_due ? h->snapshot_due : no_snapshot_due;
    hooks.snapshot = h->snapshot ? h->snapshot : no_snapshot;
}

/* The shim's own stream (RSS samples, snapshots, lock totals, END), under internal_lock. Its
 * chunks have tid 0, which no thread has: one stream for the process's whole life, whichever
 * thread writes it. */
#define PS_INTERNAL_TID 0
static ilock_t internal_lock;
static unsigned char internal_buf[64 << 10];
static uint32_t internal_pos, internal_seq;

static void *zalloc(void *opaque, size_t size)
{
    (void)opaque;
    return imem_alloc(size);
}

static void zfree(void *opaque, void *p)
{
    (void)opaque;
    imem_free(p);
}

static ZSTD_CCtx *cctx_new(void)
{
    ZSTD_customMem mem = {zalloc, zfree, NULL};
    ZSTD_CCtx *c = ZSTD_createCCtx_advanced(mem);
    if (c) {
        ps_cols_zstd_params(c, options.zstd_level,
                            options.zstd_level == 1 ? PS_COLS_ZSTD_MIN_MATCH : 0);
    }
    return c;
}

/* A context allocates its workspace on first use: compressing a whole (zeroed) buffer at once,
 * while there is memory, makes a later failure (an address-space limit reached by the app)
 * a failure to create the context, said and handled where it is created, not a chunk lost.
 * dst has dst_cap + pack_cap bytes; the buf_cap after dst_cap are the source. Returns 0 or
 * -PS_E_NOMEM (the context is then freed). */
static int cctx_warm(ZSTD_CCtx **c, unsigned char *dst)
{
    if (!*c || !dst)
        return -PS_E_NOMEM;
    memset(dst + dst_cap, 0, buf_cap);
    size_t n = ZSTD_compress2(*c, dst, dst_cap, dst + dst_cap, buf_cap);
    if (!ZSTD_isError(n)) { /* and the literals-only frames' path (ps_cols_compress) */
        const size_t lit = buf_cap < ZSTD_BLOCKSIZE_MAX ? buf_cap : ZSTD_BLOCKSIZE_MAX;
        ZSTD_Sequence seq[1];
        n = ps_cols_frame_lit(*c, dst, dst_cap, dst + dst_cap, lit, &lit, 1, seq);
    }
    if (!ZSTD_isError(n))
        return 0;
    ZSTD_freeCCtx(*c);
    *c = NULL;
    return -PS_E_NOMEM;
}

uint32_t writer_buf_cap(void)
{
    return buf_cap;
}

static int write_no_sigxfsz(int f, const void *p, size_t n);

/* The trace's absolute path, for reopening it after a chdir: from /proc/self/fd, or the
 * working directory and the relative path. Empty: it cannot be reopened. */
static void trace_path_set(const char *path)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, trace_path, sizeof trace_path - 1);
    if (n > 0 && trace_path[0] == '/') {
        trace_path[n] = 0;
        return;
    }
    trace_path[0] = 0;
    size_t l = 0, pl = strlen(path);
    if (path[0] != '/') {
        if (!getcwd(trace_path, sizeof trace_path))
            return;
        l = strlen(trace_path);
        trace_path[l++] = '/';
    }
    if (l + pl + 1 > sizeof trace_path) {
        trace_path[0] = 0;
        return;
    }
    memcpy(trace_path + l, path, pl + 1);
}

/* Whether descriptor f still holds the trace file. AS-safe. */
static int fd_is_trace(int f)
{
    struct stat sb;
    return f >= 0 && fstat(f, &sb) == 0 && sb.st_dev == trace_dev && sb.st_ino == trace_ino;
}

/* file_lock held (or the crash path's try-lock). Returns 0 when fd is the trace, ready for a
 * write; otherwise the app closed or replaced it: the number is left to the app, the trace
 * is reopened by path if that is still the same file, else recording to it stops here. */
static int trace_fd_check_locked(void)
{
    if (fd < 0)
        return -1;
    if (fd_is_trace(fd))
        return 0;
    int lost = fd, e = errno;
    fd = -1;
    int n = trace_path[0] ? open(trace_path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW) : -1;
    if (n >= 0 && fd_is_trace(n)) {
        fd = prim_fd_move_high(n);
        PS_LOG(2, "descriptor %d of the trace was closed or replaced by the program; reopened %s",
               lost, trace_path);
        errno = e;
        return 0;
    }
    if (n >= 0)
        close(n);
    io_failed = 1;
    PS_WARN("descriptor %d of the trace was closed or replaced by the program and %s cannot be "
            "reopened; recording stops, events are counted as dropped",
            lost, trace_path[0] ? trace_path : "the trace");
    errno = e;
    return -1;
}

int writer_init(const writer_header_t *h)
{
    buf_cap = (uint32_t)options.buffer_kb << 10;
    if (buf_cap < (16u << 10))
        buf_cap = 16u << 10;
    uint64_t qbytes = (uint64_t)options.queue_mb << 20;
    q_max = (uint32_t)(qbytes / buf_cap);
    if (q_max < 2)
        q_max = 2;
    free_max = q_max;
    dst_cap = ZSTD_compressBound(buf_cap) + sizeof(ps_chunk_header_t);
    pack_cap = ps_cols_bound(buf_cap);
    /* a fork child re-initializes with the same options: it keeps what the parent mapped */
    if (!queue)
        queue = imem_alloc(sizeof(qitem_t) * q_max);
    if (!freelist)
        freelist = imem_alloc(sizeof(unsigned char *) * free_max);
    if (!sync_dst)
        sync_dst = imem_alloc(dst_cap + pack_cap); /* + packing room */
    if (!sync_enc)
        sync_enc = imem_alloc(sizeof *sync_enc);
    if (!sync_cctx && (sync_cctx = cctx_new()) != NULL)
        cctx_warm(&sync_cctx, sync_dst);
    if (!sync_stack) { /* without it (no memory) chunks are built on the caller's stack */
        const size_t pg = prim_page_size();
        unsigned char *m = prim_map(SYNC_STACK + pg, 1);
        if (m && mprotect(m, pg, PROT_NONE) == 0)
            sync_stack = m + pg;
        else if (m)
            prim_unmap(m, SYNC_STACK + pg);
    }
    if (!queue || !freelist || !sync_dst || !sync_enc || !sync_cctx)
        return -PS_E_NOMEM;

    /* Never overwrite, never follow a symlink. An exec'd image keeps its pid, so a name can
     * be taken by the image before it: then PATH.1, PATH.2, ... */
    char path[PS_OUTPUT_MAX + 8];
    snprintf(path, sizeof path, "%s", h->path);
    for (int i = 1; i <= 99; i++) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            break;
        snprintf(path, sizeof path, "%s.%d", h->path, i);
    }
    if (fd < 0) {
        PS_WARN("cannot create trace file %s: %s; not recording", path, strerror(errno));
        return -PS_E_OPEN;
    }
    fd = prim_fd_move_high(fd);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        PS_WARN("cannot stat trace file %s: %s; not recording", path, strerror(errno));
        close(fd);
        fd = -1;
        return -PS_E_IO;
    }
    trace_dev = sb.st_dev;
    trace_ino = sb.st_ino;
    trace_path_set(path);
    trace_open = 1;
    announce_trace(path); /* `perfshim record` learns the name it got */
    uint32_t exe_len = (uint32_t)strnlen(h->exe, PERFSHIM_MAX_PATH);
    uint32_t cmd_len = h->cmdline_len < PERFSHIM_MAX_CMDLINE ? h->cmdline_len : 0;
    /* sampled mode: its parameters after the command line, and version 2 (trace_format.h) */
    ps_file_sampling_t fs = {.mean_bytes = h->sample_bytes, .seed = h->sample_seed};
    uint32_t fs_len = h->sample_bytes ? (uint32_t)sizeof fs : 0;
    ps_file_header_t fh = {
        .magic = {'P', 'S', 'T', 'R'},
        .version = PERFSHIM_TRACE_VERSION, /* 3: columnar chunks (sampled or not) */
        .header_len =
            (uint32_t)sizeof fh + exe_len + cmd_len + fs_len + (uint32_t)sizeof(uint32_t),
        .flags = h->flags | PS_FILE_F_HEADER_SUM | (fs_len ? PS_FILE_F_SAMPLED : 0),
        .pid = (uint32_t)getpid(),
        .ppid = (uint32_t)getppid(),
        .start_realtime_ns = h->start_realtime_ns,
        .start_mono_ns = h->start_mono_ns,
        .clock_id = 1, /* CLOCK_MONOTONIC */
        .page_size = (uint32_t)prim_page_size(),
        .exe_len = exe_len,
        .cmdline_len = cmd_len,
    };
    uint32_t sum = ps_fnv1a32_more(ps_fnv1a32(&fh, sizeof fh), h->exe, exe_len);
    sum = ps_fnv1a32_more(sum, h->cmdline, cmd_len);
    sum = ps_fnv1a32_more(sum, &fs, fs_len);
    if (write_no_sigxfsz(fd, &fh, sizeof fh) || write_no_sigxfsz(fd, h->exe, exe_len) ||
        write_no_sigxfsz(fd, h->cmdline, cmd_len) || write_no_sigxfsz(fd, &fs, fs_len) ||
        write_no_sigxfsz(fd, &sum, sizeof sum)) {
        PS_WARN("cannot write trace file %s: %s; not recording", h->path, strerror(errno));
        close(fd);
        fd = -1;
        trace_open = 0;
        return -PS_E_IO;
    }
    return 0;
}

/* ---- buffers ------------------------------------------------------------------------------ */

unsigned char *writer_buf_new(void)
{
    unsigned char *b = NULL;
    ilock_lock(&q_lock);
    if (free_count)
        b = freelist[--free_count];
    ilock_unlock(&q_lock);
    return b ? b : imem_map(buf_cap, 0);
}

unsigned char *writer_buf_get(void)
{
    ilock_lock(&q_lock);
    int full = q_count >= q_max;
    ilock_unlock(&q_lock);
    return full ? NULL : writer_buf_new();
}

void writer_buf_put(unsigned char *buf)
{
    if (!buf)
        return;
    ilock_lock(&q_lock);
    if (free_count < free_max) {
        freelist[free_count++] = buf;
        buf = NULL;
    }
    ilock_unlock(&q_lock);
    if (buf)
        imem_unmap(buf, buf_cap);
}

/* ---- chunks ------------------------------------------------------------------------------- */

/* Heap records' timestamps are kept in units of 2^PS_WRITER_TIME_Q ns (64 ns), in columnar
 * chunks and packed ones alike (so every stream has one resolution: rounding down keeps the
 * order of one address' owners across threads, ties going to the release): about the shim's
 * own cost per event, 15000 times finer than the pressure analysis' default "dies within
 * 1 ms"; the log2 lifetime buckets below 64 ns merge into one. Each bit finer costs ~0.05
 * bytes per event on churn (docs/performance.md, issue 18). */
#define PS_WRITER_TIME_Q 6u
_Static_assert(PS_WRITER_TIME_Q == STAMP_Q, "the live set's guard orders stamps by this unit");

/* One pass over the records src[0, len): counts heap and lock events and finds their time
 * range (into ch); with `out` (room for len bytes) it also rewrites ALLOC, FREE and REALLOC
 * in their packed forms (trace_format.h), each only when that is shorter, so the output is
 * never longer. Returns the length of what is to be compressed: out's, or len without out.
 * Pure computation (async-signal-safe): the crash flush comes through here too. */
static uint32_t chunk_scan_pack(const unsigned char *src, uint32_t len, unsigned char *out,
                                ps_chunk_header_t *ch)
{
    ps_pack_state_t pk = {0, 0};
    uint32_t pos = 0, o = 0;
    int heap_only = out != NULL; /* every record written as ALLOC_P or FREE_P so far */
    while (pos + sizeof(ps_rec_hdr_t) <= len) {
        ps_rec_hdr_t h;
        memcpy(&h, src + pos, sizeof h);
        if (h.len < sizeof h || pos + h.len > len)
            break;
        if (ps_rec_is_event(h.type))
            ch->nevents++;
        const unsigned ts_off = ps_rec_ts_offset(h.type);
        if (ts_off && h.len >= ts_off + 8) {
            uint64_t ts;
            memcpy(&ts, src + pos + ts_off, sizeof ts);
            if (!ch->t_first)
                ch->t_first = ts;
            ch->t_last = ts;
        }
        if (!out) {
            pos += h.len;
            continue;
        }
        unsigned char tmp[PS_PACK_MAX];
        uint32_t plen = 0;
        uint64_t nts = 0, nptr = 0;
        if (h.type == PS_REC_ALLOC && h.len == sizeof(ps_rec_alloc_t)) {
            ps_rec_alloc_t a;
            memcpy(&a, src + pos, sizeof a);
            a.ts = a.ts >> PS_WRITER_TIME_Q << PS_WRITER_TIME_Q; /* as in columnar chunks */
            plen = ps_pack_alloc_p(&pk, &a, tmp);
            nts = a.ts, nptr = a.ptr;
        } else if (h.type == PS_REC_FREE && h.len == sizeof(ps_rec_free_t)) {
            ps_rec_free_t f;
            memcpy(&f, src + pos, sizeof f);
            f.ts = f.ts >> PS_WRITER_TIME_Q << PS_WRITER_TIME_Q;
            plen = ps_pack_free_p(&pk, &f, tmp);
            nts = f.ts, nptr = f.ptr;
        } else if (h.type == PS_REC_REALLOC && h.len == sizeof(ps_rec_realloc_t)) {
            ps_rec_realloc_t r;
            memcpy(&r, src + pos, sizeof r);
            r.ts_before = r.ts_before >> PS_WRITER_TIME_Q << PS_WRITER_TIME_Q;
            r.ts = r.ts >> PS_WRITER_TIME_Q << PS_WRITER_TIME_Q;
            plen = ps_pack_realloc_p(&pk, &r, tmp);
            nts = r.ts, nptr = r.new_ptr;
        }
        if (plen && plen < h.len) {
            memcpy(out + o, tmp, plen);
            o += plen;
            ps_pack_state_set(&pk, nts, nptr);
            heap_only = heap_only && h.type != PS_REC_REALLOC;
        } else {
            memcpy(out + o, src + pos, h.len);
            o += h.len;
            if (h.type != PS_REC_ALLOC_P && h.type != PS_REC_FREE_P)
                heap_only = 0;
        }
        pos += h.len;
    }
    if (!out)
        return len;
    if (heap_only && pos == len && pos) /* no torn tail: the chunk is whole records */
        ch->flags |= PS_CHUNK_F_HEAP_ONLY;
    memcpy(out + o, src + pos, len - pos); /* a torn tail, as it was */
    return o + (len - pos);
}

/* The columnar encoder (trace_cols.h) as this CPU runs it fastest: a FREE's rank counts the
 * bits of a word or two (ps_cols_popcount), ~20 instructions each on the baseline x86-64,
 * one with the popcnt instruction (which gcc makes of ps_cols_popcount where the target has
 * it); chosen once by cpuid (enc_popcnt: 1 yes, -1 no, 0 not asked yet). Both without the
 * frame pointer the shim is built with (for the app's stacks, not the writer's): one more
 * register for the encoder's loop, which spills its column positions (issue 18: -2.4% of its
 * instructions, callgrind). */
static int enc_popcnt;

static __attribute__((flatten, optimize("omit-frame-pointer"))) size_t cols_encode_base(ps_cols_enc_t *e, const unsigned char *src,
                                                        size_t len, unsigned char *out, size_t cap,
                                                        unsigned q, ps_cols_info_t *info)
{
    return ps_cols_encode(e, src, len, out, cap, q, info);
}

#if defined(__x86_64__) || defined(__i386__)
static __attribute__((flatten, target("popcnt"), optimize("omit-frame-pointer"))) size_t
cols_encode_popcnt(ps_cols_enc_t *e, const unsigned char *src, size_t len, unsigned char *out,
                   size_t cap, unsigned q, ps_cols_info_t *info)
{
    return ps_cols_encode(e, src, len, out, cap, q, info);
}
#endif

static size_t cols_encode(ps_cols_enc_t *e, const unsigned char *src, size_t len,
                          unsigned char *out, size_t cap, unsigned q, ps_cols_info_t *info)
{
#if defined(__x86_64__) || defined(__i386__)
    int pc = __atomic_load_n(&enc_popcnt, __ATOMIC_RELAXED);
    if (!pc) {
        unsigned a, b, c, d;
        pc = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_POPCNT) ? 1 : -1;
        __atomic_store_n(&enc_popcnt, pc, __ATOMIC_RELAXED);
    }
    if (pc > 0)
        return cols_encode_popcnt(e, src, len, out, cap, q, info);
#endif
    return cols_encode_base(e, src, len, out, cap, q, info);
}

/* Which columns go literals only (trace_zstd.h: ps_cols_zstate_t's first fields, learnt on its
 * probes) is one choice for the writer thread's context and the producers' shared one alike,
 * taken in the order the bodies are compressed: scripts/trace-bytes, which re-compresses a
 * trace's bodies in file order with one state, then comes to the file's size exactly (but for
 * bodies compressed at the same time by the writer and a producer under backpressure). Each
 * context works on a copy, taken before and given back after; a try-lock, so that the crash
 * path never waits (a copy not taken or not given back: the choice is only a heuristic). */
static ilock_t zs_lock;
static ps_cols_zstate_t zs_shared;
#define ZS_CHOICE offsetof(ps_cols_zstate_t, ends)

static void zs_take(ps_cols_zstate_t *zs)
{
    if (!ilock_trylock(&zs_lock))
        return;
    memcpy(zs, &zs_shared, ZS_CHOICE);
    ilock_unlock(&zs_lock);
}

static void zs_give(const ps_cols_zstate_t *zs)
{
    if (!ilock_trylock(&zs_lock))
        return;
    memcpy(&zs_shared, zs, ZS_CHOICE);
    ilock_unlock(&zs_lock);
}

/* Compresses into dst (header + frame): the records as columns (trace_cols.h) with the
 * state enc, or, when they cannot be (a torn tail, the shim's own 64 KiB stream with smaller
 * buffers), in their packed form (chunk_scan_pack). Returns the chunk's total size, 0 on failure. */
static size_t chunk_build(ZSTD_CCtx *c, ps_cols_enc_t *enc, ps_cols_zstate_t *zs,
                          unsigned char *dst, const unsigned char *src, uint32_t len, pid_t tid,
                          uint32_t seq, uint16_t flags, uint32_t *nevents)
{
    ps_chunk_header_t ch = {.magic = PERFSHIM_CHUNK_MAGIC,
                            .header_len = sizeof ch,
                            .flags = flags,
                            .usize = len,
                            .tid = (uint32_t)tid,
                            .seq = seq};
    /* dst has pack_cap bytes of packing room after dst_cap */
    unsigned char *room = dst + dst_cap;
    ps_cols_info_t info;
    size_t clen = len && ps_cols_bound(len) <= pack_cap
                      ? cols_encode(enc, src, len, room, pack_cap, PS_WRITER_TIME_Q, &info)
                      : 0;
    /* (a chunk of a few records can be longer as columns: taken all the same, so that every
     * heap timestamp has the same resolution whichever thread or path built its chunk) */
    if (clen && (clen <= len || ZSTD_compressBound(clen) <= dst_cap - sizeof ch)) {
        ch.flags |= PS_CHUNK_F_COLUMNS;
        if (info.heap_only)
            ch.flags |= PS_CHUNK_F_HEAP_ONLY;
        ch.nevents = info.nevents;
        ch.t_first = info.t_first;
        ch.t_last = info.t_last;
        src = room;
        len = (uint32_t)clen;
    } else {
        unsigned char *packed = len <= buf_cap ? room : NULL;
        len = chunk_scan_pack(src, len, packed, &ch);
        if (packed)
            src = packed;
    }
    *nevents = ch.nevents;
    ch.usize = len;
    size_t n;
    if (ch.flags & PS_CHUNK_F_COLUMNS) {
        zs_take(zs);
        n = ps_cols_compress(c, zs, dst + sizeof ch, dst_cap - sizeof ch, src, len, NULL);
        zs_give(zs);
    } else {
        n = ZSTD_compress2(c, dst + sizeof ch, dst_cap - sizeof ch, src, len);
    }
    if (ZSTD_isError(n)) {
        PS_WARN_ONCE("zstd: %s; events dropped", ZSTD_getErrorName(n));
        return 0;
    }
    ch.csize = (uint32_t)n;
    ch.checksum = ps_fnv1a32(&ch, offsetof(ps_chunk_header_t, checksum));
    memcpy(dst, &ch, sizeof ch);
    return sizeof ch + n;
}

/* A write past RLIMIT_FSIZE raises SIGXFSZ, whose default action kills the process: the
 * shim's own writes must never do that to the host. The signal is blocked around the write
 * and, when the write failed with EFBIG, the one it raised is consumed. */
static int write_no_sigxfsz(int f, const void *p, size_t n)
{
    sigset_t xf, old;
    sigemptyset(&xf);
    sigaddset(&xf, SIGXFSZ);
    pthread_sigmask(SIG_BLOCK, &xf, &old);
    int rc = prim_write_all(f, p, n);
    int e = errno;
    if (rc != 0 && e == EFBIG && !sigismember(&old, SIGXFSZ)) {
        const struct timespec zero = {0, 0};
        sigtimedwait(&xf, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return rc;
}

/* file_lock held. */
static void chunk_write_locked(const unsigned char *chunk, size_t size, uint32_t nevents)
{
    if (size && trace_fd_check_locked() == 0 && write_no_sigxfsz(fd, chunk, size) == 0) {
        events_written += nevents;
        chunks_written++;
        return;
    }
    if (size && fd >= 0 && !io_failed) /* (size 0: compression failed, said by chunk_build) */
        PS_WARN("cannot write the trace (%s); counting events as dropped", strerror(errno));
    io_failed = 1; /* the total is said at the end */
    events_dropped += nevents;
}

typedef struct sync_job_s {
    const unsigned char *src;
    uint32_t len, seq;
    pid_t tid;
    uint16_t flags;
} sync_job_t;

static uint64_t sync_job_run(void *arg)
{
    const sync_job_t *j = arg;
    uint32_t nev = 0;
    size_t n = chunk_build(sync_cctx, sync_enc, &sync_zs, sync_dst, j->src, j->len, j->tid,
                           j->seq, j->flags, &nev);
    chunk_write_locked(sync_dst, n, nev);
    return 0;
}

/* file_lock held: builds a chunk with the producers' shared context and writes it, on
 * sync_stack (its user is file_lock's holder). */
static void sync_write_locked(const unsigned char *src, uint32_t len, pid_t tid, uint32_t seq,
                              uint16_t flags)
{
    sync_job_t j = {src, len, seq, tid, flags};
    if (sync_stack)
        (void)prim_call_on_stack(sync_stack + SYNC_STACK, sync_job_run, &j);
    else
        (void)sync_job_run(&j);
}

void writer_write_now(const unsigned char *data, uint32_t len, pid_t tid, uint32_t seq,
                      uint16_t flags)
{
    int e = errno; /* an app thread's: its errno stays as its call left it */
    ilock_lock(&file_lock);
    chunks_inline++;
    sync_write_locked(data, len, tid, seq, flags);
    ilock_unlock(&file_lock);
    errno = e;
}

void writer_count_dropped(uint64_t events)
{
    ilock_lock(&file_lock);
    events_dropped += events;
    ilock_unlock(&file_lock);
}

void writer_enqueue(unsigned char *buf, uint32_t off, uint32_t len, pid_t tid, uint32_t seq,
                    uint16_t flags)
{
    ilock_lock(&q_lock);
    int ok = writer_running && q_count < q_max;
    if (ok) {
        queue[(q_head + q_count) % q_max] = (qitem_t){buf, off, len, seq, tid, flags};
        q_count++;
    }
    ilock_unlock(&q_lock);
    if (!ok) { /* no writer thread (yet, or any more): write it here */
        writer_write_now(buf + off, len, tid, seq, flags);
        writer_buf_put(buf);
        return;
    }
    __atomic_fetch_add(&q_signal, 1, __ATOMIC_RELEASE);
    prim_futex_wake(&q_signal, 1);
}

/* ---- the writer thread -------------------------------------------------------------------- */

typedef struct wctx_s {
    ZSTD_CCtx *cctx;
    unsigned char *dst;
    unsigned char *scratch; /* stolen records */
    ps_cols_enc_t *enc;     /* the columns' state */
    ps_cols_zstate_t zs;    /* cctx's room for ps_cols_compress */
} wctx_t;

static void wctx_write(wctx_t *w, const unsigned char *src, uint32_t len, pid_t tid,
                       uint32_t seq, uint16_t flags)
{
    uint32_t nev = 0;
    size_t n = chunk_build(w->cctx, w->enc, &w->zs, w->dst, src, len, tid, seq, flags, &nev);
    ilock_lock(&file_lock);
    chunk_write_locked(w->dst, n, nev);
    ilock_unlock(&file_lock);
}

static int drain_queue(wctx_t *w)
{
    int did = 0;
    for (;;) {
        ilock_lock(&q_lock);
        if (!q_count) {
            ilock_unlock(&q_lock);
            return did;
        }
        qitem_t it = queue[q_head];
        q_head = (q_head + 1) % q_max;
        q_count--;
        ilock_unlock(&q_lock);
        wctx_write(w, it.buf + it.off, it.len, it.tid, it.seq, it.flags);
        writer_buf_put(it.buf);
        did = 1;
    }
}

static wctx_t wctx;
static unsigned char *final_recs;
static uint32_t final_len;

/* internal_lock held. Writes the shim's own stream as a chunk: with the writer's context w
 * (the writer thread, or writer_end once it stopped), or with the producers' shared one. */
static void internal_flush(wctx_t *w)
{
    if (!internal_pos)
        return;
    if (w)
        wctx_write(w, internal_buf, internal_pos, PS_INTERNAL_TID, internal_seq++,
                   PS_CHUNK_F_INTERNAL);
    else
        writer_write_now(internal_buf, internal_pos, PS_INTERNAL_TID, internal_seq++,
                         PS_CHUNK_F_INTERNAL);
    internal_pos = 0;
}

/* internal_lock held. Appends rec, calling `flush` first when the buffer is full (a record
 * longer than the whole buffer is dropped). */
static void internal_put(const void *rec, uint32_t len, void (*flush)(void))
{
    if (internal_pos + len > sizeof internal_buf)
        flush();
    if (internal_pos + len > sizeof internal_buf)
        return;
    memcpy(internal_buf + internal_pos, rec, len);
    internal_pos += len;
}

static void internal_flush_wctx(void)
{
    internal_flush(&wctx);
}

static void internal_flush_sync(void)
{
    internal_flush(NULL);
}

/* The writer thread, or writer_end after it stopped: wctx is theirs. */
static void internal_append(const void *rec, uint32_t len)
{
    ilock_lock(&internal_lock);
    internal_put(rec, len, internal_flush_wctx);
    ilock_unlock(&internal_lock);
}

/* Any other thread (the tick): the shared context. */
static void internal_append_sync(const void *rec, uint32_t len)
{
    ilock_lock(&internal_lock);
    internal_put(rec, len, internal_flush_sync);
    ilock_unlock(&internal_lock);
}

void writer_rss_record(ps_rec_rss_t *r, int fresh)
{
    *r = (ps_rec_rss_t){.h = {PS_REC_RSS, 0, sizeof *r},
                        .ts = prim_now_ns(),
                        .rss_bytes = prim_rss_bytes()};
    /* the recorder's part of rss_bytes */
    r->shim_bytes = fresh ? imem_resident_bytes_now(r->ts) : imem_resident_bytes(r->ts);
}

static void sample_rss(void (*append)(const void *rec, uint32_t len), int fresh)
{
    ps_rec_rss_t r;
    writer_rss_record(&r, fresh);
    append(&r, sizeof r);
}

/* Flushes records that sat in a thread's buffer for a whole flush period, and frees the
 * state of threads that are gone. `all`: take everything now (exit). */
static void flush_threads(wctx_t *w, int all)
{
    tstate_t *next;
    for (tstate_t *st = tstate_first(); st; st = next) {
        next = st->next;
        uint32_t seq = __atomic_load_n(&st->seq, __ATOMIC_RELAXED);
        int idle = seq == st->w_seen_seq;
        st->w_seen_seq = seq;
        int gone = __atomic_load_n(&st->exited, __ATOMIC_ACQUIRE) && !prim_thread_alive(st->tid);
        if (all || idle || gone) {
            uint32_t n = tstate_steal(st, w->scratch, &seq);
            if (n)
                wctx_write(w, w->scratch, n, st->tid, seq, st->chunk_flags);
            st->w_seen_seq = __atomic_load_n(&st->seq, __ATOMIC_RELAXED);
        }
        if (gone && !all)
            tstate_reap(st);
    }
}

/* No writer thread (exit or exec of a process that never had one): every thread's untaken
 * records, written in place with the shared context; no scratch, no context of its own. */
static void flush_threads_sync(void)
{
    for (tstate_t *st = tstate_first(); st; st = st->next) {
        ilock_lock(&st->lock);
        uint32_t c = __atomic_load_n(&st->committed, __ATOMIC_ACQUIRE);
        if (c > st->flushed) {
            writer_write_now(st->buf + st->flushed, c - st->flushed, st->tid, st->seq++,
                             st->chunk_flags);
            st->flushed = c;
        }
        ilock_unlock(&st->lock);
    }
}

static void *writer_main(void *arg)
{
    (void)arg;
    hooks.thread_enter(); /* nothing this thread does is recorded */
    uint64_t flush_ns = (uint64_t)options.flush_ms * 1000000u;
    uint64_t rss_ns = (uint64_t)options.rss_ms * 1000000u;
    uint64_t tick = rss_ns && rss_ns < flush_ns ? rss_ns : flush_ns;
    /* heap events' staleness word (stamp.h): advanced every STAMP_TICK_NS while threads make
     * heap events (a thread read the clock for it within the last `tick`), at `tick` when
     * none did (each wake-up costs) */
    uint64_t stamp_ns = stamp_every > 1 ? STAMP_TICK_NS : 0, stamp_fast = 0;
    uint64_t now = prim_now_ns(), next_flush = now + flush_ns, next_rss = now;
    uint64_t next_stamp = now + stamp_ns;
    while (!__atomic_load_n(&writer_stop, __ATOMIC_ACQUIRE)) {
        int sig = __atomic_load_n(&q_signal, __ATOMIC_ACQUIRE);
        if (!drain_queue(&wctx)) {
            now = prim_now_ns();
            uint64_t due = next_flush < next_rss || !rss_ns ? next_flush : next_rss;
            if (stamp_ns && next_stamp < due)
                due = next_stamp;
            if (due > now)
                prim_futex_wait(&q_signal, sig, due - now < tick ? due - now : tick);
        }
        now = prim_now_ns();
        if (stamp_ns && now >= next_stamp) {
            if (stamp_tick_advance())
                stamp_fast = now + tick;
            next_stamp = now + (now < stamp_fast ? stamp_ns : tick);
        }
        if (rss_ns && now >= next_rss) {
            sample_rss(internal_append, 0);
            next_rss = now + rss_ns;
        }
        if (hooks.snapshot_due())
            hooks.snapshot(internal_append);
        if (now >= next_flush) {
            flush_threads(&wctx, 0);
            ilock_lock(&internal_lock);
            internal_flush(&wctx);
            ilock_unlock(&internal_lock);
            next_flush = now + flush_ns;
        }
    }
    drain_queue(&wctx);
    return NULL;
}

static int wctx_ready(void)
{
    if (!wctx.dst)
        wctx.dst = imem_alloc(dst_cap + pack_cap);
    if (!wctx.enc)
        wctx.enc = imem_alloc(sizeof *wctx.enc);
    if (!wctx.cctx && wctx.dst && (wctx.cctx = cctx_new()) != NULL)
        cctx_warm(&wctx.cctx, wctx.dst);
    if (!wctx.scratch)
        wctx.scratch = imem_alloc(buf_cap);
    return wctx.cctx && wctx.dst && wctx.scratch && wctx.enc ? 0 : -PS_E_NOMEM;
}

/* The writer's stack: compression, flushing and snapshots need a few KiB; the default
 * (RLIMIT_STACK, often 8 MiB) would be address space taken from the app. */
#define PS_WRITER_STACK (256u << 10)

/* Starts the writer thread with every signal blocked (it inherits the mask): an asynchronous
 * signal is never delivered to it, so one the app blocks and waits for stays pending for the
 * app. (glibc keeps its own internal signals unblocked.) */
int writer_start(void)
{
    if (wctx_ready() != 0)
        return -PS_E_NOMEM;
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_t attr;
    int have_attr = pthread_attr_init(&attr) == 0 &&
                    pthread_attr_setstacksize(&attr, PS_WRITER_STACK) == 0;
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&writer_thread, have_attr ? &attr : NULL, writer_main, NULL);
    if (rc == EINVAL && have_attr) /* the app's static TLS does not fit: the default size */
        rc = pthread_create(&writer_thread, NULL, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (have_attr)
        pthread_attr_destroy(&attr);
    if (rc != 0)
        return -PS_E_NOMEM;
    stamp_tick_start(); /* the threads' staleness word: the thread's tick from now on */
    ilock_lock(&q_lock);
    writer_running = 1;
    ilock_unlock(&q_lock);
    __atomic_store_n(&writer_tick_due, UINT64_MAX, __ATOMIC_RELEASE);
    return 0;
}

void writer_arm_lazy(void)
{
    uint64_t now = prim_now_ns();
    tick_next_flush = now + (uint64_t)options.flush_ms * 1000000u;
    tick_next_rss = options.rss_ms ? now : UINT64_MAX;
    __atomic_store_n(&writer_tick_due, now, __ATOMIC_RELEASE);
}

void writer_want_thread(void)
{
    if (__atomic_load_n(&writer_wanted, __ATOMIC_ACQUIRE))
        return;
    __atomic_store_n(&writer_wanted, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&writer_tick_due, 0, __ATOMIC_RELEASE);
}

/* from_lock: called from a lock hook (writer_tick_lock), which must also be outside the
 * allocator's own module to start the thread. */
static void tick(tstate_t *st, uint64_t now, uintptr_t ra, int from_lock)
{
    if (!ilock_trylock(&tick_lock)) /* another thread is doing it */
        return;
    int e = errno;
    if (now < __atomic_load_n(&writer_tick_due, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&writer_ended, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&writer_running, __ATOMIC_ACQUIRE)) {
        ilock_unlock(&tick_lock);
        return;
    }
    if (__atomic_load_n(&writer_wanted, __ATOMIC_ACQUIRE) && !unwind_is_libc(ra) &&
        (!from_lock || unwind_first_ok(ra)) && unwind_safe(st)) {
        /* From a hook the program called: outside the allocator, where pthread_create (which
         * allocates) is safe, and outside glibc, which frees a joined thread's TLS under its
         * stack-cache lock (pthread_join) and allocates DTVs under the loader's TLS lock:
         * pthread_create takes both. An allocation hook is outside the allocator by
         * definition (it is around the real call). A lock hook may run inside an allocator
         * (jemalloc's mutexes, an executable's own malloc): when it does through the shim's
         * malloc hooks, the guard is set and the lock hook records nothing, so it never gets
         * here; writer_tick_lock is called after the release of the thread's last held lock
         * (none held, so no pthread lock of an allocator either), and the lock's call site
         * `ra` must also lie outside the allocator's module (unwind_first_ok). Called from
         * elsewhere, or on a stack without the unwind budget left (pthread_create's frames on
         * a 16 KiB thread stack), the start waits for a later event. */
        if (writer_start() == 0) {
            ilock_unlock(&tick_lock);
            errno = e;
            return;
        }
        /* nothing is lost: the threads go on writing their own chunks */
        PS_LOG(2, "cannot start the writer thread (no memory); threads write their own chunks");
        __atomic_store_n(&writer_wanted, 0, __ATOMIC_RELEASE);
    }
    if (now >= tick_next_rss) {
        sample_rss(internal_append_sync, 0);
        tick_next_rss = now + (uint64_t)options.rss_ms * 1000000u;
    }
    if (hooks.snapshot_due())
        hooks.snapshot(internal_append_sync);
    if (now >= tick_next_flush) {
        /* this thread's records that waited a whole period (no hand-off since the last one) */
        uint32_t seq = __atomic_load_n(&st->seq, __ATOMIC_RELAXED);
        if (seq == st->w_seen_seq && __atomic_load_n(&st->committed, __ATOMIC_ACQUIRE) > st->flushed)
            tstate_refill(st, 0);
        st->w_seen_seq = __atomic_load_n(&st->seq, __ATOMIC_RELAXED);
        ilock_lock(&internal_lock);
        internal_flush(NULL);
        ilock_unlock(&internal_lock);
        tick_next_flush = now + (uint64_t)options.flush_ms * 1000000u;
    }
    uint64_t due = tick_next_flush < tick_next_rss ? tick_next_flush : tick_next_rss;
    if (hooks.snapshot_due())
        due = now;
    if (!__atomic_load_n(&writer_wanted, __ATOMIC_ACQUIRE))
        __atomic_store_n(&writer_tick_due, due, __ATOMIC_RELEASE);
    ilock_unlock(&tick_lock);
    errno = e;
}

void writer_tick(tstate_t *st, uint64_t now, uintptr_t ra)
{
    tick(st, now, ra, 0);
}

void writer_tick_lock(tstate_t *st, uint64_t now, uintptr_t ra)
{
    tick(st, now, ra, 1);
}

static void writer_end(int close_file);

void writer_finish(void)
{
    writer_end(1);
}

void writer_checkpoint(void)
{
    writer_end(0);
}

void writer_resume(void)
{
    if (!trace_open)
        return;
    __atomic_store_n(&writer_stop, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&writer_ended, 0, __ATOMIC_RELEASE);
    if (__atomic_load_n(&writer_wanted, __ATOMIC_ACQUIRE)) { /* it ran before: again */
        if (writer_start() != 0)
            PS_WARN_ONCE("cannot restart the writer thread; threads will write their own chunks");
    } else {
        writer_arm_lazy();
    }
}

static void writer_end(int close_file)
{
    if (!trace_open)
        return;
    /* no tick starts a thread or writes from here on; one in progress is waited for */
    __atomic_store_n(&writer_ended, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&writer_tick_due, UINT64_MAX, __ATOMIC_RELEASE);
    ilock_lock(&tick_lock);
    ilock_unlock(&tick_lock);
    ilock_lock(&q_lock);
    int was_running = writer_running;
    writer_running = 0; /* producers now write their own chunks */
    ilock_unlock(&q_lock);
    /* with a thread: its context is free now; without: the shared one (no context is made
     * just to end the trace) */
    wctx_t *w = was_running ? &wctx : NULL;
    void (*append)(const void *, uint32_t) = w ? internal_append : internal_append_sync;
    if (was_running) {
        __atomic_store_n(&writer_stop, 1, __ATOMIC_RELEASE);
        __atomic_fetch_add(&q_signal, 1, __ATOMIC_RELEASE);
        prim_futex_wake(&q_signal, 1);
        pthread_join(writer_thread, NULL);
        stamp_tick_stop(); /* the coarse clock again */
        flush_threads(w, 1);
    } else {
        flush_threads_sync();
    }
    for (uint32_t pos = 0; final_recs && pos + sizeof(ps_rec_hdr_t) <= final_len;) {
        ps_rec_hdr_t h;
        memcpy(&h, final_recs + pos, sizeof h);
        if (h.len < sizeof h || pos + h.len > final_len)
            break;
        append(final_recs + pos, h.len);
        pos += h.len;
    }
    if (final_recs)
        imem_free(final_recs);
    final_recs = NULL;
    if (options.rss_ms)
        sample_rss(append, 1); /* (the exit scan has just freed the live set and its array) */
    /* what the shim's own stream holds (a lock snapshot the writer thread took since its last
     * flush, the leak scan's records) goes out in its own chunk first: END's counts are then
     * those of every chunk before it, and END's chunk holds no event */
    ilock_lock(&internal_lock);
    internal_flush(w);
    ilock_unlock(&internal_lock);
    ilock_lock(&file_lock);
    ps_rec_end_t e = {.h = {PS_REC_END, 0, sizeof e},
                      .ts = prim_now_ns(),
                      .events = events_written,
                      .dropped = events_dropped,
                      .stacks = stacktab_count(),
                      .stacks_dropped = stacktab_dropped(),
                      .chunks = chunks_written + 1,
                      .threads = tstate_threads_seen(),
                      .chunks_inline = chunks_inline};
    uint64_t shallow = unwind_shallow_count();
    e.stacks_shallow = shallow > UINT32_MAX ? UINT32_MAX : (uint32_t)shallow;
    ilock_unlock(&file_lock);
    ilock_lock(&internal_lock);
    internal_put(&e, sizeof e, w ? internal_flush_wctx : internal_flush_sync);
    internal_flush(w);
    ilock_unlock(&internal_lock);
    if (io_failed) /* the END above may not have reached the file either: say it here */
        PS_WARN("%llu events were not written to the trace (it ends early)",
                (unsigned long long)events_dropped);
    if (!close_file)
        return;
    ilock_lock(&file_lock);
    if (fd_is_trace(fd)) /* else the number is the app's now */
        close(fd);
    fd = -1;
    trace_open = 0;
    ilock_unlock(&file_lock);
}

void writer_set_final_records(unsigned char *recs, uint32_t len)
{
    final_recs = recs;
    final_len = len;
}

void writer_after_fork_child(void)
{
    ilock_reset(&q_lock);
    ilock_reset(&file_lock);
    ilock_reset(&internal_lock);
    ilock_reset(&tick_lock);
    ilock_reset(&zs_lock);
    writer_running = 0;
    writer_wanted = 0;
    writer_ended = 0;
    writer_tick_due = UINT64_MAX;
    stamp_tick_stop(); /* no writer thread in the child (yet) */
    if (fd_is_trace(fd)) /* the parent's; a number the app reused stays the app's */
        close(fd);
    fd = -1;
    trace_open = 0;
    for (; q_count; q_count--, q_head = (q_head + 1) % q_max)
        writer_buf_put(queue[q_head].buf);
    q_head = 0;
    writer_stop = 0;
    q_signal = 0;
    events_written = events_dropped = chunks_written = chunks_inline = 0;
    io_failed = 0;
    internal_pos = internal_seq = 0;
}

/* ---- fatal signal ------------------------------------------------------------------------ */

/* file_lock must be held. Compresses with the producers' shared context (not in use: we hold
 * its lock) and writes. zstd does not allocate once its context has been used; a first use
 * maps memory (mmap is async-signal-safe). */
static void crash_write_locked(const unsigned char *src, uint32_t len, pid_t tid, uint32_t seq,
                               uint16_t flags)
{
    sync_write_locked(src, len, tid, seq, flags); /* (on sync_stack: a crash's stack is short) */
}

/* file_lock and internal_lock held: the shim's own stream as a chunk. */
static void crash_flush_internal(void)
{
    if (!internal_pos)
        return;
    crash_write_locked(internal_buf, internal_pos, PS_INTERNAL_TID, internal_seq++,
                       PS_CHUNK_F_INTERNAL);
    internal_pos = 0;
}

/* file_lock and internal_lock held: appends to the shim's own stream, writing a chunk
 * whenever it is full. */
static void crash_append(const void *rec, uint32_t len, void *arg)
{
    (void)arg;
    internal_put(rec, len, crash_flush_internal);
}

void writer_crash_flush(const void *rec, uint32_t len, void (*more)(writer_put_fn put))
{
    if (!trace_open || !ilock_trylock(&file_lock))
        return;
    /* 1. full buffers waiting for the writer thread */
    if (ilock_trylock(&q_lock)) {
        for (; q_count; q_count--, q_head = (q_head + 1) % q_max) {
            const qitem_t *it = &queue[q_head];
            crash_write_locked(it->buf + it->off, it->len, it->tid, it->seq, it->flags);
        }
        ilock_unlock(&q_lock);
    }
    /* 2. every thread's committed records (the crashing thread's CRASH record among them) */
    for (tstate_t *st = tstate_first(); st; st = st->next) {
        if (!ilock_trylock(&st->lock))
            continue;
        uint32_t c = __atomic_load_n(&st->committed, __ATOMIC_ACQUIRE);
        if (c > st->flushed) {
            crash_write_locked(st->buf + st->flushed, c - st->flushed, st->tid, st->seq++,
                               st->chunk_flags);
            st->flushed = c;
        }
        ilock_unlock(&st->lock);
    }
    /* 3. the shim's stream: what `more` adds (records that name their thread), and a CRASH
     * of a thread without a state (the writer, or one that never allocated); lost when a
     * thread was appending to it (its lock is taken) */
    if (ilock_trylock(&internal_lock)) {
        if (more)
            more(crash_append);
        if (rec && len)
            crash_append(rec, len, NULL);
        crash_flush_internal();
        ilock_unlock(&internal_lock);
    }
    ilock_unlock(&file_lock);
}
