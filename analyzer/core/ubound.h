/*
 * ubound.h -- binary search in an array sorted by an unsigned 64-bit key (address tables of
 * the symbolizer: modules' ranges, symbols, compile units, line rows).
 *
 * Contract: base holds n elements of `size` bytes, sorted by the uint64_t at key_off of each.
 * ubound_u64() returns the index of the first element whose key is greater than v (n if none):
 * the element at index - 1, if any, is the last one that starts at or before v.
 */
#ifndef PERFSHIM_UBOUND_H
#define PERFSHIM_UBOUND_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline size_t ubound_u64(const void *base, size_t n, size_t size, size_t key_off,
                                uint64_t v)
{
    const unsigned char *b = base;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t k;
        memcpy(&k, b + mid * size + key_off, sizeof k);
        if (k <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

#endif /* PERFSHIM_UBOUND_H */
