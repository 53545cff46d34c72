/*
 * unwind.h -- the one seam for capturing a call stack (libunwind backend), and the checks
 * that say when unwinding is not safe.
 *
 * Contract: unwind_init() once at shim init (loads libunwind with dlopen(RTLD_LOCAL), never
 * into the global scope, where its _Unwind_* would run the app's C++ exceptions; sets its
 * per-thread cache and its descriptor-free memory accessor, finds the
 * shim's own text range and the real dl_iterate_phdr). unwind_capture() is called from hooks
 * with the guard set: it writes up to `max` raw return addresses into st->ips, innermost first,
 * with every leading frame that lies inside libperfshim.so removed (so ips[0] is a return
 * address in the caller of malloc), and returns how many it wrote (0 if the stack could not
 * be read, or libunwind could not be loaded: warned once at init). No heap allocation happens in the shim; libunwind's own goes through the guard
 * and is not recorded.
 *
 * Safety: a hook unwinds only when unwind_safe(st) says so; otherwise it records its caller's
 * address alone (unwind_shallow) and the event is counted (unwind_shallow_count, END's
 * stacks_shallow). Unsafe is:
 *  - less than PS_UNWIND_STACK_BUDGET bytes of the thread's own stack left below sp, or sp
 *    outside the thread's stack (a makecontext or sigaltstack stack), or the thread's stack
 *    bounds unknown (st->stack_lo/hi; found from /proc/self/maps on the thread's first
 *    unwind when nobody set them: a glibc thread stack (above its guard page), or the main
 *    thread's [stack] down to RLIMIT_STACK; anything else, such as an app-provided thread
 *    stack without a guard page below it, stays unknown; without a readable /proc the
 *    check is skipped and every stack unwound, as before it existed);
 *  - a thread's first unwind from inside a non-glibc allocator's module (unwind_first_ok);
 *  - inside dl_iterate_phdr (interposed here, pass-through): the loader's lock may be held by
 *    this thread, and libunwind takes its own cache lock, then the loader's (its
 *    dl_iterate_phdr); unwinding there would take them in the reverse order.
 *
 * Stack budget (measured by tests/integration/stack_budget, docs/architecture.md "Stack
 * budget"): below the frame of the hook's caller, every hook that unwinds (malloc, calloc,
 * realloc, a new lock site of any lock or condvar function, the lock init functions) used at
 * most 3,512 bytes (C++ new and delete: 3,640, measured by hand), counting the thread's attach, a new stack's STACK
 * record and module-map check, libunwind's DWARF lookup and a buffer hand-off compressed on
 * the thread itself; unw_backtrace's own frame is 3,040 of them. free (by default) and a
 * known lock site do not unwind: free used 64 bytes. PS_UNWIND_STACK_BUDGET is that with a margin for paths the test
 * cannot reach (libunwind on unusual CFI, the leak check's attach). A shallow record uses no
 * more than the hook's frames (a makecontext stack of 4 KiB works; natively 3 KiB does).
 */
#ifndef PERFSHIM_UNWIND_H
#define PERFSHIM_UNWIND_H

#include <stdint.h>

#include "perfshim/compiler.h"
#include "tstate.h"

#define PS_UNWIND_MAX_SKIP 8 /* frames of the shim itself above the caller */
#define PS_UNWIND_STACK_BUDGET (6u * 1024u)

/* This thread has unwound once: libunwind's thread-local block exists. */
extern PS_TLS unsigned char unwind_tls_ready;
/* Inside this thread's first unwind: a malloc from there is libunwind's thread block. */
extern PS_TLS unsigned char unwind_first_pending;
/* Inside the (interposed) dl_iterate_phdr, nesting depth. */
extern PS_TLS int unwind_in_loader;

void unwind_init(void);
int unwind_capture(tstate_t *st, int max);
/* The slow half of unwind_safe: finds the thread's stack bounds once, then decides. */
PS_NOINLINE PS_COLD int unwind_safe_slow(tstate_t *st, uintptr_t sp);
/* 0 if a hook called from ra may not make this thread's first unwind: libunwind is dlopened,
 * so its thread-local block is allocated with malloc on a thread's first unwind, and a hook
 * called from inside the allocator's own module (jemalloc's mutexes, an executable's own
 * malloc) would re-enter the allocator under its lock. Such a hook records its caller alone
 * until the thread has unwound from elsewhere. */
PS_NOINLINE PS_COLD int unwind_first_ok(uintptr_t ra);
/* A one-frame stack (the caller's return address); counts it. Returns 1. */
PS_NOINLINE PS_COLD int unwind_shallow(uint64_t *ips, uintptr_t ra);
/* 1 if ra is in libunwind's module (the one the shim dlopened; no loader lock taken). */
int unwind_is_libunwind(uintptr_t ra);
/* 1 if ra lies in the C library, the dynamic linker or the shim itself (found at init): a
 * hook called from there may run under one of glibc's internal locks (the thread-stack cache
 * in pthread_join, the loader's TLS lock), where pthread_create would deadlock. */
int unwind_is_libc(uintptr_t ra);
/* Events recorded with their caller only (unwinding was not safe). */
uint64_t unwind_shallow_count(void);

/* 1 if this thread may unwind here (see above). Two compares when the bounds are known. */
static PS_ALWAYS_INLINE int unwind_safe(tstate_t *st)
{
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    if (PS_LIKELY(sp < st->stack_hi && sp >= st->stack_lo + PS_UNWIND_STACK_BUDGET &&
                  !unwind_in_loader))
        return 1;
    return unwind_safe_slow(st, sp);
}

#endif /* PERFSHIM_UNWIND_H */
