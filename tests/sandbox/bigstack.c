/* SPDX-License-Identifier: MIT */
/* Sandbox program: unbounded recursion with 16 KiB frames that runs off a 2 MiB
 * stack into the guard below it. */
#include <stdio.h>
#include <stdlib.h>

/* Never reached; it only tells the compiler the recursion may end. */
static volatile unsigned long depth_limit = ~0ul;

static unsigned long deep(unsigned long n)
{
    volatile char frame[16384];
    if (n >= depth_limit)
        return 0;
    for (size_t i = 0; i < sizeof frame; i += 512)
        frame[i] = (char)n;
    /* Using the result after the call keeps it from being a tail call. */
    return deep(n + 1) + frame[n % sizeof frame];
}

int main(int argc, char **argv)
{
    fputs("recursing\n", stderr);
    unsigned long r = deep((unsigned long)argc);
    printf("returned %lu\n", r);
    (void)argv;
    return 0;
}
