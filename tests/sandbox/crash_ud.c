/* SPDX-License-Identifier: MIT */
/* Sandbox program: executes an undefined instruction (#UD). */
#include <stdio.h>

int main(void)
{
    fputs("about to fault\n", stderr);
    __asm__ volatile("ud2");
    return 0;
}
