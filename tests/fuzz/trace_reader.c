/*
 * trace_reader -- fuzz target: the trace reader (header, chunk index, zstd frames, record
 * decoding), the replay (merge, live set, heap-misuse tracking) and the pass without the merge
 * with the lock and leak analyses (`perfshim locks`, `check`) on arbitrary bytes.
 * The input is handed over as a file (both take a path) through a memfd: no disk I/O.
 *
 * Hostile-input oracles (issue 12), beyond "no crash, no leak, no hang":
 *  - memory: the replay runs with PERFSHIM_MAX_MEMORY_MB=16 and the process's peak RSS must
 *    stay under FUZZ_RSS_CAP_MB whatever the input claims (slow-seed-bomb claims 32 x 4
 *    MiB; scripts/fuzz does not fuzz from slow-* inputs, `make check` replays them);
 *  - checksum: a header the reader accepts with PS_FILE_F_HEADER_SUM has a checksum that
 *    matches (seed-header-sum, seed-header-flip);
 *  - FIFO: the reader and the replay refuse FUZZ_FIFO as the trace, and a trace that names
 *    it as a module (seed-module-fifo) is symbolized without blocking on it. Symbolization
 *    runs only when every module path is that FIFO or under /nonexistent/, so that fuzzing
 *    never depends on (or reads) the host's files.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fuzz.h"
#include "reader.h"
#include "analysis.h"
#include "replay.h"
#include "symbols.h"

/* The peak-RSS oracle, in the plain build only: under ASan (scripts/test's build-asan,
 * scripts/fuzz) shadow memory and the quarantine dwarf it, and libFuzzer has -rss_limit_mb. */
#define FUZZ_RSS_CAP_MB 48
#if defined(__SANITIZE_ADDRESS__) || defined(FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
#define FUZZ_RSS_CHECK 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_RSS_CHECK 0
#endif
#endif
#ifndef FUZZ_RSS_CHECK
#define FUZZ_RSS_CHECK 1
#endif

static void fuzz_once(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    setenv("PERFSHIM_MAX_MEMORY_MB", "16", 1);
    reader_t *r = NULL;
    if (reader_open(&r, fuzz_fifo()) == 0)
        abort(); /* a FIFO is refused, and did not block */
    reader_close(r);
    replay_t rp;
    char err[256];
    if (replay_run(fuzz_fifo(), &rp, err, sizeof err) == 0)
        abort();
}

/* The module paths are safe to open (see the header). */
static bool fuzz_modules_safe(const replay_t *rp)
{
    for (size_t i = 0; i < rp->nmodules; i++)
        if (strcmp(rp->modules[i].path, FUZZ_FIFO) != 0 &&
            strncmp(rp->modules[i].path, "/nonexistent/", 13) != 0)
            return false;
    return true;
}

/* Symbolizes every stack when the module paths are safe to open. */
static void fuzz_symbols(const replay_t *rp)
{
    if (!fuzz_modules_safe(rp))
        return;
    symbols_t *sym;
    symbols_opts_t so = {.quiet = true};
    if (symbols_open(&sym, rp->modules, rp->nmodules, &so) < 0)
        return;
    for (size_t i = 0; i < rp->nstacks && i < 64; i++)
        for (uint32_t k = 0; k < rp->stacks[i].depth; k++) {
            sym_frame_t f;
            (void)symbols_lookup(sym, rp->stacks[i].ips[k], &f);
        }
    symbols_close(sym);
}

static void fuzz_check_rss(void)
{
    struct rusage ru;
    if (FUZZ_RSS_CHECK && getrusage(RUSAGE_SELF, &ru) == 0 &&
        ru.ru_maxrss / 1024 > FUZZ_RSS_CAP_MB) {
        fprintf(stderr, "trace_reader: peak RSS %ld MiB > %d MiB\n", ru.ru_maxrss / 1024,
                FUZZ_RSS_CAP_MB);
        abort();
    }
}

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
    fuzz_once();
    if (input_path(data, size, path, sizeof path) != 0)
        return 0;
    reader_t *r = NULL;
    if (reader_open(&r, path) == 0) {
        const trace_info_t *ti = reader_info(r);
        if (ti->flags & PS_FILE_F_HEADER_SUM) { /* accepted: then the sum matches */
            uint32_t want;
            if (ti->header_len < 4 || ti->header_len > size)
                abort();
            memcpy(&want, data + ti->header_len - 4, 4);
            if (ps_fnv1a32(data, (uint32_t)ti->header_len - 4) != want)
                abort();
        }
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
        fuzz_symbols(&rp);
        replay_free(&rp);
    }
    /* the pass without the merge (what `perfshim locks` runs) and the leak analysis, whose
     * call sites are cut after the symbols open */
    replay_t rl;
    leaks_t lk;
    symbols_t *sym = NULL;
    if (analyses_load(path, ANALYSIS_LOCKS | ANALYSIS_LEAKS, &rl, &lk, err, sizeof err) == 0 &&
        fuzz_modules_safe(&rl)) {
        symbols_opts_t so = {.quiet = true};
        (void)analyses_symbols(&rl, &lk, &so, &sym, err, sizeof err);
    }
    analyses_free(&rl, &lk, sym);
    fuzz_check_rss();
    return 0;
}
