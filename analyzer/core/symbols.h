/*
 * symbols.h -- offline symbolization of recorded return addresses: module, function (ELF
 * .symtab, else .dynsym, else DWARF; C++ names demangled), file:line and inlined frames
 * (DWARF line tables and DW_TAG_inlined_subroutine chains, via libdwarf and dwarfinfo.h).
 *
 * Contract: analyzer-only, single-threaded (symwarm below: one thread of its own, joined before
 * its symbols are used; loading a module with compressed DWARF sections may start one more,
 * core/dwarfinfo.h's dwi_ahead, ended by symbols_close). symbols_open() takes the module map of a trace
 * (the union of all epochs) and opens nothing yet: a module's ELF file and debug info are read
 * the first time an address falls in it, and each distinct address is resolved once (cached).
 * The module file is looked up as SYSROOT/PATH; its GNU build-id must equal the trace's, else
 * the file is not used. Debug info is taken from the module itself or, when it has none, from
 * DEBUG_DIR/.build-id/xx/yyyy.debug, SYSROOT/usr/lib/debug/.build-id/xx/yyyy.debug, or the
 * .gnu_debuglink file (next to the module, in .debug/, under /usr/lib/debug, in DEBUG_DIR).
 * Problems with a module are one warning line each on stderr (unless quiet), never errors:
 * its frames then show "module+0xoffset".
 *
 * One address expands to one or more frames, innermost first: the functions inlined at that
 * address (inlined = true, each with the file:line of the code or of the call inlined into
 * it), then the function that holds the code (inlined = false) with the file:line where the
 * outermost inlined call sits. Without DWARF there is one frame.
 *
 * Returns 0 or a negative PS_E_* (only PS_E_NOMEM in practice).
 */
#ifndef PERFSHIM_SYMBOLS_H
#define PERFSHIM_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tracemodel.h"

typedef struct symbols_s symbols_t;

typedef struct symbols_opts_s {
    const char *sysroot;   /* prefix of every module path, NULL for none */
    const char *debug_dir; /* extra place for separate debug files, NULL for none */
    bool quiet;            /* no warnings on stderr */
    bool show_std_frames;  /* text stacks: do not fold C++ standard library frames */
    bool full_names;       /* text stacks: full demangled names, not core/cxxname.h's short ones */
} symbols_opts_t;

/* One resolved frame. Strings belong to the symbols_t and live until symbols_close. */
typedef struct sym_frame_s {
    uint64_t address;     /* as recorded (a return address) */
    uint64_t offset;      /* address - module base (the ELF virtual address) */
    const char *module;   /* module path from the trace, NULL when no module holds it */
    const char *module_name; /* its last path component */
    const char *function; /* NULL when unknown */
    const char *file;     /* NULL when unknown */
    uint32_t line;        /* 0 when unknown */
    bool inlined;         /* this function was inlined into the next frame */
} sym_frame_t;

/* The C++ demangler (__cxa_demangle's signature). The perfshim command registers libstdc++'s;
 * the analyzer library itself does not link libstdc++ (programs that embed it, like the
 * in-process tests, would load the C++ runtime and its allocations). */
typedef char *(*symbols_demangler_t)(const char *mangled, char *buf, size_t *len, int *status);
void symbols_set_demangler(symbols_demangler_t fn);

int symbols_open(symbols_t **out, const tm_module_t *mods, size_t nmods,
                 const symbols_opts_t *opts);
/* Resolves return address `ip` (the lookup uses ip - 1, inside the call instruction) into
 * *n >= 1 frames, innermost first; *frames lives until symbols_close. */
int symbols_frames(symbols_t *s, uint64_t ip, const sym_frame_t **frames, unsigned *n);
/* The *n symbols_frames gives ip, without what only the frames' contents need (the DWARF
 * line table of ip's compile unit, the names): for frames that are counted, not shown. */
int symbols_depth(symbols_t *s, uint64_t ip, unsigned *n);
/* The module_name symbols_frames gives ip's frames (NULL: no module holds it); loads nothing. */
const char *symbols_module_name(symbols_t *s, uint64_t ip);
/* The function that holds the code at ip (the last of symbols_frames) with the file:line of
 * the innermost frame: one line per return address. */
int symbols_lookup(symbols_t *s, uint64_t ip, sym_frame_t *out);
void symbols_close(symbols_t *s);
/* From now on symbols_close frees nothing: the symbols' memory and descriptors go with the
 * process (the inflating threads are ended, joined). For the command line's main (each command closes its symbols
 * just before it returns and the process exits): libdwarf's teardown of libc's DWARF
 * (dwarf_finish: ~1,600 compile units' contexts) took 7-11 ms after a report's output.
 * Library callers (the in-process tests) do not call it: symbols_close frees everything. */
void symbols_exit_fast(void);
/* The options symbols_open was given. */
const symbols_opts_t *symbols_options(const symbols_t *s);

/* Symbols made ready ahead, on a thread of their own, while the caller does something else
 * (the pass): symwarm_start copies the modules and the addresses and, on its thread, loads the
 * modules the addresses fall in (ELF symbols, DWARF) and the DWARF units of the addresses,
 * quietly. symbols_adopt (after symbols_open, before any lookup) waits for that thread and
 * gives s each module it loaded without a problem (same path, same build-id, same options); a
 * module with a problem, or not loaded, is loaded by s as without it, with its warnings. What s
 * resolves is the same either way: this moves work, not results. symbols_adopt frees w;
 * symwarm_free (w unused) stops the thread at its next address. Memory: what s would hold
 * for those modules, held from symwarm_start on. */
typedef struct symwarm_s symwarm_t;
int symwarm_start(symwarm_t **out, const tm_module_t *mods, size_t nmods, const uint64_t *ips,
                  size_t nips, const symbols_opts_t *opts);
void symbols_adopt(symbols_t *s, symwarm_t *w);
/* How many modules s took over from symwarms (tests: that the work was moved at all). */
size_t symbols_adopted(const symbols_t *s);
/* Waits for w's thread (NULL: none): call it before symbols_open, which touches libelf's
 * global state (elf_version) that w's thread reads. */
void symwarm_wait(symwarm_t *w);
void symwarm_free(symwarm_t *w);

#endif /* PERFSHIM_SYMBOLS_H */
