/*
 * env_options.h -- the one list of the environment variables the shim reads.
 *
 * Contract: macros only (no code, no libc). Used by preload/options.c (the parser, defaults
 * and bounds; options_t's fields), analyzer/cmd/main.c (the environment section of
 * `perfshim --help`) and scripts/gen-man-env.c (the ENVIRONMENT list of docs/perfshim.1,
 * which tests/integration/man_env.sh holds to this list: `make update-man` rewrites it).
 * Add a variable here and nowhere else; its one-line help is printed as is in --help and in
 * the man page (plain text: no troff, no quotes needing escapes other than '-' and '\').
 *
 *   INT(field, "PERFSHIM_NAME", default, min, max, "help")  an integer option (options_t.field)
 *   STR(field, "PERFSHIM_NAME", "default", "help")          a string, parsed by hand in
 *                                                            options.c ("" default: unset)
 * Listed in the order --help and the man page show them.
 *
 * PS_CMD_ENV: the variables the perfshim commands themselves read (never the shim), each read
 * with getenv where it is used; the same two outputs print them (`gen-man-env --commands`).
 * tests/integration/man_env.sh fails on a getenv("PERFSHIM_...") in analyzer/ not listed here.
 *
 *   CMD("PERFSHIM_NAME", "the commands that read it", "help")
 */
#ifndef PERFSHIM_ENV_OPTIONS_H
#define PERFSHIM_ENV_OPTIONS_H

#define PS_OUTPUT_DEFAULT "perfshim.%e.%p.trace"

#define PS_ENV_OPTIONS(INT, STR)                                                               \
    STR(output, "PERFSHIM_OUTPUT", PS_OUTPUT_DEFAULT,                                          \
        "trace path template: %p the pid, %e the program's name, %% a '%'; an existing file "  \
        "is never overwritten")                                                                \
    INT(depth, "PERFSHIM_DEPTH", 64, 1, 256, "most stack frames recorded per event")           \
    INT(flush_ms, "PERFSHIM_FLUSH_MS", 100, 1, 60000,                                          \
        "ms after which partly filled buffers are written (bounds what a SIGKILL loses)")      \
    INT(rss_ms, "PERFSHIM_RSS_MS", 10, 0, 60000, "ms between RSS samples; 0 turns them off")   \
    INT(buffer_kb, "PERFSHIM_BUFFER_KB", 1024, 4, 4096, "each thread's event buffer, in KiB")  \
    INT(queue_mb, "PERFSHIM_QUEUE_MB", 16, 1, 1024,                                            \
        "MiB of full buffers waiting for the writer thread; beyond it threads compress their " \
        "own")                                                                                 \
    INT(zstd_level, "PERFSHIM_ZSTD_LEVEL", 1, -5, 19, "zstd compression level")                \
    INT(enable, "PERFSHIM_ENABLE", 1, 0, 1, "0 turns recording off: calls are only passed on") \
    INT(log, "PERFSHIM_LOG", 1, 0, 3,                                                          \
        "messages on stderr: 0 silent, 1 warnings, 2 information, 3 debugging")                \
    INT(free_stacks, "PERFSHIM_FREE_STACKS", 1, 0, 2,                                          \
        "stacks of releases: 0 none, 1 the C++ delete family, 2 free() too")                   \
    INT(follow_exec, "PERFSHIM_FOLLOW_EXEC", 0, 0, 1,                                          \
        "1 keeps the shim in LD_PRELOAD for the programs this one executes")                   \
    INT(signals, "PERFSHIM_SIGNALS", 1, 0, 1,                                                  \
        "1: on a fatal signal write what the shim holds and a CRASH record, then re-raise; "   \
        "0: no handler")                                                                       \
    INT(leak_check, "PERFSHIM_LEAK_CHECK", 1, 0, 1,                                            \
        "0 turns the live set and the exit-time leak scan off")                                \
    INT(clock_every, "PERFSHIM_CLOCK_EVERY", 32, 1, 65536,                                  \
        "heap events per exact clock read of a thread: the others take its last read (within " \
        "that many events and ~1 ms of the true time; exact where two threads touch one "      \
        "address); 1 reads the clock every event, as with PERFSHIM_LEAK_CHECK=0")               \
    INT(clock_guard, "PERFSHIM_CLOCK_GUARD", 1, 0, 1,                                          \
        "testing only: 0 drops the live set's cross-thread order of timestamps (false heap "    \
        "errors follow)")                                                                      \
    INT(ucache_avx2, "PERFSHIM_UCACHE_AVX2", 1, 0, 1,                                          \
        "testing only: 0 keeps the stack cache's SSE2 check on a CPU with AVX2")               \
    INT(snapshot_signal, "PERFSHIM_SNAPSHOT_SIGNAL", 0, 0, 64,                                 \
        "signal that takes a live-set snapshot; 0 none")                                       \
    INT(sample_bytes, "PERFSHIM_SAMPLE_BYTES", 0, 0, 1073741824,                             \
        "0 records every allocation; N > 0 samples them by bytes (a Poisson process with a "   \
        "mean of N bytes between samples, as tcmalloc and jemalloc do): only sampled blocks "  \
        "and their releases are recorded, the report scales them to estimates; the leak scan " \
        "and snapshots are off")                                                               \
    INT(sample_seed, "PERFSHIM_SAMPLE_SEED", 0, 0, 2147483647,                                 \
        "with PERFSHIM_SAMPLE_BYTES: seed of the sampling (0: a new one every run; the same "  \
        "seed gives the same samples to a deterministic single-threaded program)")             \
    STR(unwind, "PERFSHIM_UNWIND", "auto",                                                     \
        "stack capture: auto (a per-thread cache of stacks libunwind walked, checked against " \
        "the stack on every event), libunwind (a full walk every event)")                      \
    STR(report_file, "PERFSHIM_REPORT_FILE", "",                                               \
        "set by perfshim record: the file each traced process appends its trace's path to")

#define PS_CMD_ENV(CMD)                                                                        \
    CMD("PERFSHIM_LIB", "perfshim record",                                                     \
        "path of the libperfshim.so to preload, tried first")                                  \
    CMD("PERFSHIM_LIBEXEC", "perfshim replay",                                                 \
        "directory of perfshim-replay-driver, tried first (then beside perfshim, "             \
        "../libexec/perfshim/, the build tree and LIBEXECDIR/perfshim)")                       \
    CMD("PERFSHIM_MAX_MEMORY_MB", "report, locks, check and the other readers",                \
        "most MiB the decompressed chunks may hold at once (16..1048576, default 512): a "     \
        "trace needs one chunk per thread whose events are still being merged (at most 4 MiB " \
        "each, 64 KiB with the default PERFSHIM_BUFFER_KB); one that needs more, whatever its " \
        "headers claim, is refused with exit 2 and a line naming this variable")               \
    CMD("PERFSHIM_NO_PREFETCH", "every reader",                                                \
        "testing only: set, the trace is decoded and symbolized on the command's own thread "  \
        "(no second core)")                                                                    \
    CMD("PERFSHIM_PRESSURE_THREAD", "report",                                                  \
        "testing only: 1 runs the pressure analysis on a thread of its own, 0 on the pass's "  \
        "(default: its own with more than two CPUs)")

/* For a use that takes one kind only: PS_ENV_OPTIONS(PS_X, PS_ENV_NONE). */
#define PS_ENV_NONE(...)

#endif /* PERFSHIM_ENV_OPTIONS_H */
