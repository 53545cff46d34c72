/*
 * stacktab.h -- interns call stacks: each distinct stack gets a small id once, events refer to
 * the id, and the trace holds each stack's addresses once (a PS_REC_STACK record written by
 * the thread that first interned it).
 *
 * Contract: lock-free and callable from any hook concurrently; lookups of known stacks only
 * read shared memory (no cache line is written), insertion takes one CAS. Memory is bounded:
 * a fixed table and address arena mapped NORESERVE at init (pages are touched only as used).
 * When either is full, stacktab_intern returns 0 ("no stack") and counts it in
 * stacktab_dropped(). Ids start at 1 and are dense.
 */
#ifndef PERFSHIM_STACKTAB_H
#define PERFSHIM_STACKTAB_H

#include <stdint.h>

/* Returns 0 or -PS_E_NOMEM. `slots_log2` and `arena_ips` size the table (0: defaults: 2^20
 * slots of STACKTAB_SLOT_BYTES and 16 Mi addresses of 8 bytes, 160 MiB of address space). */
#define STACKTAB_SLOT_BYTES 32u
int stacktab_init(unsigned slots_log2, uint64_t arena_ips);
/* Returns the id of the stack ips[0..depth), or 0 if it cannot be interned. *is_new is set
 * when this call created the id (the caller then writes the STACK record). */
uint32_t stacktab_intern(const uint64_t *ips, uint32_t depth, int *is_new);
/* Fork child: forgets every stack (their STACK records are in the parent's trace), so the
 * child's trace defines each id it uses. Returns 0 or -PS_E_NOMEM (then nothing is interned). */
int stacktab_reset(void);
uint64_t stacktab_count(void);
uint64_t stacktab_dropped(void);
/* Bytes of the table and arena in use (what the NORESERVE mappings really cost). */
uint64_t stacktab_bytes(void);

#endif /* PERFSHIM_STACKTAB_H */
