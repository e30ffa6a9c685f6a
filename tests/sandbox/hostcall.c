/* SPDX-License-Identifier: MIT */
/* Sandbox program: calls the host functions the tests register ("upper",
 * "add") and the error cases of the hypercall ABI; prints every result. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/sandbox_guest.h>

int main(void)
{
    char out[64];
    memset(out, 0, sizeof out);
    long n = vmm_hostcall("upper", "hello host", 10, out, sizeof out - 1);
    printf("upper: %ld %s\n", n, n > 0 ? out : "");

    int64_t in[2] = {1234567890123ll, -23};
    int64_t sum = 0;
    n = vmm_hostcall("add", in, sizeof in, &sum, sizeof sum);
    printf("add: %ld %lld\n", n, (long long)sum);

    /* Too short an input: "add" itself refuses it with -EDOM. */
    n = vmm_hostcall("add", in, 8, &sum, sizeof sum);
    printf("add short: %ld\n", n);

    n = vmm_hostcall("nosuch", "x", 1, out, sizeof out);
    printf("nosuch: %ld\n", n);

    /* An input buffer outside the program's memory. */
    n = vmm_hostcall("upper", (const void *)0x7fff00000000ull, 10, out, sizeof out);
    printf("bad input: %ld\n", n);

    /* An output buffer in the null page. */
    n = vmm_hostcall("upper", "abc", 3, (void *)0x100, 16);
    printf("bad output: %ld\n", n);

    /* An input over the host's max_call_bytes (1 MiB by default). */
    size_t big = 2u << 20;
    char *buf = calloc(1, big);
    n = buf ? vmm_hostcall("upper", buf, big, out, sizeof out) : 0;
    printf("too big: %ld\n", n);
    free(buf);

    /* A name without a NUL in its first 64 bytes. */
    char name[80];
    memset(name, 'a', sizeof name);
    name[sizeof name - 1] = 0;
    n = vmm_hostcall(name, "x", 1, out, sizeof out);
    printf("long name: %ld\n", n);
    return 0;
}
