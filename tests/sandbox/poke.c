/* SPDX-License-Identifier: MIT */
/* Sandbox program: reads "r ADDRESS" or "w ADDRESS" from stdin and touches that
 * address, to probe what the program can reach. Prints "survived" if the
 * access did not fault. */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    char op = 0;
    unsigned long long addr = 0;
    if (scanf(" %c %llx", &op, &addr) != 2 || (op != 'r' && op != 'w')) {
        printf("bad input\n");
        return 2;
    }
    volatile unsigned char *volatile p = (volatile unsigned char *)(unsigned long)addr;
    if (op == 'r')
        printf("read %02x\n", *p);
    else
        *p = 0x5a;
    printf("survived\n");
    return 0;
}
