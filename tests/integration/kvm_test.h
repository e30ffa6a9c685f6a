/* SPDX-License-Identifier: MIT */
/* Shared helpers for integration tests that need /dev/kvm. */
#ifndef LIBVMM_KVM_TEST_H
#define LIBVMM_KVM_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cmocka.h>
#include <libvmm/vmm.h>

#define SKIP_CODE   77
#define RAM_SIZE    (2u << 20)
#define GUEST_LOAD  0x10000u
#define GUEST_STACK 0x9000u

/* Exit 77 (skip) when /dev/kvm cannot be used, unless LIBVMM_REQUIRE_KVM=1. */
static inline void require_kvm(const char *test)
{
    vmm_host_info info;
    int rc = vmm_host_info_get(&info);
    if (rc == 0)
        return;
    const char *req = getenv("LIBVMM_REQUIRE_KVM");
    if (req && strcmp(req, "1") == 0) {
        fprintf(stderr, "%s: KVM is required (LIBVMM_REQUIRE_KVM=1) but unusable: %s\n", test,
                vmm_error_last()->message);
        exit(1);
    }
    fprintf(stderr, "%s: SKIP: /dev/kvm unusable (%s)\n", test, vmm_error_last()->message);
    exit(SKIP_CODE);
}

/* True when the tests run in the nested test VM of scripts/with-kvm.sh
 * (LIBVMM_TEST_HOST=nested-svm: KVM's SVM inside QEMU's TCG). A test skips a
 * case or an assertion there only where TCG's own behaviour differs from the
 * architecture; docs/testing.md lists each such case and why. */
static inline bool on_nested_svm(void)
{
    const char *h = getenv("LIBVMM_TEST_HOST");
    return h && strcmp(h, "nested-svm") == 0;
}

/* Says on stderr that a platform case is not checked here, and why. */
static inline void platform_note(const char *test, const char *why)
{
    fprintf(stderr, "%s: not checked on %s: %s (docs/testing.md)\n", test,
            getenv("LIBVMM_TEST_HOST"), why);
}

/* Collects serial output. */
struct outbuf {
    char data[4096];
    size_t len;
};

static inline void outbuf_cb(void *opaque, const uint8_t *buf, size_t len)
{
    struct outbuf *o = opaque;
    for (size_t i = 0; i < len && o->len + 1 < sizeof o->data; i++)
        o->data[o->len++] = (char)buf[i];
    o->data[o->len] = 0;
}

struct tvm {
    vmm_vm *vm;
    vmm_vcpu *vcpu;
    vmm_device *serial;
    struct outbuf out;
};

static inline const char *guest_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.bin", LIBVMM_GUEST_DIR, name);
    return path;
}

/* vmm_x86_setup() for a guest entered at GUEST_LOAD in mode/cpl, with the stack
 * at GUEST_STACK (real mode: 0x8000) and the given exception handling. */
static inline void tvm_setup_cpu(vmm_vcpu *vcpu, vmm_x86_mode mode, unsigned int cpl,
                                 vmm_x86_exceptions exceptions)
{
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.mode = mode;
    o.cpl = cpl;
    o.entry = GUEST_LOAD;
    o.stack = mode == VMM_X86_REAL ? 0x8000 : GUEST_STACK;
    o.exceptions = exceptions;
    if (vmm_x86_setup(vcpu, &o) != 0)
        fail_msg("vmm_x86_setup: %s", vmm_error_last()->message);
}

/* A VM with 2 MiB RAM at 0, serial on COM1 captured into t->out, debug-exit at
 * port 0xf4, the named guest loaded at 64 KiB and the vCPU set up for mode/cpl
 * with the given exception handling. */
static inline void tvm_start_ex(struct tvm *t, const char *guest, vmm_x86_mode mode,
                                unsigned int cpl, vmm_x86_exceptions exceptions)
{
    memset(t, 0, sizeof *t);
    assert_int_equal(vmm_vm_create(&t->vm, NULL), 0);
    assert_int_equal(vmm_mem_map(t->vm, 0, RAM_SIZE, NULL, 0), 0);
    assert_int_equal(vmm_device_attach(&t->serial, t->vm, "serial", NULL), 0);
    assert_int_equal(vmm_serial_set_output(t->serial, outbuf_cb, &t->out), 0);
    assert_int_equal(vmm_device_attach(NULL, t->vm, "debug-exit", "{\"size\": 1}"), 0);
    assert_int_equal(vmm_vcpu_create(&t->vcpu, t->vm, 0), 0);
    if (guest)
        assert_int_equal(vmm_boot_flat(t->vm, guest_path(guest), GUEST_LOAD, NULL), 0);
    tvm_setup_cpu(t->vcpu, mode, cpl, exceptions);
}

/* tvm_start_ex() without exception reporting. */
static inline void tvm_start(struct tvm *t, const char *guest, vmm_x86_mode mode, unsigned int cpl)
{
    tvm_start_ex(t, guest, mode, cpl, VMM_X86_EXCEPTIONS_NONE);
}

static inline void tvm_stop(struct tvm *t)
{
    vmm_vm_destroy(t->vm);
    t->vm = NULL;
}

/* Run until an exit other than the ones served internally; fail on error. */
static inline vmm_exit tvm_run(struct tvm *t)
{
    vmm_exit x;
    int rc = vmm_vcpu_run(t->vcpu, &x);
    if (rc != 0)
        fail_msg("vmm_vcpu_run: %s", vmm_error_last()->message);
    return x;
}

/* Fail the test with the library's message unless rc is 0. */
static inline void expect_ok(int rc, const char *what)
{
    if (rc != 0)
        fail_msg("%s: %d (%s)", what, rc, vmm_error_last()->message);
}

static inline int count_open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

/* VmRSS of this process in KiB, -1 when /proc does not say. */
static inline long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* For a test that measures the growth of VmRSS: khugepaged may at any time
 * collapse a sparsely used anonymous region into a transparent huge page,
 * adding up to 2 MiB per region without any allocation (seen under ASan,
 * whose allocator maps aligned regions, and more often the longer a test
 * runs). Turning THP off for the process keeps growth meaning allocation. */
static inline void rss_growth_test_begin(void)
{
    assert_int_equal(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), 0);
}

#endif
