/*
 * dwarfinfo.h -- source lines and inlined-call chains of one module's DWARF, read lazily per
 * compile unit (CU).
 *
 * Contract: analyzer-only, single-threaded. dwi_open() reads only the CUs' address ranges:
 * .debug_aranges, or when the module has none each CU header and its ranges (low_pc/high_pc,
 * DWARF 4 .debug_ranges or DWARF 5 .debug_rnglists); a CU's line table and its subprograms
 * are read the first time an address falls in it, a subprogram's (or inlined subroutine's)
 * children the first time an address falls in it, a name the first time it is a frame. The
 * file descriptor must stay open until dwi_close(). With a second core, dwi_ahead() (or
 * dwi_open()) starts a thread that inflates the module's compressed sections other than
 * .debug_info ahead of libdwarf's use (see dwarfinfo.c); it ends by dwi_close(), and libdwarf
 * gets the same bytes.
 *
 * dwi_lookup(va) gives the frames that the code at virtual address va belongs to, innermost
 * first: for code inlined into f from g inlined from h, frames are h (file:line of va), g
 * (file:line where h was inlined), f (where g was inlined); every frame but the last has
 * inlined = 1. Function names are as DWARF has them: the linkage name (mangled for C++) when
 * the DIE or its abstract origin / specification has one, else DW_AT_name, else NULL.
 * Nothing in the input sets a recursion depth: the DIE tree is walked with an explicit stack
 * of bounded depth (deeper scopes are ignored), and every count is bounded by the data read.
 */
#ifndef PERFSHIM_DWARFINFO_H
#define PERFSHIM_DWARFINFO_H

#include <stdint.h>

typedef struct dwi_s dwi_t;

typedef struct dwi_frame_s {
    const char *function; /* NULL when unknown */
    const char *file;     /* NULL when unknown */
    uint32_t line;        /* 0 when unknown */
    int inlined;
} dwi_frame_t;

/* The sections inflated ahead for a dwi_open(fd) to come, started early so that the thread
 * inflates while the caller does other work (the ELF symbols): NULL when there is nothing to
 * inflate or no second core. dwi_open takes it over (even when it fails);
 * dwi_ahead_free when no dwi_open does. fd stays open until then. */
typedef struct dwi_ahead_s dwi_ahead_t;
dwi_ahead_t *dwi_ahead(int fd);
void dwi_ahead_free(dwi_ahead_t *a);

/* 0 with *out set, 0 with *out NULL when fd has no usable DWARF, or -PS_E_NOMEM. ahead: from
 * dwi_ahead(fd), or NULL (dwi_open starts it itself). */
int dwi_open(int fd, dwi_ahead_t *ahead, dwi_t **out);
/* Number of frames written (at most max), 0 when no CU covers va, or -PS_E_NOMEM. Strings
 * live until dwi_close(). */
int dwi_lookup(dwi_t *d, uint64_t va, dwi_frame_t *frames, int max);
/* The number dwi_lookup(d, va, frames, max) returns, without reading what only the frames'
 * contents need: the CU's line table and file names, the function names (a later dwi_lookup
 * reads them). */
int dwi_depth(dwi_t *d, uint64_t va, int max);
void dwi_close(dwi_t *d);
/* For a process about to exit (symbols_exit_fast): ends the inflating thread (joined) and
 * frees nothing else. d is not to be used afterwards. */
void dwi_leave(dwi_t *d);

#endif /* PERFSHIM_DWARFINFO_H */
