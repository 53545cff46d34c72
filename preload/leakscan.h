/*
 * leakscan.h -- reachability of the blocks live at exit (like LeakSanitizer, classified as
 * memcheck does), on-demand scans, and live-set snapshots on a signal.
 *
 * Contract: leakscan_init() runs once in shim initialization (after bootstrap, options):
 * it finds the dynamic linker's and the shim's own ranges and installs the snapshot handler
 * (PERFSHIM_SNAPSHOT_SIGNAL). leakscan_thread_attach() runs on a thread's first event (maybe
 * from inside the app's allocator: it never allocates) and records the thread's stack bounds
 * in st->stack_lo/hi. leakscan_run() is called once, by shim_fini(), while the shim is still
 * active and with the hook guard set: it classifies every block of the live set as definite,
 * indirect or reachable and hands the records (trace_format.h: LEAK_SCAN with flag
 * BY_ADDRESS, the verdicts by address in LEAK_BLOCKS records, LEAK_SUPP) to the writer, which
 * writes them before END. A scan never calls malloc, takes no app lock (only the live-set
 * shard locks and its own ilocks), never faults (roots through process_vm_readv, heap blocks
 * after a check against a /proc/self/maps snapshot, resident pages only) and uses only its own
 * imem memory (about 5 bytes per live block, 16 per verdict, plus a few MiB, released at its
 * end and recorded as scan_mem_bytes); without that memory it records an ABORTED scan.
 * leakscan_snapshot_due()/leakscan_snapshot() are for the writer's periodic work only (its
 * thread, or its ticks without one): shim.c hands them to it (writer_hooks_t); a snapshot is
 * a SNAPSHOT marker (aux BY_REPLAY) with the live set's totals, taken with every shard lock
 * held (liveset_regions), no sites: the analyzer computes them from its replay.
 *
 * Roots (see leakscan.c): every thread's stack from its stack pointer up (the exiting
 * thread's, and each other's from /proc/self/task/TID/syscall), blocked threads' syscall
 * argument registers, every writable mapping that is neither the allocator's heap nor the
 * shim's memory (module segments, anonymous memory, stacks no thread is on), registered root
 * regions, ignored blocks and the dynamic linker's blocks.
 *
 * LeakSanitizer's knobs, read when a scan starts: the app's __lsan_is_turned_off() (nonzero:
 * the exit scan records only a TURNED_OFF scan record), __lsan_default_options() and then
 * LSAN_OPTIONS (keys detect_leaks, suppressions=FILE (its leak: lines go into the trace with
 * the app's __lsan_default_suppressions() text), use_stacks, use_registers, use_globals
 * (module segments and other writable mappings), use_tls (dynamic TLS and DTVs, the linker's
 * blocks), use_root_regions; others ignored), each hook found by dlsym or, if the executable
 * does not export it, in its .symtab.
 */
#ifndef PERFSHIM_LEAKSCAN_H
#define PERFSHIM_LEAKSCAN_H

#include <stdint.h>

#include "perfshim/compiler.h"
#include "tstate.h"

/* [lo, lo + len): the dynamic linker's text, for LIVESET_F_LINKER (len 0: unknown). */
extern PS_HIDDEN uint64_t leakscan_ld_lo, leakscan_ld_len;

#define LEAKSCAN_MAX_REGIONS 256

/* A freed chunk of glibc's malloc that its free lists keep "in use" (a tcache or fastbin
 * chunk: the next chunk's PREV_INUSE bit stays set) looks like an untracked chunk in use to
 * the scan, and its stale bytes would keep lost blocks reachable. So a block the app frees
 * through the shim (out of the live set, before the real free) gets a mark in its third word,
 * which those lists leave alone (a tcache entry overwrites words 0-1, a fastbin entry word
 * 0): its address ^ LEAKSCAN_FREED_MARK. Only with glibc's malloc (leakscan_init sets
 * leakscan_mark_frees), whose every chunk has 24 usable bytes. Hot path: one store. */
#define LEAKSCAN_FREED_MARK 0x9e3779b97f4a7c15ull
extern PS_HIDDEN int leakscan_mark_frees;
static PS_ALWAYS_INLINE void leakscan_note_free(const void *p)
{
    if (leakscan_mark_frees)
        ((uint64_t *)(uintptr_t)p)[2] = (uint64_t)(uintptr_t)p ^ LEAKSCAN_FREED_MARK;
}

void leakscan_init(void);
void leakscan_thread_attach(tstate_t *st);
/* The calling thread is one of the shim's (the writer): its stack is never a root. */
void leakscan_internal_thread(void);
void leakscan_run(void);
/* An on-demand scan (__lsan_do_leak_check): the same scan, its records in the calling
 * thread's stream st (the caller's state, from the shim: NULL records nothing), flagged
 * PS_LEAK_F_ON_DEMAND. The hook guard must be set. */
int leakscan_run_on_demand(tstate_t *st); /* 1: definite or indirect leaks found */
/* After __lsan_do_leak_check: leakscan_run() records nothing. */
void leakscan_exit_scan_off(void);
/* __lsan_disable depth of the calling thread: its allocations are ignored while > 0. */
extern PS_TLS int leakscan_disabled;
/* Adds (add 1) or removes a root region [lo, hi): 0, or -1 (table full / not registered). */
int leakscan_region(uintptr_t lo, uintptr_t hi, int add);
/* The app's definition of an LSan hook (dlsym, else the executable's .symtab), or NULL. */
void *leakscan_app_symbol(const char *name);
int leakscan_snapshot_due(void);
void leakscan_snapshot(void (*put)(const void *rec, uint32_t len)); /* writer_append_fn */

#endif /* PERFSHIM_LEAKSCAN_H */
