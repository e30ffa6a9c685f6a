/* SPDX-License-Identifier: MIT */
/* Sandbox program: floating-point formatting and the allocator's paths (brk
 * for small blocks, mmap/munmap for large ones, mremap for a growing realloc);
 * prints checksums that do not depend on where memory came from. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t sum32(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void fill(unsigned char *p, size_t n, unsigned int seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31u + seed);
}

int main(void)
{
    double s = 0;
    for (int k = 1; k <= 1000000; k++)
        s += 1.0 / ((double)k * (double)k);
    printf("%.3f\n", s);
    printf("%.6e %g\n", s * 1e10, -s / 3);

    /* Many small and medium blocks, freed out of order. */
    enum { N = 200 };
    unsigned char *blocks[N];
    uint32_t h = 0;
    for (int i = 0; i < N; i++) {
        size_t sz = (size_t)(i * 997 % 70000) + 1;
        blocks[i] = malloc(sz);
        if (!blocks[i]) {
            printf("malloc %zu failed\n", sz);
            return 1;
        }
        fill(blocks[i], sz, (unsigned int)i);
        h ^= sum32(blocks[i], sz);
    }
    for (int i = 0; i < N; i += 2)
        free(blocks[i]);
    for (int i = 1; i < N; i += 2) {
        size_t sz = (size_t)(i * 997 % 70000) + 1;
        h += sum32(blocks[i], sz);
        free(blocks[i]);
    }
    printf("blocks: %08x\n", h);

    /* A 300 KiB block grown to 3 MiB keeps its contents. */
    size_t small = 300u << 10, large = 3u << 20;
    unsigned char *p = malloc(small);
    if (!p)
        return 1;
    fill(p, small, 7);
    uint32_t before = sum32(p, small);
    p = realloc(p, large);
    if (!p) {
        printf("realloc failed\n");
        return 1;
    }
    uint32_t after = sum32(p, small);
    fill(p + small, large - small, 9);
    printf("realloc: %s %08x\n", before == after ? "kept" : "lost", sum32(p, large));
    p = realloc(p, 4096);
    printf("shrunk: %08x\n", p ? sum32(p, 4096) : 0);
    free(p);
    return 0;
}
