/*
 * synth.c -- see synth.h.
 */
#include "synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

void synth_put(synth_buf_t *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) {
            fprintf(stderr, "out of memory\n");
            exit(99);
        }
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

void synth_buf_free(synth_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

void synth_save(const synth_buf_t *f, const char *path)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (f->n && fwrite(f->p, 1, f->n, fp) != f->n) || fclose(fp) != 0) {
        perror(path);
        exit(99);
    }
}

ps_rec_hdr_t synth_hdr(uint8_t type, uint8_t aux, size_t len)
{
    ps_rec_hdr_t h = {type, aux, (uint16_t)len};
    return h;
}

void synth_thread(synth_buf_t *b, uint8_t type, uint32_t tid, uint64_t ts, const char *name)
{
    ps_rec_thread_t t = {synth_hdr(type, 0, sizeof(t) + strlen(name)), tid, ts};
    synth_put(b, &t, sizeof(t));
    synth_put(b, name, strlen(name));
}

void synth_modmap(synth_buf_t *b, uint32_t epoch, uint64_t ts, uint32_t count)
{
    ps_rec_modmap_t m = {synth_hdr(PS_REC_MODMAP, 0, sizeof(m)), epoch, ts, count, 0};
    synth_put(b, &m, sizeof(m));
}

void synth_module(synth_buf_t *b, uint32_t epoch, uint64_t base, const ps_segment_t *segs,
                  uint16_t nseg, const unsigned char *bid, uint8_t bidlen, const char *path)
{
    size_t plen = strlen(path);
    size_t len = sizeof(ps_rec_module_t) + nseg * sizeof(ps_segment_t) + bidlen + plen;
    ps_rec_module_t m = {synth_hdr(PS_REC_MODULE, 0, len), epoch, base, nseg, bidlen, 0,
                         (uint16_t)plen, 0};
    synth_put(b, &m, sizeof(m));
    synth_put(b, segs, nseg * sizeof(ps_segment_t));
    synth_put(b, bid, bidlen);
    synth_put(b, path, plen);
}

void synth_stack(synth_buf_t *b, uint32_t id, uint32_t depth, const uint64_t *ips)
{
    ps_rec_stack_t s = {synth_hdr(PS_REC_STACK, 0, sizeof(s) + depth * 8u), id, depth, 0};
    synth_put(b, &s, sizeof(s));
    synth_put(b, ips, depth * 8u);
}

void synth_alloc(synth_buf_t *b, uint8_t fn, uint32_t stack, uint64_t ts, uint64_t ptr,
                 uint64_t size, uint64_t align)
{
    ps_rec_alloc_t a = {synth_hdr(PS_REC_ALLOC, fn, sizeof(a)), stack, ts, ptr, size, align};
    synth_put(b, &a, sizeof(a));
}

void synth_free(synth_buf_t *b, uint64_t ts, uint64_t ptr)
{
    ps_rec_free_t f = {synth_hdr(PS_REC_FREE, PS_FN_FREE, sizeof(f)), 0, ts, ptr};
    synth_put(b, &f, sizeof(f));
}

void synth_realloc(synth_buf_t *b, uint32_t stack, uint64_t ts0, uint64_t ts, uint64_t old,
                   uint64_t new_ptr, uint64_t size)
{
    ps_rec_realloc_t r = {synth_hdr(PS_REC_REALLOC, PS_FN_REALLOC, sizeof(r)), stack, ts0, ts,
                          old, new_ptr, size};
    synth_put(b, &r, sizeof(r));
}

void synth_rss(synth_buf_t *b, uint64_t ts, uint64_t rss, uint64_t shim)
{
    ps_rec_rss_t r = {synth_hdr(PS_REC_RSS, 0, sizeof(r)), 0, ts, rss, shim};
    synth_put(b, &r, sizeof(r));
}

void synth_end(synth_buf_t *b, const ps_rec_end_t *e)
{
    ps_rec_end_t r = *e;
    r.h = synth_hdr(PS_REC_END, 0, sizeof(r));
    synth_put(b, &r, sizeof(r));
}

void synth_raw(synth_buf_t *b, uint8_t type, uint16_t len)
{
    ps_rec_hdr_t h = {type, 0, len};
    synth_put(b, &h, sizeof(h));
    for (size_t i = sizeof(h); i < len; i++)
        synth_put(b, "\xab", 1);
}

void synth_file_begin(synth_buf_t *f, uint32_t version, uint32_t pid, uint64_t start_mono_ns,
                      const char *exe, const char *cmdline, size_t cmdline_len)
{
    ps_file_header_t h = {
        .magic = {'P', 'S', 'T', 'R'},
        .version = version,
        .header_len = (uint32_t)(sizeof(h) + strlen(exe) + cmdline_len),
        .pid = pid,
        .ppid = 1,
        .start_realtime_ns = 1700000000000000000ull,
        .start_mono_ns = start_mono_ns,
        .clock_id = 1,
        .page_size = 4096,
        .exe_len = (uint32_t)strlen(exe),
        .cmdline_len = (uint32_t)cmdline_len,
    };
    synth_put(f, &h, sizeof(h));
    synth_put(f, exe, strlen(exe));
    synth_put(f, cmdline, cmdline_len);
}

void synth_file_header_sum(synth_buf_t *f)
{
    ps_file_header_t h;
    memcpy(&h, f->p, sizeof(h));
    h.flags |= PS_FILE_F_HEADER_SUM;
    h.header_len += (uint32_t)sizeof(uint32_t);
    memcpy(f->p, &h, sizeof(h));
    uint32_t sum = ps_fnv1a32(f->p, (uint32_t)f->n);
    synth_put(f, &sum, sizeof(sum));
}

size_t synth_chunk(synth_buf_t *f, const synth_buf_t *recs, const ps_chunk_header_t *tmpl,
                   int level)
{
    size_t bound = ZSTD_compressBound(recs->n);
    unsigned char *z = malloc(bound);
    size_t cs = z ? ZSTD_compress(z, bound, recs->p, recs->n, level) : 0;
    if (!z || ZSTD_isError(cs)) {
        fprintf(stderr, "ZSTD_compress failed\n");
        exit(99);
    }
    ps_chunk_header_t h = *tmpl;
    h.magic = PERFSHIM_CHUNK_MAGIC;
    h.header_len = sizeof(h);
    h.csize = (uint32_t)cs;
    h.usize = (uint32_t)recs->n;
    h.checksum = ps_fnv1a32(&h, offsetof(ps_chunk_header_t, checksum));
    size_t off = f->n;
    synth_put(f, &h, sizeof(h));
    synth_put(f, z, cs);
    free(z);
    return off;
}
