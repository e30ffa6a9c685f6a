/* SPDX-License-Identifier: MIT */
/* Sandbox program: echoes argc, argv and envp and checks the auxiliary vector
 * a libc start-up relies on. Exits 1 when the auxiliary vector is wrong. */
#include <stdio.h>
#include <sys/auxv.h>

int main(int argc, char **argv, char **envp)
{
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    if (argv[argc] != NULL) {
        printf("argv not NULL-terminated\n");
        return 1;
    }
    for (int i = 0; envp[i]; i++)
        printf("envp[%d]=%s\n", i, envp[i]);
    int bad = 0;
    if (getauxval(AT_PAGESZ) != 4096) {
        printf("AT_PAGESZ=%lu\n", getauxval(AT_PAGESZ));
        bad = 1;
    }
    if (getauxval(AT_RANDOM) == 0) {
        printf("AT_RANDOM missing\n");
        bad = 1;
    }
    if (getauxval(AT_PHDR) == 0) {
        printf("AT_PHDR missing\n");
        bad = 1;
    }
    printf(bad ? "auxv bad\n" : "auxv ok\n");
    return bad;
}
