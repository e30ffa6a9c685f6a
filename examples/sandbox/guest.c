/* SPDX-License-Identifier: MIT */
/* The program examples/sandbox runs: reads a name from stdin, asks the host
 * for a greeting through a host function, prints it. Built with musl-gcc. */
#include <libvmm/sandbox_guest.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    char name[64] = "", greeting[128];
    if (!fgets(name, sizeof name, stdin))
        return 1;
    name[strcspn(name, "\n")] = 0;
    long n = vmm_hostcall("greet", name, strlen(name), greeting, sizeof greeting - 1);
    if (n < 0) {
        fprintf(stderr, "greet failed: %ld\n", n);
        return 2;
    }
    greeting[n] = 0;
    printf("%s (%zu bytes of name)\n", greeting, strlen(name));
    return 0;
}
