/*
 * synth.h -- builds perfshim traces byte by byte for tests (unit tests, golden traces, fuzz
 * seeds): file header, records, zstd chunks with their FNV-1a header checksum, so a test
 * controls exactly what is in the file, including broken parts.
 *
 * Contract (test-only code): out of memory or a zstd failure exits 99 (a hard error under
 * automake). Records are appended to a synth_buf_t; synth_chunk() compresses one buffer of
 * records into the file buffer.
 */
#ifndef PERFSHIM_TESTS_SYNTH_H
#define PERFSHIM_TESTS_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "perfshim/trace_format.h"

typedef struct synth_buf_s {
    unsigned char *p;
    size_t n, cap;
} synth_buf_t;

void synth_put(synth_buf_t *b, const void *p, size_t n);
void synth_buf_free(synth_buf_t *b);
ps_rec_hdr_t synth_hdr(uint8_t type, uint8_t aux, size_t len);

void synth_thread(synth_buf_t *b, uint8_t type, uint32_t tid, uint64_t ts, const char *name);
void synth_modmap(synth_buf_t *b, uint32_t epoch, uint64_t ts, uint32_t count);
void synth_module(synth_buf_t *b, uint32_t epoch, uint64_t base, const ps_segment_t *segs,
                  uint16_t nseg, const unsigned char *bid, uint8_t bidlen, const char *path);
void synth_stack(synth_buf_t *b, uint32_t id, uint32_t depth, const uint64_t *ips);
void synth_alloc(synth_buf_t *b, uint8_t fn, uint32_t stack, uint64_t ts, uint64_t ptr,
                 uint64_t size, uint64_t align);
void synth_free(synth_buf_t *b, uint64_t ts, uint64_t ptr);
void synth_realloc(synth_buf_t *b, uint32_t stack, uint64_t ts0, uint64_t ts, uint64_t old,
                   uint64_t new_ptr, uint64_t size);
void synth_rss(synth_buf_t *b, uint64_t ts, uint64_t rss, uint64_t shim);
void synth_end(synth_buf_t *b, const ps_rec_end_t *e); /* e->h is filled in */
/* A record of any type and length, its payload filled with 0xab. */
void synth_raw(synth_buf_t *b, uint8_t type, uint16_t len);

/* cmdline is passed with its NUL separators, hence the explicit length. */
void synth_file_begin(synth_buf_t *f, uint32_t version, uint32_t pid, uint64_t start_mono_ns,
                      const char *exe, const char *cmdline, size_t cmdline_len);
/* Right after synth_file_begin: gives the header its checksum (PS_FILE_F_HEADER_SUM, as the
 * writer does since 2026-11-30): the flag, header_len + 4, and the FNV-1a 32 appended. */
void synth_file_header_sum(synth_buf_t *f);
/* Appends recs as one chunk compressed at `level`; h gives tid, seq, flags, nevents,
 * t_first, t_last (the rest is filled in). Returns the chunk's file offset. */
size_t synth_chunk(synth_buf_t *f, const synth_buf_t *recs, const ps_chunk_header_t *h,
                   int level);
/* Writes the file buffer f to path (replacing it); a failure says so and exits 99. */
void synth_save(const synth_buf_t *f, const char *path);

#endif /* PERFSHIM_TESTS_SYNTH_H */
