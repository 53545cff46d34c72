/*
 * lsan.h -- LeakSanitizer's interface, exported by the shim (programs written for LSan call
 * it; ScopedDisabler is __lsan_disable/__lsan_enable).
 *
 * Contract: the functions below are the app's to call, from any thread, with LSan's
 * semantics mapped onto the exit scan (leakscan.h):
 *   __lsan_ignore_object(p)   p's block (a live block's start) and what it holds are never
 *                             leaks (LIVESET_F_IGNORED); a pointer that is no block's start
 *                             is ignored, as LSan does (it warns; we count nothing).
 *   __lsan_disable/_enable    a per-thread counter: blocks the thread allocates while it is
 *                             above 0 are ignored objects.
 *   __lsan_(un)register_root_region(p, n)  [p, p + n) is scanned as a root (read safely:
 *                             an unreadable region faults nothing).
 *   __lsan_do_leak_check()    records a scan now (in the caller's stream, flagged
 *                             on-demand); later calls do nothing and the exit scan does not
 *                             run, as in LSan (which then exits; the shim never changes the
 *                             program: the verdict is `perfshim check`'s).
 *   __lsan_do_recoverable_leak_check()  records a scan now; returns 1 if it found definite
 *                             or indirect leaks (before suppressions), else 0.
 * Outside a recording (shim disabled, PERFSHIM_LEAK_CHECK=0) they do nothing (0).
 * The app's own hooks and LSAN_OPTIONS are read by the scan itself (leakscan.c).
 */
#ifndef PERFSHIM_LSAN_H
#define PERFSHIM_LSAN_H

#include <stddef.h>

#include "perfshim/compiler.h"

PS_EXPORT void __lsan_ignore_object(const void *p);
PS_EXPORT void __lsan_disable(void);
PS_EXPORT void __lsan_enable(void);
PS_EXPORT void __lsan_register_root_region(const void *p, size_t size);
PS_EXPORT void __lsan_unregister_root_region(const void *p, size_t size);
PS_EXPORT void __lsan_do_leak_check(void);
PS_EXPORT int __lsan_do_recoverable_leak_check(void);

#endif /* PERFSHIM_LSAN_H */
