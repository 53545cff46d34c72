/*
 * hooks_cxx.h -- the C++ allocation functions, interposed directly: operator new / new[] in
 * every form (plain, nothrow, std::align_val_t, aligned nothrow) and operator delete /
 * delete[] in every form (plain, sized, aligned, sized+aligned, nothrow, aligned nothrow).
 *
 * Contract: each hook records through shim_rec_alloc / shim_rec_free with its own PS_FN_* id
 * (trace_format.h), so a stack's first frame is the C++ call site and the analyzer can tell a
 * new[] released by delete or free (a mismatch) from a correct release. Semantics are the real
 * ones: a hook calls the real operator (dlsym(RTLD_NEXT) of the mangled name, resolved on first
 * use because libstdc++ may be loaded after the shim initialized), so new_handler and
 * std::bad_alloc behave natively; an exception leaving the real operator new unwinds through the
 * hook (built with -fexceptions) and a cleanup resets the re-entrancy guard. The real operator's
 * own malloc/free calls run with the guard set and are not recorded twice. Releases record their
 * stack when PERFSHIM_FREE_STACKS >= 1 (the default).
 * Called by the application only; nothing in the shim calls these.
 */
#ifndef PERFSHIM_HOOKS_CXX_H
#define PERFSHIM_HOOKS_CXX_H

/* The interposed symbols are exported by preload/exports.map; no declarations needed. */

#endif /* PERFSHIM_HOOKS_CXX_H */
