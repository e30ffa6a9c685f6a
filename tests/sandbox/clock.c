/* SPDX-License-Identifier: MIT */
/* Sandbox program: the clock goes forward and getrandom() gives bytes. */
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

int main(void)
{
    struct timespec a, b;
    if (clock_gettime(CLOCK_MONOTONIC, &a) != 0 || clock_gettime(CLOCK_MONOTONIC, &b) != 0) {
        printf("clock_gettime failed\n");
        return 1;
    }
    if (b.tv_sec < a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec < a.tv_nsec)) {
        printf("clock went back\n");
        return 1;
    }
    if (a.tv_sec == 0 && a.tv_nsec == 0) {
        printf("clock is zero\n");
        return 1;
    }
    unsigned char r[64] = {0};
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        printf("getrandom failed\n");
        return 1;
    }
    int nonzero = 0;
    for (size_t i = 0; i < sizeof r; i++)
        nonzero |= r[i];
    if (!nonzero) {
        printf("getrandom gave zeros\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}
