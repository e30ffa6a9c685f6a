/* SPDX-License-Identifier: MIT */
/* Sandbox program: exits with argv[1] (default 3) to check the status a host sees. */
#include <stdlib.h>

int main(int argc, char **argv)
{
    exit(argc > 1 ? atoi(argv[1]) : 3);
}
