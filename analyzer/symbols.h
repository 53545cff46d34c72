/*
 * symbols.h -- offline symbolization of recorded return addresses: module, function (ELF
 * .symtab, else .dynsym) and file:line (DWARF line tables, via libdwarf).
 *
 * Contract: analyzer-only, single-threaded. symbols_open() takes the module map of a trace
 * (the union of all epochs) and opens nothing yet: a module's ELF file and debug info are read
 * the first time an address falls in it, and each distinct address is resolved once (cached).
 * The module file is looked up as SYSROOT/PATH; its GNU build-id must equal the trace's, else
 * the file is not used. Debug info is taken from the module itself or, when it has none, from
 * DEBUG_DIR/.build-id/xx/yyyy.debug, SYSROOT/usr/lib/debug/.build-id/xx/yyyy.debug, or the
 * .gnu_debuglink file (next to the module, in .debug/, under /usr/lib/debug, in DEBUG_DIR).
 * Problems with a module are one warning line each on stderr (unless quiet), never errors:
 * its frames then show "module+0xoffset".
 *
 * Not done (yet): C++ demangling (no libiberty on the build host; names stay mangled) and
 * inlined frames (DW_TAG_inlined_subroutine chains): file:line is that of the innermost
 * (possibly inlined) code while the function is the one of the symbol table.
 *
 * Returns 0 or a negative PS_E_* (only PS_E_NOMEM in practice).
 */
#ifndef PERFSHIM_SYMBOLS_H
#define PERFSHIM_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replay.h"

typedef struct symbols_s symbols_t;

typedef struct symbols_opts_s {
    const char *sysroot;   /* prefix of every module path, NULL for none */
    const char *debug_dir; /* extra place for separate debug files, NULL for none */
    bool quiet;            /* no warnings on stderr */
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
    bool inlined;         /* always false for now, see above */
} sym_frame_t;

int symbols_open(symbols_t **out, const replay_module_t *mods, size_t nmods,
                 const symbols_opts_t *opts);
/* Resolves return address `ip` (the lookup uses ip - 1, inside the call instruction). */
int symbols_lookup(symbols_t *s, uint64_t ip, sym_frame_t *out);
void symbols_close(symbols_t *s);

#endif /* PERFSHIM_SYMBOLS_H */
