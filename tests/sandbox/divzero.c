/* SPDX-License-Identifier: MIT */
/* Sandbox program: an integer division by zero (#DE). */
#include <stdio.h>

int main(void)
{
    volatile int a = 1, b = 0;
    fputs("about to fault\n", stderr);
    int c = a / b;
    printf("%d\n", c);
    return 0;
}
