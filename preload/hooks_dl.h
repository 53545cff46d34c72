/*
 * hooks_dl.h -- dlopen, interposed for RTLD_DEEPBIND libraries.
 *
 * A library opened with RTLD_DEEPBIND looks its symbols up in itself and its own dependencies
 * before the global scope, so its malloc and free bind to libc's and skip the shim: blocks it
 * frees stay "live" in the trace (false leaks), blocks it allocates and the app frees look
 * invalid, and an address it reuses makes a later free look double.
 *
 * What the hook does: a call without RTLD_DEEPBIND jumps straight to glibc's dlopen (an
 * assembly thunk: the caller glibc sees, which decides $ORIGIN and the RPATH/RUNPATH search,
 * is the app's). With RTLD_DEEPBIND it opens the library itself, resolving the name as the
 * caller would ($ORIGIN from the caller's object, the caller's search path from
 * dlinfo(RTLD_DI_SERINFO)), and then, in every object that call loaded, points the GOT
 * entries of the malloc family that are bound (or, lazily, would bind) to exactly the
 * functions the shim itself forwards to, at the shim's hooks: the library's heap calls are
 * recorded like the app's. Nothing else of the library's binding changes.
 *
 * What stays unseen: allocations the library's constructors make while dlopen runs (before
 * the rebinding). Their release by the library is not recorded either (the shim's live set
 * does not hold them, so the free is passed through unrecorded: no false invalid free); a
 * release of such a block by the app is recorded and reported as an invalid free. Without the
 * live set (PERFSHIM_LEAK_CHECK=0) those releases are recorded too. The library's pthread
 * lock calls and C++ operators are not rebound (its operator new reaches malloc through
 * libstdc++, so its blocks are recorded as malloc). x86-64 only; dlmopen is not hooked.
 *
 * Contract: entry layer. The thunk needs the real dlopen resolved (the constructor does it);
 * before that, and on other architectures, calls go through a C wrapper.
 */
#ifndef PERFSHIM_HOOKS_DL_H
#define PERFSHIM_HOOKS_DL_H

#endif /* PERFSHIM_HOOKS_DL_H */
