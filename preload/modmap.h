/*
 * modmap.h -- the module map: every loaded object's path, load bias, PT_LOAD segments and GNU
 * build-id, so the analyzer can symbolize raw addresses offline (on another machine too).
 *
 * Contract: modmap_emit() writes one PS_REC_MODMAP record and one PS_REC_MODULE per object
 * into the calling thread's stream; called with the guard set, at start and whenever the
 * set of loaded objects changed (modmap_refresh: before each new stack is written, so every
 * stack's addresses are covered by a map that precedes it in the same stream). dlopen is deliberately not interposed: glibc picks the RUNPATH
 * of dlopen's caller, which a wrapper would change. It allocates nothing (dl_iterate_phdr holds the loader lock meanwhile).
 * The main program's empty name is replaced by `exe`.
 */
#ifndef PERFSHIM_MODMAP_H
#define PERFSHIM_MODMAP_H

#include "tstate.h"

void modmap_set_exe(const char *exe);
void modmap_emit(tstate_t *st);
/* Emits a new map into st's stream if objects were loaded or unloaded since the last one
 * (dl_iterate_phdr's dlpi_adds/dlpi_subs counters); one thread wins when several notice. */
void modmap_refresh(tstate_t *st);
/* Fork child: the next refresh writes a full map into the child's new trace. */
void modmap_after_fork_child(void);

#endif /* PERFSHIM_MODMAP_H */
