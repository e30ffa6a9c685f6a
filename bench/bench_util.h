/* SPDX-License-Identifier: MIT */
/* Helpers the benchmarks share: clock, errors, the skip code, and the
 * statistics behind RATIO/DETAIL lines. Each benchmark defines BENCH_NAME
 * before including this. */
#ifndef LIBVMM_BENCH_UTIL_H
#define LIBVMM_BENCH_UTIL_H

#include <libvmm/vmm.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SKIP_CODE 77

/* Exit code when KVM is unusable: skip, or fail when LIBVMM_REQUIRE_KVM=1. */
static inline int no_kvm_code(void)
{
    const char *req = getenv("LIBVMM_REQUIRE_KVM");
    return req && strcmp(req, "1") == 0 ? 1 : SKIP_CODE;
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", BENCH_NAME);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static inline void vmm_check(int rc, const char *what)
{
    if (rc < 0)
        die("%s: %s", what, vmm_error_last()->message);
}

static inline void *xmalloc(size_t n)
{
    void *p = calloc(1, n);
    if (!p)
        die("out of memory");
    return p;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double median(const double *v, int n)
{
    double *s = xmalloc((size_t)n * sizeof *s);
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

static inline double min_of(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static inline double max_of(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* The median of the per-round ratios as a RATIO line (headline) or, for a
 * secondary figure, as a DETAIL line; then their spread. */
static inline void ratio_report(bool headline, const char *name, const double *ratios, int n)
{
    if (headline)
        printf("RATIO %s %.3f\n", name, median(ratios, n));
    else
        printf("DETAIL %s_ratio %.3f ratio\n", name, median(ratios, n));
    printf("DETAIL %s_ratio_min %.3f ratio\n", name, min_of(ratios, n));
    printf("DETAIL %s_ratio_max %.3f ratio\n", name, max_of(ratios, n));
    printf("DETAIL %s_rounds %d count\n", name, n);
}

/* vCPU 0 of vm running the flat guest image at path from 0x10000, in long
 * mode at CPL 3 with its stack below 0x9000 (the virtio driver guests). */
static inline vmm_vcpu *bench_cpl3_guest(vmm_vm *vm, const char *path)
{
    vmm_vcpu *vcpu;
    vmm_check(vmm_vcpu_create(&vcpu, vm, 0), "vmm_vcpu_create");
    vmm_check(vmm_boot_flat(vm, path, 0x10000, NULL), "vmm_boot_flat");
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.mode = VMM_X86_LONG;
    o.cpl = 3;
    o.entry = 0x10000;
    o.stack = 0x9000;
    vmm_check(vmm_x86_setup(vcpu, &o), "vmm_x86_setup");
    return vcpu;
}

/* Run the guest to its pause (a debug-exit status pause, after its set-up),
 * then time the run that follows, whose exit goes to *x. */
static inline double bench_timed_after_pause(vmm_vcpu *vcpu, int32_t pause, vmm_exit *x)
{
    vmm_check(vmm_vcpu_run(vcpu, x), "vmm_vcpu_run");
    if (x->reason != VMM_EXIT_STATUS || x->status.code != pause)
        die("the guest did not set up (exit %s, status %d)", vmm_exit_reason_name(x->reason),
            x->status.code);
    double t0 = now_s();
    vmm_check(vmm_vcpu_run(vcpu, x), "vmm_vcpu_run");
    return now_s() - t0;
}

/* The start of a benchmark's main: parse [--quick], line-buffer stdout and
 * check that /dev/kvm is usable. Returns -1 to go on, else the exit code. */
static inline int bench_begin(int argc, char **argv, bool *quick, vmm_host_info *info)
{
    *quick = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            *quick = true;
        } else {
            fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (vmm_host_info_get(info) < 0) {
        fprintf(stderr, "%s: /dev/kvm unusable: %s\n", BENCH_NAME, vmm_error_last()->message);
        return no_kvm_code();
    }
    return -1;
}

#endif
