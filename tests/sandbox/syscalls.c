/* SPDX-License-Identifier: MIT */
/* Sandbox program: argv[1] (default 1000) getppid() calls, to measure the cost
 * of one system call through the sandbox. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
    long sum = 0;
    for (long i = 0; i < n; i++)
        sum += getppid();
    /* The sum keeps the calls from being merged; its value depends on the host. */
    printf("getppid calls: %ld\n", n + 0 * sum);
    return 0;
}
