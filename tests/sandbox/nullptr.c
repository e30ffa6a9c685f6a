/* SPDX-License-Identifier: MIT */
/* Sandbox program: a write through the null pointer, which must fault. */
#include <stdio.h>

int main(void)
{
    /* Volatile both ways: the compiler can neither see that the pointer is
     * null (and emit a trap instead) nor drop the store as unused. */
    volatile int *volatile p = NULL;
    fputs("about to fault\n", stderr);
    *p = 1;
    fputs("not faulted\n", stderr);
    return 0;
}
