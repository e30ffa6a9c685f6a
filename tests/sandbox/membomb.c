/* SPDX-License-Identifier: MIT */
/* Sandbox program: takes and touches memory 1 MiB at a time until refused; the
 * sandbox must refuse (not the host run out) and the program must carry on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int main(void)
{
    void *huge = mmap(NULL, 1ull << 40, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (huge != MAP_FAILED) {
        printf("1 TiB mmap succeeded\n");
        return 1;
    }
    unsigned long n = 0;
    for (;;) {
        char *p = malloc(1 << 20);
        if (!p)
            break;
        memset(p, (int)(n & 0xff) | 1, 1 << 20);
        n++;
        /* Natively there is no limit short of the host's memory. */
        if (n >= 4096) {
            printf("never refused\n");
            return 1;
        }
    }
    printf("refused after %lu MiB\n", n);
    return 0;
}
