/*
 * liveset.h -- the shim's in-process live set: every block the app holds, by address, with
 * its size and allocation stack id. The exit-time leak scan (leakscan.c) and live-set
 * snapshots read it.
 *
 * Contract: a concurrent map that does not serialize threads: LIVESET_SHARDS shards chosen by
 * a hash of the block's 64 KiB region, each an open-addressing table behind its own ilock
 * (never a pthread lock); glibc's per-thread arenas keep each thread's blocks in shards of
 * its own, so two threads meet only on cross-thread frees and shared arenas, and a shard one
 * thread alone uses is owned by it: entered with no atomic instruction (liveset.c "Biased
 * shards"; the first other thread revokes that with membarrier(2)). Called from the
 * recorders in shim.h with the hook guard set; never allocates from the app's heap (tables
 * are imem mappings that grow by a quarter when 3/4 full). An insert that cannot get memory
 * is counted in liveset_untracked() (warned once) and the block is simply not in the set.
 * liveset_lock_all() takes every shard lock in order: between it and liveset_unlock_all() no
 * block can leave the set, so a block in it is still allocated (frees wait in
 * liveset_remove, which runs before the real free). liveset_export() and liveset_count()
 * need the locks held. liveset_after_fork_child() resets the locks and keeps the parent's
 * blocks, marked LIVESET_F_INHERITED with stack 0 (the child's trace has its own stack ids):
 * the child's leak scan covers what it inherited, as memcheck's and LSan's do.
 */
#ifndef PERFSHIM_LIVESET_H
#define PERFSHIM_LIVESET_H

#include <stdint.h>

#define LIVESET_SHARD_BITS 8
#define LIVESET_SHARDS (1u << LIVESET_SHARD_BITS)

#define LIVESET_F_LINKER 0x1u    /* allocated by the dynamic linker (TLS blocks, DTVs) */
#define LIVESET_F_INHERITED 0x2u /* a fork child's block from its parent (stack 0) */
#define LIVESET_F_IGNORED 0x4u   /* __lsan_ignore_object, or allocated while __lsan_disable'd:
                                  * never a leak, nor what it holds */
/* Bits 8..31: the allocating thread (its tid's low 24 bits; tids stay below 2^22, the kernel's
 * pid_max limit), so a free by another thread is marked in its FREE record (shim.h). */
#define LIVESET_F_TID(tid) (((uint32_t)(tid) & 0xffffffu) << 8)
#define LIVESET_TID_BITS(flags) ((flags) & 0xffffff00u)

typedef struct liveset_entry_s {
    uint64_t ptr; /* 0: empty slot */
    uint64_t size;
    uint32_t stack;
    uint32_t flags; /* LIVESET_F_* */
} liveset_entry_t;

/* An event's timestamp through the live set (stamp.h): ts, the thread's floor or exact read,
 * comes back as the event's stamp under the shard's guard (each shard keeps the largest stamp
 * of its events and their thread, read and written inside the shard's exclusion, by its lock
 * or by its owner); who: the thread (LIVESET_F_TID of
 * its tid, never 0). NULL where the call is no event of the app (nothing stamped). */
typedef struct liveset_stamp_s {
    uint64_t ts;
    uint32_t who;
} liveset_stamp_t;

void liveset_insert(uint64_t ptr, uint64_t size, uint32_t stack, uint32_t flags,
                    liveset_stamp_t *t);
/* Removes ptr; copies its entry to *out (if out) and returns 1, or returns 0 if absent. The
 * stamp's guard runs either way (a free of a block the set does not hold is ordered too). */
int liveset_remove(uint64_t ptr, liveset_entry_t *out, liveset_stamp_t *t);
/* ORs flags into ptr's entry; returns 1, or 0 if ptr is not a live block's start. */
int liveset_set_flags(uint64_t ptr, uint32_t flags);
void liveset_lock_all(void);
void liveset_unlock_all(void);
uint64_t liveset_count(void); /* locks held */
/* Copies up to cap entries into out; returns how many. Locks held. */
uint64_t liveset_export(liveset_entry_t *out, uint64_t cap);
/* liveset_export, then each shard's tables are freed as soon as they are copied (the exit
 * scan: its block array takes the place of the tables instead of sitting beside them). The
 * set is empty after it and stays released (liveset_released()): blocks allocated later go
 * into new tables, frees of blocks it held find nothing. Locks held. */
uint64_t liveset_export_release(liveset_entry_t *out, uint64_t cap);
int liveset_released(void);
/* Calls fn on every entry of shard i, under that shard's lock (snapshots). */
void liveset_visit_shard(unsigned i, void (*fn)(const liveset_entry_t *e, void *arg), void *arg);
uint64_t liveset_untracked(void);
/* Diagnostics (tests): the state of ptr's shard for the calling thread (liveset.c "Biased
 * shards"): nobody owns it, it is shared (every thread locks), the caller owns it, another
 * thread does; LIVESET_SHARD_NO_BIAS when shards are never owned (no membarrier). */
enum { LIVESET_SHARD_NOBODY, LIVESET_SHARD_SHARED, LIVESET_SHARD_MINE, LIVESET_SHARD_OTHER,
       LIVESET_SHARD_NO_BIAS };
int liveset_shard_state(uint64_t ptr);
uint64_t liveset_bytes(void); /* memory of the tables */
void liveset_after_fork_child(void);

#endif /* PERFSHIM_LIVESET_H */
