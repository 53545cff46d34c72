/*
 * unwind.h -- the one seam for capturing a call stack (libunwind backend).
 *
 * Contract: unwind_init() once at shim init (sets libunwind's per-thread cache and finds the
 * shim's own text range). unwind_capture() is called from hooks with the guard set: it writes
 * up to `max` raw return addresses into ips, innermost first, with every leading frame that
 * lies inside libperfshim.so removed (so ips[0] is a return address in the caller of malloc),
 * and returns how many it wrote (0 if the stack could not be read). No heap allocation
 * happens in the shim; libunwind's own goes through the guard and is not recorded.
 */
#ifndef PERFSHIM_UNWIND_H
#define PERFSHIM_UNWIND_H

#include <stdint.h>

#define PS_UNWIND_MAX_SKIP 8 /* frames of the shim itself above the caller */

void unwind_init(void);
int unwind_capture(uint64_t *ips, int max);

#endif /* PERFSHIM_UNWIND_H */
