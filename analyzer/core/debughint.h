/*
 * debughint.h -- how to get the debug info a module lacks, for the "no debug info" warning:
 * on Debian, the package that has it (libstdc++6-12-dbg, libc6-dbg, PKG-dbgsym), found from
 * dpkg's database; elsewhere debuginfod.
 *
 * Contract: analyzer-only, single-threaded. debughint_first() is true the first time it sees
 * a module path in this process (so a warning is printed once per module, however many
 * traces name it). debughint_for() writes one phrase into buf and returns buf; it reads
 * /var/lib/dpkg (a few hundred small files, once per module warned about) and never fails:
 * without dpkg data the phrase names debuginfod and --debug-dir only.
 */
#ifndef PERFSHIM_DEBUGHINT_H
#define PERFSHIM_DEBUGHINT_H

#include <stdbool.h>
#include <stddef.h>

bool debughint_first(const char *module);
const char *debughint_for(const char *module, char *buf, size_t cap);

#endif /* PERFSHIM_DEBUGHINT_H */
