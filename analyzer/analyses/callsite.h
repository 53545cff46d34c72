/*
 * callsite.h -- a call site is a recorded stack with the allocator's and the shim's own frames
 * cut from its top, so that its first frame is the caller of malloc / operator new.
 *
 * Contract: analyzer-only. callsite_cut() looks stack `id` up in the replay and returns the
 * cut frames in *ips / *depth (pointing into the replay's stack; NULL / 0 when id is 0 or
 * unknown). At least one frame is kept. Cut: frames of libperfshim, glibc's malloc family
 * (in libc) and libstdc++'s operator new/delete (mangled or demangled). Returns 0 or a negative
 * PS_E_* from symbolization.
 */
#ifndef PERFSHIM_CALLSITE_H
#define PERFSHIM_CALLSITE_H

#include <stdbool.h>
#include <stdint.h>

#include "analyses/replay.h"
#include "core/doc.h"
#include "core/symbols.h"

bool callsite_is_own_frame(const sym_frame_t *f);
/* A frame of the C++ standard library: a function in std::, __gnu_cxx::, __cxxabiv1:: or
 * __gnu_debug:: (its return type skipped), code inlined from the library's headers
 * (.../include/c++/...), or any frame of libstdc++. Text reports fold these by default. */
bool callsite_is_std_frame(const sym_frame_t *f);
/* What text stacks fold into one "… N library frames" line, so that --stack-depth counts
 * the program's own frames: a C++ standard library frame (above), the allocator's and the
 * shim's (callsite_is_own_frame), any frame of the C library, the dynamic loader or an
 * allocator library (libc, ld-linux, libjemalloc, libtcmalloc, libmimalloc), and _start. */
bool callsite_is_library_frame(const sym_frame_t *f);
/* Whether every frame of a module of that name is a library frame (above): the C library's,
 * the loader's, an allocator library's, the shim's, libstdc++'s (whatever its function and
 * file). NULL (no module): false. */
bool callsite_is_library_module(const char *module_name);
int callsite_cut(symbols_t *sym, const replay_t *rp, uint32_t id, const uint64_t **ips,
                 uint32_t *depth);

/* Writes stack `id` of the trace (0 or unknown: no frames) as doc_stack does, `depth` frames. */
int callsite_emit_stack(doc_t *d, const char *key, const replay_t *rp, symbols_t *sym, uint32_t id,
                        int depth);

#endif /* PERFSHIM_CALLSITE_H */
