/* SPDX-License-Identifier: MIT */
/* Sandbox program: writes interleaved to stdout and stderr. */
#include <stdio.h>

int main(void)
{
    printf("out 1\n");
    fflush(stdout);
    fprintf(stderr, "err 1\n");
    printf("out 2\n");
    fprintf(stderr, "err 2\n");
    return 0;
}
