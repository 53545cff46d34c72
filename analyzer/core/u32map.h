/*
 * u32map.h -- a map from u32 keys (stack ids) to u32 values (indices), open addressing.
 *
 * Contract: analyzer-only, single-threaded. A zeroed u32map_t is an empty map. u32map_get
 * returns U32MAP_NONE for a key not present; u32map_put returns 0 or -PS_E_NOMEM. The value
 * U32MAP_NONE itself cannot be stored.
 */
#ifndef PERFSHIM_U32MAP_H
#define PERFSHIM_U32MAP_H

#include <stddef.h>
#include <stdint.h>

#define U32MAP_NONE UINT32_MAX

typedef struct u32map_s {
    uint32_t *keys, *vals;
    size_t cap, n; /* cap is a power of two, or 0 */
} u32map_t;

uint32_t u32map_get(const u32map_t *m, uint32_t k);
int u32map_put(u32map_t *m, uint32_t k, uint32_t v);
void u32map_free(u32map_t *m);

#endif /* PERFSHIM_U32MAP_H */
