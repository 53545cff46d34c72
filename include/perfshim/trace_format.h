/*
 * trace_format.h -- the one definition of the perfshim trace format.
 *
 * Contract: shared by preload/ (writer) and analyzer/ (reader); depends on <stddef.h> and <stdint.h> only.
 * docs/trace-format.md is the prose spec of exactly what is here. Numeric values are pinned:
 * never renumber, only add. All integers are little-endian, fixed width, unaligned in the
 * stream (read them with memcpy). A reader rejects version > PERFSHIM_TRACE_VERSION.
 *
 * File layout:
 *   file header (uncompressed, ps_file_header_t + exe path + cmdline [+ u32 checksum])
 *   chunk*      (ps_chunk_header_t, then one independent zstd frame of `csize` bytes that
 *                decompresses to exactly `usize` bytes of records)
 * Every record inside a chunk was made by the thread `tid` named in the chunk header, in
 * time order. Chunks of different threads interleave in the file in no particular order; a
 * reader merges them by timestamp. A file cut short (crash, SIGKILL) is readable up to its
 * last whole chunk.
 */
#ifndef PERFSHIM_TRACE_FORMAT_H
#define PERFSHIM_TRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* The newest version this code reads and writes. Version 4 is what the writer writes: leak
 * verdicts by address (LEAK_BLOCKS, LEAK_SCAN flag BY_ADDRESS) and snapshot markers
 * (SNAPSHOT aux BY_REPLAY), which older readers cannot read; otherwise as 3 (columnar chunks,
 * PS_CHUNK_F_COLUMNS, sampled or not). 2 is a sampled trace (PS_FILE_F_SAMPLED) of row
 * chunks, 1 a full one: readers read them as they are. */
#define PERFSHIM_TRACE_VERSION 4u
#define PERFSHIM_TRACE_VERSION_FULL 1u /* the oldest: what synthetic test traces use */
#define PERFSHIM_FILE_MAGIC "PSTR"   /* 4 bytes, no NUL */
#define PERFSHIM_CHUNK_MAGIC 0x4b435350u /* "PSCK" read as little-endian u32 */

/* Bounds the reader enforces (and the writer never exceeds). */
#define PERFSHIM_MAX_CHUNK_USIZE (4u << 20) /* decompressed bytes in one chunk: the writer's
                                            * largest buffer (PERFSHIM_BUFFER_KB <= 4096; its
                                            * own stream 64 KiB); no writer ever wrote more */
#define PERFSHIM_MAX_DEPTH 256u              /* frames in one stack */
#define PERFSHIM_MAX_PATH 4096u              /* exe, module path */
#define PERFSHIM_MAX_CMDLINE 65536u

/* ---- file header ---------------------------------------------------------------------- */
typedef struct ps_file_header_s {
    char magic[4];            /* PERFSHIM_FILE_MAGIC */
    uint32_t version;         /* PERFSHIM_TRACE_VERSION of the writer: always the 2nd field */
    uint32_t header_len;      /* bytes from file start to the first chunk */
    uint32_t flags;           /* PS_FILE_F_* (0 before they existed) */
    uint32_t pid, ppid;
    uint64_t start_realtime_ns; /* CLOCK_REALTIME at start: wall-clock anchor */
    uint64_t start_mono_ns;     /* CLOCK_MONOTONIC at start: all event times use this clock */
    uint32_t clock_id;          /* the clockid_t of event timestamps (CLOCK_MONOTONIC = 1) */
    uint32_t page_size;
    uint32_t exe_len;           /* bytes of exe path that follow the fixed part */
    uint32_t cmdline_len;       /* bytes of cmdline (args separated by NUL) after exe path */
} ps_file_header_t;           /* 56 bytes, then exe path, then cmdline */

#define PS_FILE_F_FORK_CHILD 0x1u /* written by a fork child: its heap existed before the trace
                                   * began, so a free of an unknown address is not an error */
#define PS_FILE_F_AFTER_EXEC 0x2u /* reopened after a failed exec ended the previous trace */
#define PS_FILE_F_HEADER_SUM 0x4u /* the header's last 4 bytes (at header_len - 4) are
                                   * ps_fnv1a32 of the header_len - 4 bytes before them. Without
                                   * this flag (writers before 2026-11-30) header_len is exactly
                                   * 56 + exe_len + cmdline_len; with it, at least that + 4. */
#define PS_FILE_F_CROSS_FREES 0x8u /* FREE records carry PS_FREE_F_CROSS_THREAD (the writer
                                    * kept its live set: PERFSHIM_LEAK_CHECK=1); without this
                                    * flag (writers before 2026-12-01, or the live set off)
                                    * whether a free crossed threads is unknown */
#define PS_FILE_F_SAMPLED 0x10u /* sampled mode (PERFSHIM_SAMPLE_BYTES, version >= 2): a
                                 * ps_file_sampling_t follows the command line (before the
                                 * checksum, which PS_FILE_F_HEADER_SUM then requires); only
                                 * sampled allocations and their releases are in the trace */

/* Sampled mode's parameters (PS_FILE_F_SAMPLED): a successful allocation of s bytes was
 * recorded with probability p(s) = 1 - exp(-(s + 1) / mean_bytes), independently of the
 * others (failed ones are not recorded). */
typedef struct ps_file_sampling_s {
    uint64_t mean_bytes; /* N: the mean of the exponential byte countdown between samples */
    uint64_t seed;       /* PERFSHIM_SAMPLE_SEED, 0: random */
} ps_file_sampling_t;    /* 16 bytes */

/* ---- chunk header --------------------------------------------------------------------- */
typedef struct ps_chunk_header_s {
    uint32_t magic;      /* PERFSHIM_CHUNK_MAGIC */
    uint16_t header_len; /* sizeof(ps_chunk_header_t) = 48; readers skip any extra */
    uint16_t flags;      /* PS_CHUNK_F_* */
    uint32_t csize;      /* bytes of the zstd frame that follows the header */
    uint32_t usize;      /* bytes of records it decompresses to (<= PERFSHIM_MAX_CHUNK_USIZE) */
    uint32_t tid;        /* thread whose records these are */
    uint32_t nevents;    /* heap/lock events (not metadata records) in the chunk */
    uint64_t t_first;    /* timestamp of the first and last timed record (0 if none) */
    uint64_t t_last;
    uint32_t seq;        /* per-thread chunk sequence number, from 0: gaps mean loss */
    uint32_t checksum;   /* FNV-1a 32 of the 44 bytes before this field */
} ps_chunk_header_t;

#define PS_CHUNK_F_INTERNAL 0x1u /* records of a shim thread (the writer): RSS samples, END */
/* Every record of the chunk is an allocation or release (ALLOC_P, FREE_P; in a columnar chunk
 * ALLOC, FREE), whole: a reader that wants no heap event may skip the chunk without
 * decompressing it (t_first, t_last and nevents say all it holds: nevents records). Writers
 * before 2026-12-01 never set it; readers that do not know it ignore it. */
#define PS_CHUNK_F_HEAP_ONLY 0x2u
#define PS_CHUNK_F_COLUMNS 0x4u  /* (version 3) the frame holds a columnar body (trace_cols.h):
                                  * usize is its length; it decodes to the records */

/* ---- records -------------------------------------------------------------------------- */
/* Every record starts with this; `len` counts the whole record, header included, so a
 * reader skips types it does not know. Types 0xE0..0xFF are "skippable" by contract:
 * annotations a reader may ignore without losing any count. */
typedef struct ps_rec_hdr_s {
    uint8_t type; /* ps_rec_type */
    uint8_t aux;  /* per type: the allocation function (ps_alloc_fn) for heap events */
    uint16_t len; /* total bytes of this record, >= 4 */
} ps_rec_hdr_t;

/* The one list of record types. Everything that depends on the set of types is generated
 * from it: the enum below, the size checks at the end of this file, the reader's decoder
 * switch and record_type_name() (analyzer/core/reader.c), dump's printer dispatch
 * (analyzer/cmd/dump.c), the per-type pack/unpack functions (trace_pack.h) and what the
 * writer counts as an event or reads as a timestamp (ps_rec_is_event, ps_rec_ts_offset).
 *   X(NAME, value, "dump name", struct, fixed size, min len, record_t member, decoder, class)
 * fixed size: sizeof the struct (checked below); min len: the shortest record a reader
 * accepts (a longer one is fine: later fields are skipped); decoder: how the reader takes it
 * (COPY: the fixed part copied out, shorter older records zero-filled up to min len; the others
 * are functions in reader.c); class: EVENT (a heap or lock event: counts in a chunk's nevents
 * and END's events, timed), TIMED (ts u64 at the struct's `ts`), UNTIMED, PACKED (a varint
 * form of the fixed record named by its struct, see "Packed records" below).
 * Comments per type are on the structs below; docs/trace-format.md has the prose. */
#define PS_RECORD_TYPES(X)                                                                     \
    X(THREAD_START, 0x01, "thread_start", ps_rec_thread_t, 16, 16, thread, THREAD, TIMED)      \
    X(THREAD_EXIT, 0x02, "thread_exit", ps_rec_thread_t, 16, 16, thread, THREAD, TIMED)        \
    X(MODMAP, 0x03, "modmap", ps_rec_modmap_t, 24, 24, modmap, MODMAP, TIMED)                  \
    X(MODULE, 0x04, "module", ps_rec_module_t, 24, 24, module, MODULE, UNTIMED)                \
    X(STACK, 0x05, "stack", ps_rec_stack_t, 16, 16, stack, STACK, UNTIMED)                     \
    X(ALLOC, 0x10, "alloc", ps_rec_alloc_t, 40, 40, alloc, COPY, EVENT)                        \
    X(FREE, 0x11, "free", ps_rec_free_t, 24, 24, free, COPY, EVENT)                            \
    X(REALLOC, 0x12, "realloc", ps_rec_realloc_t, 48, 48, realloc, COPY, EVENT)                \
    X(ALLOC_P, 0x13, "alloc_packed", ps_rec_alloc_t, 40, 4, alloc, ALLOC_P, PACKED)            \
    X(FREE_P, 0x14, "free_packed", ps_rec_free_t, 24, 4, free, FREE_P, PACKED)                 \
    X(REALLOC_P, 0x15, "realloc_packed", ps_rec_realloc_t, 48, 4, realloc, REALLOC_P, PACKED)  \
    X(RSS, 0x20, "rss", ps_rec_rss_t, 32, 32, rss, COPY, TIMED)                                \
    X(ALLOC_COST, 0x21, "alloc_cost", ps_rec_alloc_cost_t, 136, 136, alloc_cost, COPY, UNTIMED)\
    X(LOCK_WAIT, 0x30, "lock_wait", ps_rec_lock_wait_t, 48, 48, lock_wait, COPY, EVENT)        \
    X(LOCK_SITE, 0x31, "lock_site", ps_rec_lock_site_t, 464, 464, lock_site, COPY, EVENT)      \
    X(LOCK_INIT, 0x32, "lock_init", ps_rec_lock_init_t, 32, 32, lock_init, COPY, EVENT)        \
    X(LOCK_EDGE, 0x33, "lock_edge", ps_rec_lock_edge_t, 40, 40, lock_edge, COPY, EVENT)        \
    X(LOCK_INFO, 0x34, "lock_info", ps_rec_lock_info_t, 24, 24, lock_info, COPY, EVENT)        \
    X(LOCK_THREAD, 0x35, "lock_thread", ps_rec_lock_thread_t, 32, 32, lock_thread, COPY, EVENT)\
    X(LOCK_ALLOC, 0x36, "lock_alloc", ps_rec_lock_alloc_t, 48, 48, lock_alloc, COPY, EVENT)     \
    X(LEAK_SCAN, 0x40, "leak_scan", ps_rec_leak_scan_t, 168, 112, leak_scan, COPY, TIMED)      \
    X(LEAK, 0x41, "leak", ps_rec_leak_t, 48, 48, leak, LEAK, TIMED)                            \
    X(LEAK_SUPP, 0x42, "leak_suppressions", ps_rec_leak_supp_t, 16, 16, leak_supp, LEAK_SUPP,  \
      TIMED)                                                                                   \
    X(SNAPSHOT, 0x43, "snapshot", ps_rec_snapshot_t, 40, 40, snapshot, COPY, TIMED)            \
    X(SNAPSHOT_SITE, 0x44, "snapshot_site", ps_rec_snapshot_site_t, 40, 40, snapshot_site,     \
      COPY, TIMED)                                                                             \
    X(LEAK_BLOCKS, 0x45, "leak_blocks", ps_rec_leak_blocks_t, 16, 16, leak_blocks, LEAK_BLOCKS,\
      TIMED)                                                                                   \
    X(CRASH, 0x50, "crash", ps_rec_crash_t, 32, 32, crash, COPY, TIMED)                        \
    X(END, 0x7f, "end", ps_rec_end_t, 72, 72, end, COPY, TIMED)
/* Reserved: 0x37..0x3f more lock records (PS_REC_LOCK_FIRST..PS_REC_LOCK_LAST: every type there
 * is a lock event, known or not); 0x45..0x4f leak checking; 0x51..0x5f process-shape markers;
 * 0xe0..0xff skippable annotations (a reader may ignore them without losing any count). */

enum ps_rec_type {
#define PS_X(NAME, val, str, T, size, min, member, dec, cls) PS_REC_##NAME = val,
    PS_RECORD_TYPES(PS_X)
#undef PS_X
    PS_REC_LOCK_FIRST = 0x30, /* lock records: preload/hooks_lock.c, preload/locktab.c */
    PS_REC_LOCK_LAST = 0x3f,
    PS_REC_SKIPPABLE_FIRST = 0xe0,
};

/* Which function made a heap event (rec_hdr.aux). */
#define PS_ALLOC_FN_LIST(X)                                                                    \
    X(MALLOC, 1, "malloc")                                                                     \
    X(CALLOC, 2, "calloc")                                                                     \
    X(REALLOC, 3, "realloc")                                                                   \
    X(REALLOCARRAY, 4, "reallocarray")                                                         \
    X(POSIX_MEMALIGN, 5, "posix_memalign")                                                     \
    X(ALIGNED_ALLOC, 6, "aligned_alloc")                                                       \
    X(MEMALIGN, 7, "memalign")                                                                 \
    X(VALLOC, 8, "valloc")                                                                     \
    X(PVALLOC, 9, "pvalloc")                                                                   \
    X(FREE, 10, "free")                                                                        \
    /* C++ (preload/hooks_cxx.c): 11..18 allocate, 19..30 release */                          \
    X(NEW, 11, "operator new")                                                                 \
    X(NEW_NOTHROW, 12, "operator new(nothrow)")                                                \
    X(NEW_ALIGNED, 13, "operator new(align)")                                                  \
    X(NEW_ALIGNED_NOTHROW, 14, "operator new(align, nothrow)")                                 \
    X(NEW_ARRAY, 15, "operator new[]")                                                         \
    X(NEW_ARRAY_NOTHROW, 16, "operator new[](nothrow)")                                        \
    X(NEW_ARRAY_ALIGNED, 17, "operator new[](align)")                                          \
    X(NEW_ARRAY_ALIGNED_NOTHROW, 18, "operator new[](align, nothrow)")                         \
    X(DELETE, 19, "operator delete")                                                           \
    X(DELETE_SIZED, 20, "operator delete(sized)")                                              \
    X(DELETE_ALIGNED, 21, "operator delete(align)")                                            \
    X(DELETE_SIZED_ALIGNED, 22, "operator delete(sized, align)")                               \
    X(DELETE_NOTHROW, 23, "operator delete(nothrow)")                                          \
    X(DELETE_ALIGNED_NOTHROW, 24, "operator delete(align, nothrow)")                           \
    X(DELETE_ARRAY, 25, "operator delete[]")                                                   \
    X(DELETE_ARRAY_SIZED, 26, "operator delete[](sized)")                                      \
    X(DELETE_ARRAY_ALIGNED, 27, "operator delete[](align)")                                    \
    X(DELETE_ARRAY_SIZED_ALIGNED, 28, "operator delete[](sized, align)")                       \
    X(DELETE_ARRAY_NOTHROW, 29, "operator delete[](nothrow)")                                  \
    X(DELETE_ARRAY_ALIGNED_NOTHROW, 30, "operator delete[](align, nothrow)")

enum ps_alloc_fn {
#define PS_X(name, val, str) PS_FN_##name = val,
    PS_ALLOC_FN_LIST(PS_X)
#undef PS_X
    PS_FN_COUNT_
};
/* The aux bits of a heap record that hold its ps_alloc_fn; the bits above are flags. */
#define PS_ALLOC_FN_MASK 0x1fu
/* FREE aux flag: the block was allocated by another thread than the one releasing it (set
 * only in traces with PS_FILE_F_CROSS_FREES; its absence there means the same thread). */
#define PS_FREE_F_CROSS_THREAD 0x80u

/* Allocator families: a block must be released by the family that allocated it (malloc's by
 * free or realloc, new's by delete, new[]'s by delete[]); anything else is a mismatch. */
enum ps_alloc_family { PS_FAM_UNKNOWN = 0, PS_FAM_MALLOC, PS_FAM_NEW, PS_FAM_NEW_ARRAY };

static inline int ps_alloc_family(uint8_t fn)
{
    if (fn >= PS_FN_MALLOC && fn <= PS_FN_FREE)
        return PS_FAM_MALLOC;
    if ((fn >= PS_FN_NEW && fn <= PS_FN_NEW_ALIGNED_NOTHROW) ||
        (fn >= PS_FN_DELETE && fn <= PS_FN_DELETE_ALIGNED_NOTHROW))
        return PS_FAM_NEW;
    if ((fn >= PS_FN_NEW_ARRAY && fn <= PS_FN_NEW_ARRAY_ALIGNED_NOTHROW) ||
        (fn >= PS_FN_DELETE_ARRAY && fn <= PS_FN_DELETE_ARRAY_ALIGNED_NOTHROW))
        return PS_FAM_NEW_ARRAY;
    return PS_FAM_UNKNOWN;
}
/* What kind of object a lock record is about (rec_hdr.aux of every lock record). */
#define PS_LOCK_KIND_LIST(X)                                                                   \
    X(MUTEX, 1, "mutex")                                                                       \
    X(RWLOCK, 2, "rwlock")                                                                     \
    X(SPINLOCK, 3, "spinlock")                                                                 \
    X(COND, 4, "condvar")

enum ps_lock_kind {
#define PS_X(name, val, str) PS_LOCK_##name = val,
    PS_LOCK_KIND_LIST(PS_X)
#undef PS_X
};

/* How a lock was asked for (ps_rec_lock_wait_t.op). */
#define PS_LOCK_OP_LIST(X)                                                                     \
    X(LOCK, 1, "lock")         /* mutex_lock, spin_lock */                                     \
    X(TIMEDLOCK, 2, "timedlock") /* mutex_timedlock, mutex_clocklock */                        \
    X(RDLOCK, 3, "rdlock")                                                                     \
    X(WRLOCK, 4, "wrlock")                                                                     \
    X(TIMEDRDLOCK, 5, "timedrdlock") /* also the clock variants */                             \
    X(TIMEDWRLOCK, 6, "timedwrlock")

enum ps_lock_op {
#define PS_X(name, val, str) PS_LOCK_OP_##name = val,
    PS_LOCK_OP_LIST(PS_X)
#undef PS_X
};

/* log2 histograms of lock records: bucket 0 holds 0, bucket b >= 1 holds [2^(b-1), 2^b) ns,
 * and the last bucket also everything above. */
#define PS_LOCK_HIST 40

typedef struct ps_rec_thread_s {
    ps_rec_hdr_t h;
    uint32_t tid;
    uint64_t ts;
    /* then the thread name (no NUL), len - 16 bytes, at most 15 */
} ps_rec_thread_t; /* 16 bytes + name */

typedef struct ps_rec_modmap_s {
    ps_rec_hdr_t h;
    uint32_t epoch; /* 0 at start, +1 after each dlopen/dlclose that changed the map */
    uint64_t ts;
    uint32_t count; /* PS_REC_MODULE records that follow in the same stream (a dlopen racing
                     * the emission may make it differ: take the records as they come) */
    uint32_t pad;
} ps_rec_modmap_t; /* 24 bytes */

typedef struct ps_segment_s {
    uint64_t vaddr; /* p_vaddr of the PT_LOAD segment; runtime address = base + vaddr */
    uint64_t memsz;
    uint32_t flags; /* p_flags: PF_X 1, PF_W 2, PF_R 4 */
    uint32_t pad;
} ps_segment_t; /* 24 bytes */

typedef struct ps_rec_module_s {
    ps_rec_hdr_t h;
    uint32_t epoch;
    uint64_t base;      /* load bias (dlpi_addr) */
    uint16_t nseg;      /* ps_segment_t that follow */
    uint8_t buildid_len;/* GNU build-id bytes after the segments, 0 if none */
    uint8_t pad;
    uint16_t path_len;  /* path bytes after the build-id (no NUL); the main program is named
                         * by its resolved path (/proc/self/exe), the vDSO "linux-vdso.so.1" */
    uint16_t pad2;
} ps_rec_module_t; /* 24 bytes + segments + build-id + path */

typedef struct ps_rec_stack_s {
    ps_rec_hdr_t h;
    uint32_t id;    /* >= 1; id 0 means "no stack" */
    uint32_t depth; /* return addresses that follow, innermost (caller of the hook) first */
    uint32_t pad;
    /* then uint64_t ip[depth] */
} ps_rec_stack_t; /* 16 bytes + 8 * depth */

typedef struct ps_rec_alloc_s {
    ps_rec_hdr_t h;   /* aux = ps_alloc_fn */
    uint32_t stack;   /* interned stack id, 0 if none */
    uint64_t ts;      /* taken after the real allocator returned */
    uint64_t ptr;     /* 0: the allocation failed */
    uint64_t size;    /* bytes asked for (nmemb*size for calloc) */
    uint64_t align;   /* alignment asked for, 0 for the unaligned functions */
} ps_rec_alloc_t; /* 40 bytes */

typedef struct ps_rec_free_s {
    ps_rec_hdr_t h; /* aux = ps_alloc_fn */
    uint32_t stack; /* stack of the release, 0 if not recorded (PERFSHIM_FREE_STACKS: by default
                     * only the C++ delete family records one; writers before that wrote 0) */
    uint64_t ts;    /* taken before the real free */
    uint64_t ptr;   /* never 0: free(NULL) is not recorded */
} ps_rec_free_t; /* 24 bytes */

typedef struct ps_rec_realloc_s {
    ps_rec_hdr_t h;     /* aux = PS_FN_REALLOC or PS_FN_REALLOCARRAY */
    uint32_t stack;
    uint64_t ts_before; /* before the real call: old_ptr is released no earlier than this */
    uint64_t ts;        /* after it returned: new_ptr is owned from this time on */
    uint64_t old_ptr;   /* 0: acts as malloc */
    uint64_t new_ptr;   /* 0 with size > 0: failed, old_ptr still live; 0 with size 0: freed */
    uint64_t size;
} ps_rec_realloc_t; /* 48 bytes */

typedef struct ps_rec_rss_s {
    ps_rec_hdr_t h;
    uint32_t pad;
    uint64_t ts;
    uint64_t rss_bytes; /* resident set, /proc/self/statm, includes the shim's own memory */
    uint64_t shim_bytes;/* the shim's own part of rss_bytes: its mappings' resident pages
                         * (buffers, live set, stack and lock tables; mincore, refreshed
                         * every 100 ms); traces before it: the bytes it held mapped */
} ps_rec_rss_t; /* 32 bytes */

/* The time spent inside the real allocator, measured around the calls (the TSC, scaled by
 * its calibration; CLOCK_MONOTONIC without an invariant TSC) and summed per thread and stack:
 * one record per (thread, stack, aux) written when the thread exits and, for the threads
 * still running, at the end (in the stream of the thread that ends the trace: `tid` names
 * the thread measured). Every call is counted (`calls`); the malloc family's and the
 * releases' calls are timed one in PS_COST_PERIOD, at random (`sampled` of them, their
 * durations in `hist`), realloc's too, and `ns` is the estimated total: the sampled calls'
 * ns scaled by calls / sampled (0 when none was sampled). aux: PS_COST_ALLOC, the allocating
 * calls (the malloc family, realloc, operator new) by the allocation's stack id (0: recorded
 * without a stack); PS_COST_RELEASE, the releasing calls (free, operator delete), stack 0:
 * the thread's total. */
#define PS_COST_ALLOC 0u
#define PS_COST_RELEASE 1u
#define PS_COST_PERIOD 16u /* one call in this many is timed (at random; 8 until issue 18's hook4) */
#define PS_COST_BUCKETS 24u /* hist[0]: < 2 ns; hist[i]: [2^i, 2^(i+1)) ns; hist[23]: >= 2^23 */
typedef struct ps_rec_alloc_cost_s {
    ps_rec_hdr_t h; /* aux: PS_COST_ALLOC or PS_COST_RELEASE */
    uint32_t stack;
    uint32_t tid;
    uint32_t pad;
    uint64_t calls;
    uint64_t ns;      /* estimated total ns inside the real functions (see above) */
    uint64_t sampled; /* calls timed */
    uint32_t hist[PS_COST_BUCKETS]; /* the timed calls by their ns, log2 buckets */
} ps_rec_alloc_cost_t; /* 136 bytes */

typedef struct ps_rec_crash_s {
    ps_rec_hdr_t h;  /* aux = 0 */
    uint32_t signo;  /* the fatal signal (SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL) */
    uint64_t ts;
    uint64_t addr;   /* si_addr (the faulting address; 0 for SIGABRT) */
    uint32_t tid;    /* the thread that received it */
    int32_t code;    /* si_code */
} ps_rec_crash_t;    /* 32 bytes */

typedef struct ps_rec_end_s {
    ps_rec_hdr_t h;
    uint32_t stacks_shallow;  /* events recorded with their caller only (unwinding was not
                               * safe: little stack left, a foreign stack, inside the loader's
                               * lock); saturates; 0 in traces before it was counted (was pad) */
    uint64_t ts;
    uint64_t events;          /* heap/lock events written to the trace */
    uint64_t dropped;         /* events the app made that are not in the trace */
    uint64_t stacks;          /* distinct stacks interned */
    uint64_t stacks_dropped;  /* events recorded with stack 0 because the table was full */
    uint64_t chunks;          /* chunks written, this one included */
    uint64_t threads;         /* threads seen */
    uint64_t chunks_inline;   /* chunks an app thread compressed itself (backpressure) */
} ps_rec_end_t; /* 72 bytes */

/* ---- leak records (0x40..0x4f) -------------------------------------------------------------
 * Written in the shim's own stream (chunks with PS_CHUNK_F_INTERNAL), before END: one
 * LEAK_SCAN, then `groups` LEAK records, then at most one LEAK_SUPP. SNAPSHOT records (each
 * followed by `sites` SNAPSHOT_SITE records) can come at any time before. Every one has its
 * timestamp at offset 8, like the other timed records. */
enum ps_leak_kind {
    PS_LEAK_DEFINITE = 1,  /* reachable from no root and from no other unreachable block */
    PS_LEAK_INDIRECT = 2,  /* reachable only from unreachable blocks */
    PS_LEAK_REACHABLE = 3, /* reachable from a root (globals, stacks, TLS) at exit */
};

#define PS_LEAK_F_UNTRACKED 0x1u /* some allocations were not in the live set (out of memory):
                                  * they are neither blocks nor roots of this scan */
#define PS_LEAK_F_RANGES 0x2u    /* more root ranges than the scan holds: some were skipped */
#define PS_LEAK_F_ABORTED 0x4u   /* the scan could not run (no memory for it): nothing is
                                  * classified; the counts are 0 */
#define PS_LEAK_F_NO_MAPS 0x8u   /* /proc/self/maps unreadable: heap blocks were read through
                                  * process_vm_readv and writable mappings were not roots */
#define PS_LEAK_F_ON_DEMAND 0x10u /* a scan the app asked for (__lsan_do_leak_check or
                                   * __lsan_do_recoverable_leak_check), not the exit scan */
#define PS_LEAK_F_TURNED_OFF 0x40u /* the app's __lsan_is_turned_off() or detect_leaks=0:
                                    * no scan, nothing to judge */
#define PS_LEAK_F_THREADS 0x20u  /* more threads than the scan holds: the stacks of the rest
                                  * were scanned whole (as mappings) */
#define PS_LEAK_F_BY_ADDRESS 0x80u /* verdicts by address (shims that keep no stack per live
                                    * block): `groups` counts the LEAK_BLOCKS records that
                                    * follow (no LEAK records); the reader attributes each
                                    * block to its allocation site from its own replay at the
                                    * scan's ts, and the reachable blocks not listed are every
                                    * other block live then (see ps_rec_leak_blocks_t) */

typedef struct ps_rec_leak_scan_s {
    ps_rec_hdr_t h;
    uint32_t flags;             /* PS_LEAK_F_* */
    uint64_t ts;                /* when the scan started; BY_ADDRESS: when it held every live-set
                                 * lock (liveset_mark_time: the replay at ts is the set it saw) */
    uint64_t duration_ns;
    uint64_t blocks;            /* live blocks the scan classified */
    uint64_t root_bytes;        /* bytes of roots scanned */
    uint64_t untracked;         /* allocations missing from the live set (see flags) */
    uint64_t definite_blocks, definite_bytes;
    uint64_t indirect_blocks, indirect_bytes;
    uint64_t reachable_blocks, reachable_bytes;
    uint64_t possible_blocks;   /* of the indirect and reachable: reached through interior
                                 * pointers only (valgrind's "possibly") */
    uint64_t groups;            /* PS_REC_LEAK records that follow */
    /* from here on: records of 168 bytes (older shims wrote 112; readers zero these) */
    uint64_t threads;           /* threads whose stacks were scanned */
    uint64_t stack_bytes;       /* of root_bytes: thread stacks, from each stack pointer up
                                 * (since the 168-byte record, root_bytes and these count
                                 * the bytes read: resident pages only) */
    uint64_t region_bytes;      /* of root_bytes: writable anonymous and other mappings that
                                 * are not heap, stacks or module segments */
    uint64_t unreadable_bytes;  /* bytes of blocks and roots skipped: not readable */
    uint64_t scan_mem_bytes;    /* the scan's own memory (mapped, then released) */
    uint64_t inherited_blocks;  /* of blocks: inherited from the parent (a fork child) */
    uint64_t ignored_blocks;    /* of reachable: ignored (__lsan_ignore_object, allocated
                                 * while __lsan_disable'd), with what they hold */
} ps_rec_leak_scan_t; /* 168 bytes */
#define PS_LEAK_SCAN_V1_SIZE 112u

typedef struct ps_rec_leak_s {
    ps_rec_hdr_t h;          /* aux = ps_leak_kind */
    uint32_t stack;          /* allocation stack of the blocks (0: none recorded) */
    uint64_t ts;             /* the scan's ts */
    uint32_t holder;         /* INDIRECT: allocation stack of the definite block that holds
                              * them; 0 otherwise */
    uint32_t flags;          /* PS_LEAK_REC_F_* (0 in traces of older shims) */
    uint64_t blocks, bytes;  /* bytes asked for */
    uint64_t possible_blocks;/* of these, reached through interior pointers only */
} ps_rec_leak_t; /* 48 bytes */

#define PS_LEAK_REC_F_INHERITED 0x1u /* blocks a fork child inherited from its parent: their
                                      * stack is 0 (it is in the parent's trace) */

/* Verdicts by address (LEAK_SCAN flag PS_LEAK_F_BY_ADDRESS): the blocks the scan found not
 * plainly reachable, in any order, PS_LEAK_BLOCKS_MAX at most per record. Every DEFINITE and
 * INDIRECT block is listed, and every REACHABLE one reached through interior pointers only
 * (flag POSSIBLE); a reachable block not listed was reached through a pointer to its start.
 * Entries are numbered 0, 1, ... across the scan's LEAK_BLOCKS records in order. A later entry
 * for the same ptr replaces the earlier one (a clique leader that a later leader's flood met:
 * it and what it holds become that leader's). An INDIRECT entry's holder is the number of an
 * earlier or later entry; following holders ends at the DEFINITE block that holds it (the
 * old LEAK record's `holder` is that block's allocation stack). A ptr the reader's replay does
 * not hold live at ts is a block a fork child inherited (PS_LEAK_REC_F_INHERITED, stack 0).
 * The reader checks the LEAK_SCAN totals against what it attributed. */
typedef struct ps_rec_leak_blocks_s {
    ps_rec_hdr_t h;          /* aux 0; len = 16 + 16 * n */
    uint32_t n;              /* ps_leak_block_t entries that follow */
    uint64_t ts;             /* the scan's ts */
} ps_rec_leak_blocks_t;      /* 16 bytes + entries */
typedef struct ps_leak_block_s {
    uint64_t ptr;            /* the block's start */
    uint32_t holder;         /* INDIRECT: an entry's number (above); else PS_LEAK_NO_HOLDER */
    uint8_t kind;            /* ps_leak_kind */
    uint8_t flags;           /* PS_LEAK_BLOCK_F_* */
    uint16_t pad;
} ps_leak_block_t;           /* 16 bytes */
#define PS_LEAK_NO_HOLDER UINT32_MAX
#define PS_LEAK_BLOCK_F_POSSIBLE 0x1u /* reached through interior pointers only */
#define PS_LEAK_BLOCKS_MAX 4000u      /* entries per record (len stays below 65536) */

typedef struct ps_rec_leak_supp_s {
    ps_rec_hdr_t h;
    uint32_t pad;
    uint64_t ts;
    /* then the text (no NUL), len - 16 bytes, cut at PS_LEAK_SUPP_MAX */
} ps_rec_leak_supp_t; /* 16 bytes + text */
#define PS_LEAK_SUPP_MAX 32768u

typedef struct ps_rec_snapshot_s {
    ps_rec_hdr_t h;
    uint32_t seq;            /* 0, 1, ... per process */
    uint64_t ts;
    uint64_t sites;          /* PS_REC_SNAPSHOT_SITE records that follow */
    uint64_t live_blocks, live_bytes;
} ps_rec_snapshot_t; /* 40 bytes */
#define PS_SNAPSHOT_F_BY_REPLAY 0x1u /* aux: no SNAPSHOT_SITE records follow (sites 0): the
                                      * shim keeps no stack per live block; the reader computes
                                      * the sites from its replay at ts */

typedef struct ps_rec_snapshot_site_s {
    ps_rec_hdr_t h;
    uint32_t seq;
    uint64_t ts;
    uint32_t stack;
    uint32_t pad;
    uint64_t blocks, bytes;  /* live at the snapshot */
} ps_rec_snapshot_site_t; /* 40 bytes */
/* A contended acquisition: the trylock found the lock busy and the thread blocked. The waiter
 * is the stream's thread, unless aux has PS_LOCK_WAIT_F_TID: then `tid` (a wait still pending
 * at the end, by a thread still running, is written into the ending thread's stream). */
#define PS_LOCK_WAIT_F_TID 0x80u
#define PS_LOCK_WAIT_KIND(aux) ((unsigned)(aux) & ~PS_LOCK_WAIT_F_TID & 0xffu)
typedef struct ps_rec_lock_wait_s {
    ps_rec_hdr_t h;        /* aux = ps_lock_kind | PS_LOCK_WAIT_F_TID */
    uint32_t stack;        /* the waiter's site (stack of the first acquisition from there) */
    uint64_t ts;           /* when the wait ended (CLOCK_MONOTONIC) */
    uint64_t lock;         /* address of the lock */
    uint64_t wait_ns;
    uint32_t holder_tid;   /* thread holding the lock when the wait began, 0 if unknown */
    uint32_t holder_stack; /* the holder's acquisition site, 0 if unknown */
    uint16_t op;           /* ps_lock_op */
    uint16_t result;       /* 0 acquired, ETIMEDOUT: a timed lock gave up */
    uint32_t tid;          /* with PS_LOCK_WAIT_F_TID in aux: the waiting thread (else 0: the
                              stream's thread; writers before 2026-11-24 wrote the number of
                              threads waiting here, without the flag) */
} ps_rec_lock_wait_t;      /* 48 bytes */

/* The u64 counters of a LOCK_SITE record, in record order: X(name, merge), merge SUM (the
 * totals of several records add up) or MAX (the largest wins). The one list of them: the
 * record below, the shim's site table (preload/locktab.h: declared, packed, zeroed), dump's
 * printer and the analyzer's per-lock totals (analyzer/analyses/locks.h, locks.c) use it.
 * Never reorder: the order is the record's layout. */
#define PS_LOCK_COUNTERS(X)                                                                    \
    X(acquisitions, SUM)    /* successful, any function (lock, trylock, timed, cond re-lock) */\
    X(contended, SUM)       /* waits: the trylock found it busy (acquired or timed out) */     \
    X(owner_changes, SUM)   /* acquisitions by another thread than the previous one */         \
    X(trylock_fail, SUM)    /* EBUSY from a trylock function */                                \
    X(timeouts, SUM)        /* ETIMEDOUT from a timed function */                              \
    X(errors, SUM)          /* any other error returned (EDEADLK, EPERM, EOWNERDEAD...) */     \
    X(rd_acquisitions, SUM) /* rwlock: of `acquisitions`, the read side */                     \
    X(wait_ns, SUM)                                                                            \
    X(wait_max_ns, MAX)                                                                        \
    X(hold_ns, SUM)                                                                            \
    X(hold_max_ns, MAX)                                                                        \
    X(allocs_held, SUM)     /* allocations this thread recorded while holding the lock */      \
    X(signals, SUM)         /* condvar only */                                                 \
    X(broadcasts, SUM)      /* condvar only */
/* Only the SUM counters: PS_LOCK_IF_SUM_##merge(code) */
#define PS_LOCK_IF_SUM_SUM(...) __VA_ARGS__
#define PS_LOCK_IF_SUM_MAX(...)

/* The totals of one site of one lock in one thread, emitted at thread exit and at the end.
 * A site is the call site of the lock function (its return address); `stack` is the stack
 * of the first acquisition seen there. For a condvar (aux = PS_LOCK_COND) `acquisitions`
 * counts waits, wait_* their duration, and signals/broadcasts the calls from this site; the
 * re-acquisition of the mutex by a wait counts as an acquisition of that mutex at the same
 * call site. hold_* cover every hold (writers before 2026-11-24 timed 1 in 16 per site); their
 * count is the sum of hold_hist. wait_* cover every contended acquisition. Also written by
 * the shim's fatal-signal handler (then in the shim's own stream: `tid` names the thread).
 * aux bit PS_LOCK_SITE_F_SNAPSHOT: a snapshot, read by the writer while the thread runs (every
 * PS_LOCK_SNAPSHOT_FLUSHES flush periods, the sites that changed since the last one, in the
 * shim's own stream): the thread's totals since its table was last emitted, so that a
 * process killed with SIGKILL keeps them. A later LOCK_SITE of the same (tid, lock, stack)
 * supersedes it, a snapshot or a final record; a reader adds the latest snapshot of each key
 * that no final record followed (writers before 2026-12-01 15:00 UTC wrote none). */
#define PS_LOCK_SITE_F_SNAPSHOT 0x80u
#define PS_LOCK_SNAPSHOT_FLUSHES 10
typedef struct ps_rec_lock_site_s {
    ps_rec_hdr_t h;   /* aux = ps_lock_kind */
    uint32_t stack;
    uint64_t ts;      /* when emitted */
    uint64_t lock;
    uint32_t tid;
    uint32_t pad;
#define PS_X(name, merge) uint64_t name;
    PS_LOCK_COUNTERS(PS_X) /* 14 u64, in the list's order */
#undef PS_X
    uint32_t wait_hist[PS_LOCK_HIST];
    uint32_t hold_hist[PS_LOCK_HIST];
} ps_rec_lock_site_t; /* 464 bytes */

typedef struct ps_rec_lock_init_s {
    ps_rec_hdr_t h;  /* aux = ps_lock_kind */
    uint32_t stack;  /* of the pthread_*_init call */
    uint64_t ts;
    uint64_t lock;
    uint32_t attr;   /* mutex: PTHREAD_MUTEX_* type | 0x100 robust; 0 otherwise */
    uint32_t pad;
} ps_rec_lock_init_t; /* 32 bytes */

/* Lock `to` was acquired while `from` was held (first time this pair is seen in the process). */
typedef struct ps_rec_lock_edge_s {
    ps_rec_hdr_t h;
    uint32_t tid;
    uint64_t ts;
    uint64_t from, to;
    uint32_t from_stack; /* site of the held lock's acquisition */
    uint32_t to_stack;   /* site of this acquisition */
} ps_rec_lock_edge_t;    /* 40 bytes */

typedef struct ps_rec_lock_info_s {
    ps_rec_hdr_t h; /* aux = ps_lock_kind */
    uint32_t max_waiters;
    uint64_t ts;
    uint64_t lock;
} ps_rec_lock_info_t; /* 24 bytes */

typedef struct ps_rec_lock_thread_s {
    ps_rec_hdr_t h;
    uint32_t tid;
    uint64_t ts;
    uint64_t untracked; /* acquisitions not in any LOCK_SITE (the thread's site table was full) */
    uint64_t held_overflow; /* acquisitions whose hold time was not measured (too many held) */
} ps_rec_lock_thread_t; /* 32 bytes */

/* Allocations a thread recorded while holding a lock, by (innermost held lock, allocation
 * stack): written with the thread's LOCK_SITE records (at its exit, at the end; the totals of
 * several records add up). A thread whose table was full adds the rest to a record with
 * stack 0 and lock 0. Writers before 2026-12-01 wrote none. */
typedef struct ps_rec_lock_alloc_s {
    ps_rec_hdr_t h;      /* aux = ps_lock_kind of the lock */
    uint32_t stack;      /* the allocation's stack */
    uint64_t ts;         /* when emitted */
    uint64_t lock;       /* address of the innermost held lock */
    uint32_t lock_stack; /* that lock's acquisition site (stack of its first acquisition) */
    uint32_t tid;
    uint64_t count, bytes; /* allocation calls (realloc included) and bytes requested */
} ps_rec_lock_alloc_t;     /* 48 bytes */

#define PS_STATIC_SIZE(T, n) _Static_assert(sizeof(T) == (n), #T " size is part of the format")
PS_STATIC_SIZE(ps_file_header_t, 56);
PS_STATIC_SIZE(ps_chunk_header_t, 48);
PS_STATIC_SIZE(ps_rec_hdr_t, 4);
PS_STATIC_SIZE(ps_segment_t, 24);
#define PS_X(NAME, val, str, T, size, min, member, dec, cls)                                   \
    PS_STATIC_SIZE(T, size);                                                                   \
    _Static_assert((min) >= sizeof(ps_rec_hdr_t) && (min) <= (size), #NAME " min len");
PS_RECORD_TYPES(PS_X)
#undef PS_X

/* Record classes of PS_RECORD_TYPES. */
#define PS_RC_EVENT 1
#define PS_RC_TIMED 2
#define PS_RC_UNTIMED 3
#define PS_RC_PACKED 4
#define PS_TS_OFF_EVENT(T) (unsigned)offsetof(T, ts)
#define PS_TS_OFF_TIMED(T) (unsigned)offsetof(T, ts)
#define PS_TS_OFF_UNTIMED(T) 0u
#define PS_TS_OFF_PACKED(T) 0u

/* Per type: its class and the offset of its u64 timestamp (0: none), as one table lookup (the
 * writer asks for every record it packs). */
typedef struct ps_rec_info_s {
    uint8_t cls;    /* PS_RC_*, 0 for a type not in the list */
    uint8_t ts_off; /* offset of `ts` for EVENT and TIMED types, else 0 */
} ps_rec_info_t;
static const ps_rec_info_t ps_rec_info[256] = {
#define PS_X(NAME, val, str, T, size, min, member, dec, cls)                                   \
    [val] = {PS_RC_##cls, (uint8_t)PS_TS_OFF_##cls(T)},
    PS_RECORD_TYPES(PS_X)
#undef PS_X
};

/* 1 if a record of this type is a heap or lock event (counted in a chunk's nevents and END's
 * events): the EVENT types and every type of the lock range, known or not. */
static inline int ps_rec_is_event(uint8_t type)
{
    return ps_rec_info[type].cls == PS_RC_EVENT ||
           (type >= PS_REC_LOCK_FIRST && type <= PS_REC_LOCK_LAST);
}

/* Offset of the u64 timestamp in a fixed record of this type (REALLOC: `ts`, when the new
 * block is owned), 0 for a type without one (MODULE, STACK, the packed forms, unknown). */
static inline unsigned ps_rec_ts_offset(uint8_t type)
{
    return ps_rec_info[type].ts_off;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "perfshim writes its structs as little-endian; a big-endian port must byte-swap"
#endif

/* ---- packed records ---------------------------------------------------------------------
 * The writer stores ALLOC, FREE and REALLOC in a chunk in packed form when that is shorter:
 * the same header (aux = the function, len = the packed length), then LEB128 varints, signed
 * ones zigzag-coded, against a per-chunk state (ts0, ptr0) that starts at 0 at the chunk's
 * first record and is changed only by packed records:
 *   ALLOC_P:   zz(ts - ts0) zz(ptr - ptr0) size stack align;          then ts0 = ts, ptr0 = ptr
 *   FREE_P:    zz(ts - ts0) zz(ptr - ptr0) stack;                     then ts0 = ts, ptr0 = ptr
 *   REALLOC_P: zz(ts_before - ts0) (ts - ts_before) zz(old - ptr0) zz(new - old) size stack;
 *              then ts0 = ts, ptr0 = new
 * A varint is at most 10 bytes; the fields must end inside len (bytes after them are skipped,
 * for later additions). Each decodes to exactly the fixed record it stands for. */
#define PS_VARINT_MAX 10

static inline unsigned char *ps_uv_put(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

/* Reads a varint from [*p, end); returns 0 and advances *p, or -1 (truncated, too long). */
static inline int ps_uv_get(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    uint64_t r = 0;
    const unsigned char *q = *p;
    /* most varints of a trace are one to three bytes: no loop for them */
    if (q < end && q[0] < 0x80) {
        *v = q[0];
        *p = q + 1;
        return 0;
    }
    if (end - q >= 2 && q[1] < 0x80) { /* q[0] >= 0x80 here */
        *v = (uint64_t)(q[0] & 0x7f) | (uint64_t)q[1] << 7;
        *p = q + 2;
        return 0;
    }
    if (end - q >= 3 && q[2] < 0x80) { /* q[0], q[1] >= 0x80 here */
        *v = (uint64_t)(q[0] & 0x7f) | (uint64_t)(q[1] & 0x7f) << 7 | (uint64_t)q[2] << 14;
        *p = q + 3;
        return 0;
    }
    for (unsigned shift = 0; q < end && shift < 7 * PS_VARINT_MAX; shift += 7) {
        unsigned char b = *q++;
        if (shift == 63 && b > 1)
            return -1; /* more than 64 bits */
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *p = q;
            *v = r;
            return 0;
        }
    }
    return -1;
}

static inline uint64_t ps_zz(uint64_t delta) /* delta as two's complement */
{
    return (delta << 1) ^ (uint64_t)((int64_t)delta >> 63);
}

static inline uint64_t ps_unzz(uint64_t u)
{
    return (u >> 1) ^ (uint64_t)-(int64_t)(u & 1);
}

/* FNV-1a 32 over n bytes: the chunk and file header checksums. ps_fnv1a32_more continues a
 * hash over more bytes (start from PS_FNV1A32_INIT): a header can be hashed piecewise. */
#define PS_FNV1A32_INIT 2166136261u
static inline uint32_t ps_fnv1a32_more(uint32_t h, const void *p, uint32_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static inline uint32_t ps_fnv1a32(const void *p, uint32_t n)
{
    return ps_fnv1a32_more(PS_FNV1A32_INIT, p, n);
}

#endif /* PERFSHIM_TRACE_FORMAT_H */
