/*
 * trace_reader -- fuzz target: the trace reader (header, chunk index, zstd frames, record
 * decoding) and the replay (merge, live set, heap-misuse tracking) on arbitrary bytes.
 * The input is handed over as a file (both take a path) through a memfd: no disk I/O.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "reader.h"
#include "replay.h"

static int input_path(const uint8_t *data, size_t size, char *path, size_t cap)
{
    static int fd = -1;
    if (fd < 0)
        fd = memfd_create("fuzz-trace", 0);
    if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        return -1;
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    if (input_path(data, size, path, sizeof path) != 0)
        return 0;
    reader_t *r = NULL;
    if (reader_open(&r, path) == 0) {
        for (size_t i = 0; i < reader_chunk_count(r); i++) {
            chunk_view_t v;
            record_t rec;
            if (reader_chunk_load(r, i, &v) < 0)
                continue;
            while (view_next(r, &v, &rec) == 1)
                for (uint32_t k = 0; rec.type == PS_REC_STACK && k < rec.u.stack.depth; k++)
                    (void)record_ip(&rec, k);
        }
    }
    reader_close(r);
    replay_t rp;
    char err[256];
    if (replay_run(path, &rp, err, sizeof err) == 0) {
        for (size_t i = 0; i < rp.nerrors; i++)
            (void)replay_stack(&rp, rp.errors[i].alloc_stack);
        replay_free(&rp);
    }
    return 0;
}
