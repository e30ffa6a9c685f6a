/* SPDX-License-Identifier: MIT */
/* A compute kernel shared by the CPL3 guest and the native benchmark reference:
 * the same source, compiled with the same optimisation level. */
#include "compute.h"

uint64_t vmm_guest_compute(uint64_t n)
{
    /* xorshift64* steps folded into an FNV-style accumulator: integer work the
     * compiler cannot collapse into a closed form. */
    uint64_t x = 0x9e3779b97f4a7c15ull, acc = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < n; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        acc = (acc ^ (x * 0x2545f4914f6cdd1dull)) * 0x100000001b3ull;
    }
    return acc;
}
