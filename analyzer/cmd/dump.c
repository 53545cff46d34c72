/*
 * dump.c -- `perfshim dump TRACE` (see dump.h for the contract and docs/perfshim.1 for the
 * line format).
 *
 * Output is formatted by hand into a private buffer rather than with printf: a trace holds
 * millions of records and printf's format parsing would dominate the run time.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cmd/dump.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perfshim/errors.h"
#include "perfshim/trace_format.h"
#include "core/reader.h"

/* ---- output buffer ------------------------------------------------------------------- */

#define OUT_CAP (256u << 10)

static struct {
    char buf[OUT_CAP];
    size_t n;
} out;

static void out_flush(void)
{
    if (out.n) {
        fwrite(out.buf, 1, out.n, stdout);
        out.n = 0;
    }
}

/* Makes room for n more bytes; n is always small (<= 64). */
static char *out_room(size_t n)
{
    if (OUT_CAP - out.n < n)
        out_flush();
    return out.buf + out.n;
}

static void out_mem(const void *p, size_t n)
{
    if (n > OUT_CAP - out.n) {
        out_flush();
        if (n > OUT_CAP) {
            fwrite(p, 1, n, stdout);
            return;
        }
    }
    memcpy(out.buf + out.n, p, n);
    out.n += n;
}

static void out_str(const char *s)
{
    out_mem(s, strlen(s));
}

static void out_char(char c)
{
    *out_room(1) = c;
    out.n++;
}

static void out_u64(uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out_mem(tmp + i, sizeof(tmp) - i);
}

/* "0x" and lowercase hex digits, "0x0" for zero. */
static void out_hex(uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[18];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = digits[v & 0xf];
        v >>= 4;
    } while (v);
    tmp[--i] = 'x';
    tmp[--i] = '0';
    out_mem(tmp + i, sizeof(tmp) - i);
}

/* A string from the trace, in double quotes: '"' and '\' are backslash-escaped and every byte
 * outside printable ASCII becomes \xNN, so one record is always one line. */
static void out_quoted(const char *s, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    out_char('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char *p = out_room(2);
            p[0] = '\\';
            p[1] = (char)c;
            out.n += 2;
        } else if (c < 0x20 || c >= 0x7f) {
            char *p = out_room(4);
            p[0] = '\\';
            p[1] = 'x';
            p[2] = digits[c >> 4];
            p[3] = digits[c & 0xf];
            out.n += 4;
        } else {
            out_char((char)c);
        }
    }
    out_char('"');
}

/* The allocation function's name is a string like any other (perfshim(1): strings are
 * quoted), so "operator delete(sized)" stays one field. */
static void out_fn(uint8_t fn)
{
    const char *name = alloc_fn_name(fn);
    out_quoted(name, strlen(name));
}

/* " key=" then a decimal value: the common field shape. */
static void out_kv(const char *key, uint64_t v)
{
    out_char(' ');
    out_str(key);
    out_char('=');
    out_u64(v);
}

static void out_kx(const char *key, uint64_t v)
{
    out_char(' ');
    out_str(key);
    out_char('=');
    out_hex(v);
}

/* "NAME kind=KIND" for the lock records */
static void out_lock_head(const char *name, unsigned kind)
{
    out_str(name);
    out_str(" kind=");
    out_str(lock_kind_name(kind));
}

/* "NAME fn=FUNCTION" for the heap records */
static void out_fn_head(const char *name, uint8_t fn)
{
    out_str(name);
    out_str(" fn=");
    out_fn(fn);
}

static const char *leak_kind_name(unsigned kind)
{
    return kind == PS_LEAK_DEFINITE   ? "definite"
           : kind == PS_LEAK_INDIRECT ? "indirect"
                                      : "reachable";
}

/* ---- lines --------------------------------------------------------------------------- */

static void dump_header(const trace_info_t *ti)
{
    out_str("trace");
    out_kv("version", ti->version);
    out_kv("pid", ti->pid);
    out_kv("ppid", ti->ppid);
    out_str(" exe=");
    out_quoted(ti->exe, strlen(ti->exe));
    out_str(" cmdline=");
    out_quoted(ti->cmdline, strlen(ti->cmdline));
    out_kv("start_mono_ns", ti->start_mono_ns);
    out_kv("start_realtime_ns", ti->start_realtime_ns);
    out_kv("clock_id", ti->clock_id);
    out_kv("page_size", ti->page_size);
    out_char('\n');
}

static void dump_chunk(size_t i, const chunk_info_t *c)
{
    out_str("chunk");
    out_kv("index", i);
    out_kv("offset", c->offset);
    out_kv("tid", c->h.tid);
    out_kv("seq", c->h.seq);
    out_kv("events", c->h.nevents);
    out_kv("csize", c->h.csize);
    out_kv("usize", c->h.usize);
    out_kv("t_first", c->h.t_first);
    out_kv("t_last", c->h.t_last);
    out_kx("flags", c->h.flags);
    out_char('\n');
}

static void dump_module(const record_t *rec)
{
    static const char digits[] = "0123456789abcdef";
    out_str("module");
    out_kv("epoch", rec->u.module.epoch);
    out_kx("base", rec->u.module.base);
    out_str(" build_id=");
    if (rec->u.module.buildid_len == 0)
        out_char('-');
    for (uint32_t i = 0; i < rec->u.module.buildid_len; i++) {
        unsigned char b = rec->u.module.buildid[i];
        out_char(digits[b >> 4]);
        out_char(digits[b & 0xf]);
    }
    out_str(" path=");
    out_quoted(rec->u.module.path, rec->u.module.path_len);
    out_str(" segs=");
    if (rec->u.module.nseg == 0)
        out_char('-');
    for (uint32_t i = 0; i < rec->u.module.nseg; i++) {
        ps_segment_t s;
        record_segment(rec, i, &s);
        if (i)
            out_char(',');
        out_hex(s.vaddr);
        out_char('+');
        out_hex(s.memsz);
        out_char(':');
        out_char(s.flags & 4 ? 'r' : '-'); /* PF_R */
        out_char(s.flags & 2 ? 'w' : '-'); /* PF_W */
        out_char(s.flags & 1 ? 'x' : '-'); /* PF_X */
    }
}

static void dump_thread(const record_t *rec)
{
    out_str(record_type_name(rec->type));
    out_kv("tid", rec->u.thread.tid);
    out_kv("ts", rec->u.thread.ts);
    out_str(" name=");
    out_quoted(rec->u.thread.name, rec->u.thread.name_len);
}

static void dump_stack(const record_t *rec)
{
    out_str("stack");
    out_kv("id", rec->u.stack.id);
    out_kv("depth", rec->u.stack.depth);
    out_str(" ips=");
    for (uint32_t i = 0; i < rec->u.stack.depth; i++) {
        if (i)
            out_char(',');
        out_hex(record_ip(rec, i));
    }
}

static void dump_free(const record_t *rec)
{
    out_fn_head("free", rec->aux & PS_ALLOC_FN_MASK);
    if (rec->aux & PS_FREE_F_CROSS_THREAD)
        out_str(" cross_thread");
    out_kv("ts", rec->u.free.ts);
    out_kx("ptr", rec->u.free.ptr);
    if (rec->u.free.stack)
        out_kv("stack", rec->u.free.stack);
}

static void dump_alloc_cost(const record_t *rec)
{
    const ps_rec_alloc_cost_t *c = &rec->u.alloc_cost;
    out_str(rec->aux == PS_COST_RELEASE ? "alloc_cost kind=release" : "alloc_cost kind=alloc");
    out_kv("tid", c->tid);
    out_kv("stack", c->stack);
    out_kv("calls", c->calls);
    out_kv("ns", c->ns);
    out_kv("sampled", c->sampled);
    out_str(" hist=");
    for (unsigned i = 0; i < PS_COST_BUCKETS; i++) {
        if (i)
            out_str(",");
        out_u64(c->hist[i]);
    }
}

static void dump_crash(const record_t *rec)
{
    out_str("crash");
    out_kv("signal", rec->u.crash.signo);
    out_kv("ts", rec->u.crash.ts);
    out_kx("addr", rec->u.crash.addr);
    out_kv("tid", rec->u.crash.tid);
    out_str(rec->u.crash.code < 0 ? " code=-" : " code=");
    out_u64(rec->u.crash.code < 0 ? (uint64_t)-(int64_t)rec->u.crash.code
                                  : (uint64_t)rec->u.crash.code);
}

static void dump_leak_supp(const record_t *rec)
{
    out_str("leak_suppressions");
    out_kv("ts", rec->u.leak_supp.ts);
    out_str(" text=");
    out_quoted(rec->u.leak_supp.text, rec->u.leak_supp.len);
}

static void dump_leak_blocks(const record_t *rec)
{
    out_str("leak_blocks");
    out_kv("ts", rec->u.leak_blocks.ts);
    out_kv("n", rec->u.leak_blocks.n);
    for (uint32_t i = 0; i < rec->u.leak_blocks.n; i++) {
        ps_leak_block_t b;
        record_leak_block(rec, i, &b);
        out_str(" [");
        out_str(leak_kind_name(b.kind));
        out_kx(" ptr", b.ptr);
        if (b.holder != PS_LEAK_NO_HOLDER)
            out_kv("holder", b.holder);
        if (b.flags & PS_LEAK_BLOCK_F_POSSIBLE)
            out_str(" possible");
        out_str("]");
    }
}

static void dump_lock_wait(const record_t *rec)
{
    const ps_rec_lock_wait_t *w = &rec->u.lock_wait;
    out_lock_head("lock_wait", PS_LOCK_WAIT_KIND(rec->aux));
    out_str(" op=");
    out_str(lock_op_name(w->op));
    out_kv("ts", w->ts);
    out_kx("lock", w->lock);
    out_kv("wait_ns", w->wait_ns);
    out_kv("holder_tid", w->holder_tid);
    out_kv("holder_stack", w->holder_stack);
    out_kv("result", w->result);
    if (rec->aux & PS_LOCK_WAIT_F_TID)
        out_kv("tid", w->tid);
    out_kv("stack", w->stack);
}

static void dump_lock_site(const record_t *rec)
{
    const ps_rec_lock_site_t *s = &rec->u.lock_site;
    out_lock_head("lock_site", rec->aux & ~PS_LOCK_SITE_F_SNAPSHOT);
    if (rec->aux & PS_LOCK_SITE_F_SNAPSHOT)
        out_str(" snapshot");
    out_kv("ts", s->ts);
    out_kx("lock", s->lock);
    out_kv("tid", s->tid);
#define PS_X(name, merge) out_kv(#name, s->name);
    PS_LOCK_COUNTERS(PS_X)
#undef PS_X
    out_kv("stack", s->stack);
    for (int h = 0; h < 2; h++) {
        const uint32_t *v = h ? s->hold_hist : s->wait_hist;
        out_str(h ? " hold_hist=" : " wait_hist=");
        for (unsigned b = 0; b < PS_LOCK_HIST; b++) {
            if (b)
                out_char(',');
            out_u64(v[b]);
        }
    }
}

/* The records that are a head and a list of fields, one line of the table each: FD prints
 * " field=" in decimal, FX in hex, FDK/FXK under another key; HEAD prints the record's name
 * and what comes before the fields. */
#define FD(f) out_kv(#f, r->f);
#define FX(f) out_kx(#f, r->f);
#define FDK(key, f) out_kv(key, r->f);
#define FXK(key, f) out_kx(key, r->f);
#define DUMP_FIELDS(member, HEAD, FIELDS)                                                      \
    static void dump_##member(const record_t *rec)                                             \
    {                                                                                          \
        const __typeof__(rec->u.member) *r = &rec->u.member;                                   \
        HEAD;                                                                                  \
        FIELDS                                                                                 \
    }

DUMP_FIELDS(modmap, out_str("modmap"), FD(epoch) FD(ts) FD(count))
DUMP_FIELDS(alloc, out_fn_head("alloc", rec->aux), FD(ts) FX(ptr) FD(size) FD(align) FD(stack))
DUMP_FIELDS(realloc, out_fn_head("realloc", rec->aux),
            FD(ts_before) FD(ts) FXK("old", old_ptr) FXK("new", new_ptr) FD(size) FD(stack))
DUMP_FIELDS(rss, out_str("rss"), FD(ts) FDK("rss", rss_bytes) FDK("shim", shim_bytes))
DUMP_FIELDS(end, out_str("end"),
            FD(ts) FD(events) FD(dropped) FD(stacks) FD(stacks_dropped) FD(chunks) FD(threads)
                FD(chunks_inline) FD(stacks_shallow))
DUMP_FIELDS(leak_scan, out_str("leak_scan"),
            FD(ts) FX(flags) FD(duration_ns) FD(blocks) FD(root_bytes) FD(untracked)
                FD(definite_blocks) FD(definite_bytes) FD(indirect_blocks) FD(indirect_bytes)
                    FD(reachable_blocks) FD(reachable_bytes) FD(possible_blocks) FD(groups)
                        FD(threads) FD(stack_bytes) FD(region_bytes) FD(unreadable_bytes)
                            FD(scan_mem_bytes) FD(inherited_blocks) FD(ignored_blocks))
DUMP_FIELDS(leak, (out_str("leak kind="), out_str(leak_kind_name(rec->aux))),
            FD(ts) FD(stack) FD(holder) FD(blocks) FD(bytes) FD(possible_blocks))
DUMP_FIELDS(snapshot, out_str("snapshot"),
            FD(seq) FD(ts) FD(sites) FD(live_blocks) FD(live_bytes))
DUMP_FIELDS(snapshot_site, out_str("snapshot_site"),
            FD(seq) FD(ts) FD(stack) FD(blocks) FD(bytes))
DUMP_FIELDS(lock_init, out_lock_head("lock_init", rec->aux), FD(ts) FX(lock) FX(attr) FD(stack))
DUMP_FIELDS(lock_edge, out_str("lock_edge"),
            FD(ts) FD(tid) FX(from) FX(to) FD(from_stack) FD(to_stack))
DUMP_FIELDS(lock_info, out_lock_head("lock_info", rec->aux), FD(ts) FX(lock) FD(max_waiters))
DUMP_FIELDS(lock_thread, out_str("lock_thread"),
            FD(ts) FD(tid) FD(untracked) FD(held_overflow))
DUMP_FIELDS(lock_alloc, out_lock_head("lock_alloc", rec->aux),
            FD(ts) FD(tid) FX(lock) FD(lock_stack) FD(stack) FD(count) FD(bytes))

/* One line per record: the printer PS_RECORD_TYPES names for its type (the packed forms come
 * out of the reader as the fixed records they stand for), or "unknown". */
static void dump_record(const record_t *rec)
{
    switch (rec->type) {
#define PS_X(NAME, val, str, T, size, min, member, dec, cls)                                   \
    case val:                                                                                  \
        dump_##member(rec);                                                                    \
        break;
        PS_RECORD_TYPES(PS_X)
#undef PS_X
    default:
        out_str("unknown");
        out_kx("type", rec->type);
        out_kv("len", rec->len);
        break;
    }
    out_char('\n');
}

/* ---- command ------------------------------------------------------------------------- */

static void dump_usage(FILE *f)
{
    fputs("usage: perfshim dump TRACE\n"
          "Print every record of TRACE, decoded, one per line, in file order.\n"
          "Exit status: 0 complete trace, 1 incomplete or corrupt trace, 2 usage error or\n"
          "unreadable input.\n",
          f);
}

/* Exit code for a reader_open failure: a file we could read as a trace but which is broken
 * is "corrupt" (1); one we could not read as a trace at all is an input error (2). */
static int dump_open_status(int rc)
{
    return rc == -PS_E_CORRUPT || rc == -PS_E_TRUNCATED ? 1 : 2;
}

/* Prints every record of every indexed chunk. Returns 0, or <0 at the first chunk or record
 * that cannot be decoded (reader_error() says why). Sets *end_seen. */
static int dump_chunks(reader_t *r, bool *end_seen)
{
    chunk_view_t view;
    record_t rec;
    size_t n = reader_chunk_count(r);
    for (size_t i = 0; i < n; i++) {
        dump_chunk(i, reader_chunk(r, i));
        int rc = reader_chunk_load(r, i, &view);
        if (rc < 0)
            return rc;
        while ((rc = view_next(r, &view, &rec)) > 0) {
            dump_record(&rec);
            if (rec.type == PS_REC_END)
                *end_seen = true;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int dump_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0; /* our own messages, prefixed "perfshim: dump:" */
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            dump_usage(stdout);
            return 0;
        default:
            if (optopt)
                fprintf(stderr, "perfshim: dump: unknown option '-%c'\n", optopt);
            else
                fprintf(stderr, "perfshim: dump: unknown option '%s'\n", argv[optind - 1]);
            dump_usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "perfshim: dump: %s\n",
                argc - optind < 1 ? "no trace file given" : "too many arguments");
        dump_usage(stderr);
        return 2;
    }
    const char *path = argv[optind];

    reader_t *r;
    int rc = reader_open(&r, path);
    if (rc < 0) {
        fprintf(stderr, "perfshim: %s\n", r ? reader_error(r) : ps_strerror(rc));
        reader_close(r);
        return dump_open_status(rc);
    }

    static char stdout_buf[1u << 20];
    setvbuf(stdout, stdout_buf, _IOFBF, sizeof(stdout_buf));
    dump_header(reader_info(r));
    bool end_seen = false;
    rc = dump_chunks(r, &end_seen);
    out_flush();
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "perfshim: dump: cannot write output: %s\n", strerror(errno));
        reader_close(r);
        return 2;
    }

    int status = 0;
    if (rc < 0) {
        fprintf(stderr, "perfshim: %s\n", reader_error(r));
        status = rc == -PS_E_NOMEM || rc == -PS_E_IO ? 2 : 1;
    } else if (reader_index_status(r) < 0) {
        fprintf(stderr, "perfshim: %s\n", reader_index_error(r));
        status = 1;
    } else if (!end_seen) {
        fprintf(stderr,
                "perfshim: %s: no end record: the process did not finish cleanly (%zu chunks "
                "read)\n",
                path, reader_chunk_count(r));
        status = 1;
    }
    reader_close(r);
    return status;
}
