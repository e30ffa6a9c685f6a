/* SPDX-License-Identifier: MIT */
/* examples/sandbox: embed libvmm to run a static Linux program in a sandbox:
 * a host function, stdin per call, captured output, and a pool of one
 * sandbox reset between calls instead of being created again.
 *   usage: sandbox_example PROGRAM [NAME...]
 * PROGRAM is examples/sandbox/guest.c built with musl-gcc -static. */
#include <libvmm/vmm.h>
#include <stdio.h>
#include <string.h>

/* The host function the program calls by name: "Hello, <name>!". */
static int64_t greet(void *opaque, const void *in, size_t in_len, void *out, size_t out_cap)
{
    unsigned *calls = opaque;
    (*calls)++;
    int n = snprintf(out, out_cap, "Hello, %.*s!", (int)in_len, (const char *)in);
    return n < 0 || (size_t)n >= out_cap ? -7 /* E2BIG */ : n;
}

/* A policy on top of the default one: the program may not learn the time. */
static int no_clock(void *opaque, vmm_sandbox *sb, vmm_sandbox_syscall *call)
{
    (void)opaque;
    (void)sb;
    if (call->nr == 228 /* clock_gettime */) {
        call->ret = -1; /* EPERM */
        return VMM_SANDBOX_HANDLED;
    }
    return VMM_SANDBOX_DEFAULT;
}

static int fail(const char *what)
{
    fprintf(stderr, "sandbox_example: %s: %s\n", what, vmm_error_last()->message);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PROGRAM [NAME...]\n", argv[0]);
        return 2;
    }
    vmm_sandbox_options opts = VMM_SANDBOX_OPTIONS_INIT;
    opts.memory_size = 16u << 20;
    opts.time_budget_ns = 2000000000u; /* 2 s per call */
    opts.syscall = no_clock;
    vmm_sandbox *sb;
    if (vmm_sandbox_create(&sb, &opts) < 0)
        return fail("create");
    unsigned calls = 0;
    const char *const args[] = {"guest", NULL};
    if (vmm_sandbox_register(sb, "greet", greet, &calls) < 0 ||
        vmm_sandbox_load(sb, argv[1], args, NULL) < 0)
        return fail(argv[1]);

    const char *fallback[] = {"world"};
    const char **names = argc > 2 ? (const char **)argv + 2 : fallback;
    int n = argc > 2 ? argc - 2 : 1;
    for (int i = 0; i < n; i++) {
        vmm_sandbox_result res;
        /* Each call starts from the state right after loading. */
        if ((i > 0 && vmm_sandbox_reset(sb) < 0) ||
            vmm_sandbox_set_stdin(sb, names[i], strlen(names[i])) < 0 ||
            vmm_sandbox_run(sb, &res) < 0)
            return fail("run");
        size_t len;
        const char *out = vmm_sandbox_output(sb, 1, &len);
        if (res.outcome == VMM_SANDBOX_EXITED)
            printf("call %d: exit %d, %llu system calls: %.*s", i + 1, res.status,
                   (unsigned long long)res.syscalls, (int)len, out ? out : "");
        else if (res.outcome == VMM_SANDBOX_FAULT)
            printf("call %d: fault, vector %u at 0x%llx\n", i + 1, res.fault.vector,
                   (unsigned long long)res.fault.address);
        else
            printf("call %d: ended with outcome %d\n", i + 1, (int)res.outcome);
    }
    printf("greet was called %u times\n", calls);
    vmm_sandbox_destroy(sb);
    return 0;
}
