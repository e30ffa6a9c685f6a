/* SPDX-License-Identifier: MIT */
/* Sandbox program: announces itself, then spins forever without a system call. */
#include <stdio.h>

int main(void)
{
    fputs("looping\n", stdout);
    fflush(stdout);
    for (;;)
        __asm__ volatile("");
}
