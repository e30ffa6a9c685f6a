/* SPDX-License-Identifier: MIT */
/* The C side of bindings/python/bench.py: the work its Python loops do, as C
 * loops over the same objects, so that the two are timed in one run and differ
 * only by the binding. Loaded with ctypes; not part of the library. */
#include <libvmm/vmm.h>
#include <time.h>

double vmm_bench_vcpu_exits(vmm_vcpu *vcpu, int n);
double vmm_bench_sandbox_cycles(vmm_sandbox *sb, int n);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the vCPU through n unclaimed port-I/O exits: the seconds taken, or -1
 * if a run fails or ends otherwise. */
double vmm_bench_vcpu_exits(vmm_vcpu *vcpu, int n)
{
    vmm_exit x;
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        if (vmm_vcpu_run(vcpu, &x) < 0 || x.reason != VMM_EXIT_IO)
            return -1;
    return now_s() - t0;
}

/* n cycles of: empty stdin, run the loaded program to its exit, reset. The
 * seconds taken, or -1 if a call fails or the program does not exit 0. */
double vmm_bench_sandbox_cycles(vmm_sandbox *sb, int n)
{
    vmm_sandbox_result r;
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        if (vmm_sandbox_set_stdin(sb, "", 0) < 0 || vmm_sandbox_run(sb, &r) < 0 ||
            r.outcome != VMM_SANDBOX_EXITED || r.status != 0 || vmm_sandbox_reset(sb) < 0)
            return -1;
    return now_s() - t0;
}
