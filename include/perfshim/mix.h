/*
 * mix.h -- the 64-bit mixer behind the address-keyed hash tables of the shim (live set) and
 * the analyzer (block table, lock table).
 *
 * Contract: ps_mix64() spreads every input bit over the result (xorshift, multiply, xorshift:
 * the first half of MurmurHash3's finalizer); a table takes its low bits (slot) or high bits
 * (shard). Pure, inline, libc-free: usable on the shim's hot path.
 */
#ifndef PERFSHIM_MIX_H
#define PERFSHIM_MIX_H

#include <stdint.h>

static inline uint64_t ps_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

#endif /* PERFSHIM_MIX_H */
