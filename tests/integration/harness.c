/* harness.c -- see harness.h. */
#define _GNU_SOURCE
#include "harness.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "perfshim/errors.h"
#include "reader.h"

static char self_exe[4096];
static uint64_t self_base;

static int find_main(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    self_base = info->dlpi_addr; /* the first object is the main program */
    return 1;
}

int harness_record(const char *trace_path, char *const args[], int kill_after_ms)
{
    const char *lib = getenv("PERFSHIM_LIB");
    unlink(trace_path);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char *argv[64];
        int n = 0;
        argv[n++] = self_exe;
        argv[n++] = (char *)"run";
        for (int i = 0; args && args[i] && n < 62; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        setenv("LD_PRELOAD", lib, 1);
        setenv("PERFSHIM_OUTPUT", trace_path, 1);
        execv(self_exe, argv);
        _exit(127);
    }
    if (kill_after_ms > 0) {
        struct timespec ts = {kill_after_ms / 1000, (long)(kill_after_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    }
    return harness_wait(pid);
}

int harness_wait(int pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

size_t harness_read_all(int fd, char *out, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, out + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    out[len] = 0;
    close(fd);
    return len;
}

char *harness_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

int harness_main(int argc, char **argv, harness_fn run, harness_check_fn check)
{
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    self_exe[n > 0 ? n : 0] = 0;
    if (argc >= 2 && strcmp(argv[1], "run") == 0) {
        run(argc - 2, argv + 2);
        return 0;
    }
    const char *lib = getenv("PERFSHIM_LIB");
    if (!lib || access(lib, R_OK) != 0) {
        fprintf(stderr, "SKIP: PERFSHIM_LIB is not set to a readable libperfshim.so\n");
        return 77;
    }
    dl_iterate_phdr(find_main, NULL);
    char path[4200];
    const char *base = strrchr(self_exe, '/');
    snprintf(path, sizeof path, "%s.trace", base ? base + 1 : self_exe);
    return check(NULL, path);
}

/* ---- loading -------------------------------------------------------------------------- */

static ev_t *ev_push(trace_t *t)
{
    if (t->nev == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1 << 16;
        t->ev = realloc(t->ev, t->cap * sizeof *t->ev);
        if (!t->ev) {
            perror("realloc");
            exit(99);
        }
    }
    return memset(&t->ev[t->nev++], 0, sizeof(ev_t));
}

hthread_t *trace_thread(trace_t *t, uint32_t tid)
{
    for (size_t i = 0; i < t->nthreads; i++)
        if (t->threads[i].tid == tid)
            return &t->threads[i];
    if (t->nthreads == sizeof t->threads / sizeof t->threads[0])
        return &t->threads[0];
    hthread_t *h = &t->threads[t->nthreads++];
    h->tid = tid;
    return h;
}

static void add_stack(trace_t *t, const record_t *r)
{
    uint32_t id = r->u.stack.id;
    if (id >= t->stack_cap) {
        uint32_t cap = t->stack_cap ? t->stack_cap : 1024;
        while (cap <= id)
            cap *= 2;
        t->stack_ips = realloc(t->stack_ips, cap * sizeof *t->stack_ips);
        t->stack_depth = realloc(t->stack_depth, cap * sizeof *t->stack_depth);
        memset(t->stack_ips + t->stack_cap, 0, (cap - t->stack_cap) * sizeof *t->stack_ips);
        memset(t->stack_depth + t->stack_cap, 0, (cap - t->stack_cap) * sizeof *t->stack_depth);
        t->stack_cap = cap;
    }
    t->stack_records++;
    free(t->stack_ips[id]);
    t->stack_ips[id] = malloc(r->u.stack.depth * sizeof(uint64_t));
    for (uint32_t i = 0; i < r->u.stack.depth; i++)
        t->stack_ips[id][i] = record_ip(r, i);
    t->stack_depth[id] = r->u.stack.depth;
}

int trace_load(const char *path, trace_t *t)
{
    memset(t, 0, sizeof *t);
    reader_t *r = NULL;
    int rc = reader_open(&r, path);
    if (rc < 0) {
        fprintf(stderr, "trace_load: %s\n", r ? reader_error(r) : ps_strerror(rc));
        reader_close(r);
        return rc;
    }
    t->index_status = reader_index_status(r);
    for (size_t i = 0; i < reader_chunk_count(r); i++) {
        const chunk_info_t *ci = reader_chunk(r, i);
        t->chunks++;
        t->chunk_events += ci->h.nevents;
        chunk_view_t v;
        if ((rc = reader_chunk_load(r, i, &v)) < 0) {
            fprintf(stderr, "trace_load: %s\n", reader_error(r));
            t->decode_error = rc;
            break;
        }
        uint32_t tid = ci->h.tid;
        hthread_t *th = trace_thread(t, tid);
        record_t rec;
        uint64_t order = (uint64_t)ci->h.seq << 32;
        while ((rc = view_next(r, &v, &rec)) == 1) {
            ev_t *e;
            size_t nev0 = t->nev;
            switch (rec.type) {
            case PS_REC_THREAD_START:
            case PS_REC_THREAD_EXIT:
                th = trace_thread(t, rec.u.thread.tid);
                if (rec.type == PS_REC_THREAD_START)
                    th->started++;
                else
                    th->exited++;
                snprintf(th->name, sizeof th->name, "%.*s", (int)rec.u.thread.name_len,
                         rec.u.thread.name);
                th = trace_thread(t, tid);
                break;
            case PS_REC_MODMAP:
                t->modmaps++;
                break;
            case PS_REC_MODULE:
                t->mods = realloc(t->mods, (t->nmods + 1) * sizeof *t->mods);
                snprintf(t->mods[t->nmods].path, sizeof t->mods[0].path, "%.*s",
                         (int)rec.u.module.path_len, rec.u.module.path);
                t->mods[t->nmods++].base = rec.u.module.base;
                break;
            case PS_REC_STACK:
                add_stack(t, &rec);
                break;
            case PS_REC_ALLOC:
                e = ev_push(t);
                *e = (ev_t){rec.u.alloc.ts, rec.u.alloc.ptr, rec.u.alloc.size, rec.u.alloc.align,
                            tid, rec.u.alloc.stack, EV_ALLOC, rec.aux, 0};
                th->events++;
                break;
            case PS_REC_FREE:
                e = ev_push(t);
                *e = (ev_t){rec.u.free.ts, rec.u.free.ptr, 0, 0, tid, rec.u.free.stack, EV_FREE,
                            rec.aux, 0};
                th->events++;
                break;
            case PS_REC_REALLOC: {
                const ps_rec_realloc_t *ra = &rec.u.realloc;
                t->reallocs++;
                th->events++;
                if (ra->old_ptr && (ra->new_ptr || ra->size == 0)) {
                    e = ev_push(t);
                    *e = (ev_t){ra->ts_before, ra->old_ptr, 0, 0, tid, ra->stack,
                                EV_REALLOC_FREE, rec.aux, 0};
                }
                if (ra->new_ptr || ra->size) {
                    e = ev_push(t);
                    *e = (ev_t){ra->ts, ra->new_ptr, ra->size, 0, tid, ra->stack,
                                EV_REALLOC_ALLOC, rec.aux, 0};
                }
                break;
            }
            case PS_REC_LOCK_SITE:
                if (rec.aux & PS_LOCK_SITE_F_SNAPSHOT) { /* a running thread's, superseded */
                    t->lock_snaps++;
                    if (rec.u.lock_site.acquisitions > t->lock_snap_acq_max)
                        t->lock_snap_acq_max = rec.u.lock_site.acquisitions;
                    break;
                }
                t->lock_sites++;
                t->lock_acq += rec.u.lock_site.acquisitions;
                break;
            case PS_REC_LOCK_WAIT:
                t->lock_waits++;
                break;
            case PS_REC_RSS:
                t->rss_samples++;
                break;
            case PS_REC_END:
                t->have_end = 1;
                t->end = rec.u.end;
                break;
            }
            for (size_t k = nev0; k < t->nev; k++)
                t->ev[k].order = order++;
        }
        if (rc < 0) {
            fprintf(stderr, "trace_load: %s\n", reader_error(r));
            t->decode_error = rc;
            break;
        }
    }
    reader_close(r);
    return 0;
}

void trace_free(trace_t *t)
{
    for (uint32_t i = 0; i < t->stack_cap; i++)
        free(t->stack_ips[i]);
    free(t->stack_ips);
    free(t->stack_depth);
    free(t->ev);
    free(t->mods);
}

/* ---- replay --------------------------------------------------------------------------- */

static int ev_stream_cmp(const void *a, const void *b)
{
    const ev_t *x = a, *y = b;
    if (x->tid != y->tid)
        return x->tid < y->tid ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Puts t->ev in the order the format defines (docs/trace-format.md, "Order across threads"):
 * each thread's stream in its own order, the streams merged by timestamp, at equal times
 * releases first. (A global sort by time would reorder one thread's events of equal time:
 * timestamps have 64 ns units since version 3.) */
static void ev_merge(trace_t *t)
{
    qsort(t->ev, t->nev, sizeof *t->ev, ev_stream_cmp);
    size_t ns = 0, *head = NULL, *end = NULL;
    for (size_t i = 0; i < t->nev; i++) {
        if (i == 0 || t->ev[i].tid != t->ev[i - 1].tid) {
            head = realloc(head, (ns + 1) * sizeof *head);
            end = realloc(end, (ns + 1) * sizeof *end);
            head[ns] = i;
            if (ns)
                end[ns - 1] = i;
            ns++;
        }
    }
    if (ns)
        end[ns - 1] = t->nev;
    ev_t *out = malloc((t->nev ? t->nev : 1) * sizeof *out);
    for (size_t o = 0; o < t->nev; o++) {
        size_t best = SIZE_MAX;
        for (size_t k = 0; k < ns; k++) {
            if (head[k] == end[k])
                continue;
            const ev_t *e = &t->ev[head[k]];
            if (best == SIZE_MAX)
                best = k;
            else {
                const ev_t *b = &t->ev[head[best]];
                int rel = e->kind <= EV_REALLOC_FREE, brel = b->kind <= EV_REALLOC_FREE;
                if (e->ts < b->ts || (e->ts == b->ts && rel && !brel))
                    best = k;
            }
        }
        out[o] = t->ev[head[best]++];
    }
    free(t->ev);
    t->ev = out;
    t->cap = t->nev;
    free(head);
    free(end);
}

void trace_replay(trace_t *t, replay_t *r)
{
    memset(r, 0, sizeof *r);
    ev_merge(t);
    size_t cap = 1;
    while (cap < t->nev * 2 + 16)
        cap <<= 1;
    uint64_t *set = calloc(cap, sizeof *set); /* open addressing; 0 empty, 1 tombstone */
    for (size_t i = 0; i < t->nev; i++) {
        const ev_t *e = &t->ev[i];
        int alloc = e->kind >= EV_ALLOC;
        if (!e->ptr) {
            r->failed_allocs += alloc;
            continue;
        }
        uint64_t h = (e->ptr * 0x9e3779b97f4a7c15ull) & (cap - 1), tomb = UINT64_MAX;
        for (;; h = (h + 1) & (cap - 1)) {
            if (set[h] == e->ptr)
                break;
            if (set[h] == 1 && tomb == UINT64_MAX)
                tomb = h;
            if (set[h] == 0)
                break;
        }
        int live = set[h] == e->ptr;
        if (alloc) {
            r->allocs++;
            if (live)
                r->double_allocs++;
            else
                set[tomb != UINT64_MAX ? tomb : h] = e->ptr;
        } else {
            r->frees++;
            if (live)
                set[h] = 1;
            else
                r->unmatched_frees++;
        }
    }
    for (size_t i = 0; i < cap; i++)
        r->live_end += set[i] > 1;
    free(set);
}

/* ---- symbols -------------------------------------------------------------------------- */

const char *trace_frame_fn(const trace_t *t, uint32_t id, uint32_t frame)
{
    if (id == 0 || id >= t->stack_cap || !t->stack_ips[id] || frame >= t->stack_depth[id])
        return NULL;
    uint64_t ip = t->stack_ips[id][frame];
    /* The module of ip in the trace must be this program; map it into our own address. */
    const hmodule_t *best = NULL;
    for (size_t i = 0; i < t->nmods; i++)
        if (t->mods[i].base <= ip && (!best || t->mods[i].base > best->base))
            best = &t->mods[i];
    if (!best || strcmp(best->path, self_exe) != 0)
        return NULL;
    Dl_info di;
    uint64_t here = ip - best->base + self_base - 1; /* return address - 1: inside the call */
    if (!dladdr((void *)(uintptr_t)here, &di) || !di.dli_sname)
        return NULL;
    return di.dli_sname;
}

uint64_t trace_count_site(const trace_t *t, const char *fn, int kind, uint8_t alloc_fn,
                          uint64_t *bytes)
{
    uint64_t n = 0, b = 0;
    for (size_t i = 0; i < t->nev; i++) {
        const ev_t *e = &t->ev[i];
        if (kind >= 0 ? e->kind != kind : e->kind < EV_ALLOC)
            continue;
        if (alloc_fn && e->fn != alloc_fn)
            continue;
        const char *name = trace_frame_fn(t, e->stack, 0);
        if (name && strcmp(name, fn) == 0) {
            n++;
            b += e->size;
        }
    }
    if (bytes)
        *bytes = b;
    return n;
}
