/* SPDX-License-Identifier: MIT */
/* Sandbox program: prints what getppid() returned, for a policy that answers it. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    printf("ppid %d\n", (int)getppid());
    return 0;
}
