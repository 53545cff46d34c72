/*
 * imem.h -- the shim's own memory: anonymous mappings, never the app's heap.
 *
 * Contract: thread-safe, lock-free, callable from hooks. imem_alloc returns zeroed memory
 * (rounded up to whole pages) or NULL; imem_free takes what imem_alloc returned. Every byte
 * the shim maps is counted in imem_bytes() so reports can separate the tool's overhead from
 * the app's memory. imem_zstd gives zstd an allocator that uses these mappings.
 */
#ifndef PERFSHIM_IMEM_H
#define PERFSHIM_IMEM_H

#include <stddef.h>
#include <stdint.h>

void *imem_alloc(size_t size);
/* The bytes an imem_alloc(size) can use (size rounded up to what its pages hold), >= size. */
size_t imem_usable(size_t size);
void imem_free(void *p);
void *imem_map(size_t size, int noreserve); /* raw; pair with imem_unmap (only a reserved
                                              * mapping is counted) */
void imem_unmap(void *p, size_t size);
uint64_t imem_bytes(void);
/* Bytes of the shim's own mappings (every prim_map, NORESERVE tables included) that are
 * resident (mincore), as RSS counts them: the recorder's part of the process's RSS.
 * Recomputed at most every IMEM_RESIDENT_EVERY_NS (one mincore per 64 MiB of each mapping),
 * otherwise the last value plus the bytes mapped since (less those unmapped; imem_bytes);
 * 0 before the first count. Keeps errno. */
#define IMEM_RESIDENT_EVERY_NS 100000000ull
uint64_t imem_resident_bytes(uint64_t now_ns);
/* The same, counted now (not the last value): a sample at a known peak (the exit scan's). */
uint64_t imem_resident_bytes_now(uint64_t now_ns);

#endif /* PERFSHIM_IMEM_H */
