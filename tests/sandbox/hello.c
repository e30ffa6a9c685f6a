/* SPDX-License-Identifier: MIT */
/* Sandbox program: the smallest stdio program; also built as static-PIE. */
#include <stdio.h>

int main(void)
{
    fputs("hello from the sandbox\n", stdout);
    return 0;
}
