/* SPDX-License-Identifier: MIT */
/* Register state (FPU, MSRs), CPUID, protected-mode CPL3, and serial
 * interrupts through the in-kernel irqchip. */
#include <cpuid.h>
#include <pthread.h>
#include <time.h>

#include "kvm_test.h"

static void test_fpu_roundtrip(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, NULL, VMM_X86_LONG, 0);
    vmm_fpu f;
    assert_int_equal(vmm_vcpu_get_fpu(t.vcpu, &f), 0);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++)
            f.xmm[i][j] = (uint8_t)(i * 16 + j);
    f.mxcsr = 0x1f80 | 0x6000; /* round toward zero */
    f.fcw = 0x027f;
    assert_int_equal(vmm_vcpu_set_fpu(t.vcpu, &f), 0);
    vmm_fpu g;
    memset(&g, 0, sizeof g);
    assert_int_equal(vmm_vcpu_get_fpu(t.vcpu, &g), 0);
    assert_memory_equal(f.xmm, g.xmm, sizeof f.xmm);
    assert_int_equal(g.mxcsr, f.mxcsr);
    assert_int_equal(g.fcw, 0x027f);
    assert_int_equal(vmm_vcpu_get_fpu(t.vcpu, NULL), VMM_EINVAL);
    tvm_stop(&t);
}

static void test_msr_roundtrip(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, NULL, VMM_X86_LONG, 0);
    vmm_msr set[] = {{0x174, 0x10}, {0xc0000081, 0x0023001000000000ull}, {0xc0000102, 0x7000}};
    assert_int_equal(vmm_vcpu_set_msrs(t.vcpu, set, 3), 0);
    vmm_msr get[] = {{0x174, 0}, {0xc0000081, 0}, {0xc0000102, 0}, {0xc0000080, 0}};
    assert_int_equal(vmm_vcpu_get_msrs(t.vcpu, get, 4), 0);
    assert_int_equal(get[0].value, 0x10);
    assert_int_equal(get[1].value, 0x0023001000000000ull);
    assert_int_equal(get[2].value, 0x7000);
    assert_true(get[3].value & (1u << 10)); /* EFER.LMA, as vmm_x86_setup left it */
    /* An MSR KVM does not know is named in the error. */
    vmm_msr bad[] = {{0x174, 0}, {0xdead0000, 0}};
    assert_int_equal(vmm_vcpu_get_msrs(t.vcpu, bad, 2), VMM_ENOENT);
    assert_non_null(strstr(vmm_error_last()->message, "0xdead0000"));
    assert_int_equal(vmm_vcpu_get_msrs(t.vcpu, get, 0), VMM_EINVAL);
    tvm_stop(&t);
}

static uint32_t guest_cpuid_ebx(struct tvm *t)
{
    vmm_exit x = tvm_run(t);
    assert_int_equal(x.reason, VMM_EXIT_IO);
    assert_int_equal(x.io.port, 0x520);
    uint32_t v;
    memcpy(&v, x.io.data, 4);
    return v;
}

/* The default CPUID is KVM's supported set (same vendor as the host), and a
 * table of the caller's replaces it. */
static void test_cpuid(void **state)
{
    (void)state;
    unsigned int a, b, c, d;
    assert_true(__get_cpuid(0, &a, &b, &c, &d));
    struct tvm t;
    tvm_start(&t, "cpuid", VMM_X86_LONG, 0);
    assert_int_equal(guest_cpuid_ebx(&t), b);
    tvm_stop(&t);

    tvm_start(&t, "cpuid", VMM_X86_LONG, 0);
    vmm_cpuid_entry e[] = {{0, 0, 0, 1, 0x12345678, 0, 0}};
    assert_int_equal(vmm_x86_set_cpuid(t.vcpu, e, 1), 0);
    assert_int_equal(guest_cpuid_ebx(&t), 0x12345678);
    assert_int_equal(vmm_x86_set_cpuid(t.vcpu, e, 0), VMM_EINVAL);
    tvm_stop(&t);
}

/* 32-bit protected mode at CPL3: an MMIO write reaches debug-exit. */
static void test_protected_cpl3(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, NULL, VMM_X86_PROTECTED, 3);
    assert_int_equal(vmm_device_attach(NULL, t.vm, "debug-exit", "{\"mmio\": 3489660928}"), 0);
    /* movl $0x2a, 0xd0000000 ; jmp . */
    static const uint8_t code[] = {0xc7, 0x05, 0x00, 0x00, 0x00, 0xd0,
                                   0x2a, 0x00, 0x00, 0x00, 0xeb, 0xfe};
    assert_int_equal(vmm_mem_write(t.vm, GUEST_LOAD, code, sizeof code), 0);
    vmm_sregs s;
    assert_int_equal(vmm_vcpu_get_sregs(t.vcpu, &s), 0);
    assert_int_equal(s.cs.dpl, 3);
    assert_int_equal(s.cs.db, 1);
    assert_int_equal(s.cs.l, 0);
    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_int_equal(x.status.code, 0x2a);
    tvm_stop(&t);
}

static void test_setup_refusals(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, NULL, VMM_X86_LONG, 0);
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.mode = VMM_X86_REAL;
    o.cpl = 3;
    assert_int_equal(vmm_x86_setup(t.vcpu, &o), VMM_EINVAL);
    o.cpl = 1;
    o.mode = VMM_X86_LONG;
    assert_int_equal(vmm_x86_setup(t.vcpu, &o), VMM_EINVAL);
    o.cpl = 0;
    o.tables = RAM_SIZE - 0x1000; /* the tables do not fit */
    assert_int_equal(vmm_x86_setup(t.vcpu, &o), VMM_EFAULT);
    o.tables = 0x9800;
    assert_int_equal(vmm_x86_setup(t.vcpu, &o), VMM_EINVAL);
    o.tables = VMM_X86_TABLES_DEFAULT;
    o.identity_map_size = 3u << 20;
    assert_int_equal(vmm_x86_setup(t.vcpu, &o), VMM_EINVAL);
    o.version = 99;
    assert_int_equal(vmm_x86_setup(t.vcpu, &o), VMM_EVERSION);
    tvm_stop(&t);
}

struct feeder {
    vmm_device *serial;
    int accepted;
};

static void *feed_input(void *arg)
{
    struct feeder *f = arg;
    struct timespec d = {0, 100 * 1000000L};
    nanosleep(&d, NULL);
    f->accepted = vmm_serial_input(f->serial, "ping\n", 5);
    return NULL;
}

/* Serial input raises IRQ 4 through the in-kernel PIC; the guest, halted in the
 * kernel, wakes in its interrupt handler and echoes the bytes. */
static void test_serial_irq(void **state)
{
    (void)state;
    struct tvm t;
    memset(&t, 0, sizeof t);
    vmm_vm_options vo = VMM_VM_OPTIONS_INIT;
    vo.flags = VMM_VM_IRQCHIP;
    assert_int_equal(vmm_vm_create(&t.vm, &vo), 0);
    assert_int_equal(vmm_mem_map(t.vm, 0, RAM_SIZE, NULL, 0), 0);
    assert_int_equal(vmm_device_attach(&t.serial, t.vm, "serial", NULL), 0);
    assert_int_equal(vmm_serial_set_output(t.serial, outbuf_cb, &t.out), 0);
    assert_int_equal(vmm_device_attach(NULL, t.vm, "debug-exit", "{\"size\": 1}"), 0);
    assert_int_equal(vmm_vcpu_create(&t.vcpu, t.vm, 0), 0);
    assert_int_equal(vmm_boot_flat(t.vm, guest_path("serial_irq"), GUEST_LOAD, NULL), 0);
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.mode = VMM_X86_REAL;
    o.entry = GUEST_LOAD;
    o.stack = 0x8000;
    assert_int_equal(vmm_x86_setup(t.vcpu, &o), 0);
    /* With the local APIC disabled, the PIC's interrupt goes straight to the CPU
     * (what firmware would arrange with LVT0 in ExtINT mode). */
    vmm_sregs s;
    assert_int_equal(vmm_vcpu_get_sregs(t.vcpu, &s), 0);
    s.apic_base &= ~0x800ull;
    assert_int_equal(vmm_vcpu_set_sregs(t.vcpu, &s), 0);
    assert_int_equal(vmm_vcpu_set_time_budget(t.vcpu, 20ull * 1000000000ull), 0);

    struct feeder f = {t.serial, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, feed_input, &f), 0);
    vmm_exit x = tvm_run(&t);
    pthread_join(th, NULL);
    assert_int_equal(f.accepted, 5);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_int_equal(x.status.code, 0x55);
    assert_string_equal(t.out.data, "ping\n");
    vmm_serial_stats st;
    assert_int_equal(vmm_serial_get_stats(t.serial, &st), 0);
    assert_int_equal(st.rx_bytes, 5);
    tvm_stop(&t);
}

/* Single-stepping reports each instruction; a software breakpoint stops at INT3. */
static void test_guest_debug(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, NULL, VMM_X86_LONG, 0);
    /* nop; nop; int3; mov $0x7, %al; out %al, $0xf4 (debug-exit); hlt */
    static const uint8_t code[] = {0x90, 0x90, 0xcc, 0xb0, 0x07, 0xe6, 0xf4, 0xf4};
    assert_int_equal(vmm_mem_write(t.vm, GUEST_LOAD, code, sizeof code), 0);
    assert_int_equal(vmm_vcpu_set_debug(t.vcpu, 0x80), VMM_EINVAL);
    assert_int_equal(vmm_vcpu_set_debug(t.vcpu, VMM_DEBUG_SINGLESTEP), 0);
    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_DEBUG);
    assert_int_equal(x.debug.exception, 1);
    vmm_regs r;
    assert_int_equal(vmm_vcpu_get_regs(t.vcpu, &r), 0);
    assert_int_equal(r.rip, GUEST_LOAD + 1); /* one NOP executed */
    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_DEBUG);
    assert_int_equal(vmm_vcpu_get_regs(t.vcpu, &r), 0);
    assert_int_equal(r.rip, GUEST_LOAD + 2);
    /* Breakpoints only: the INT3 stops the run before the guest takes it. On PVM
     * hosts CPL0 code is emulated and KVM's emulator cannot execute INT3: that
     * must come back as a clear emulation-failure exit naming the instruction.
     * In the nested test VM, QEMU's TCG checks only the INTn intercept for
     * INT3, not the #BP exception intercept KVM sets, so the guest takes #BP
     * through its (empty) IDT and shuts down: that case is not run there. */
    vmm_host_info info;
    assert_int_equal(vmm_host_info_get(&info), 0);
    assert_int_equal(vmm_vcpu_set_debug(t.vcpu, VMM_DEBUG_SW_BREAKPOINTS), 0);
    if (!info.pvm && on_nested_svm()) {
        platform_note("test_guest_debug", "QEMU's TCG does not apply the #BP exception "
                                          "intercept to INT3 in a nested guest");
    } else {
        x = tvm_run(&t);
        if (info.pvm) {
            assert_int_equal(x.reason, VMM_EXIT_INTERNAL_ERROR);
            assert_int_equal(x.internal.suberror, 1); /* KVM_INTERNAL_ERROR_EMULATION */
            assert_int_equal(x.internal.rip, GUEST_LOAD + 2);
            assert_true(x.internal.insn_len >= 1);
            assert_int_equal(x.internal.insn[0], 0xcc);
        } else {
            assert_int_equal(x.reason, VMM_EXIT_DEBUG);
            assert_int_equal(x.debug.exception, 3);
            assert_int_equal(x.debug.pc, GUEST_LOAD + 2);
        }
    }
    /* Step over it and run to the end with debugging off. */
    assert_int_equal(vmm_vcpu_get_regs(t.vcpu, &r), 0);
    r.rip = GUEST_LOAD + 3;
    assert_int_equal(vmm_vcpu_set_regs(t.vcpu, &r), 0);
    assert_int_equal(vmm_vcpu_set_debug(t.vcpu, 0), 0);
    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_int_equal(x.status.code, 7);
    tvm_stop(&t);
}

int main(void)
{
    require_kvm("test_cpu");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fpu_roundtrip),  cmocka_unit_test(test_msr_roundtrip),
        cmocka_unit_test(test_cpuid),          cmocka_unit_test(test_protected_cpl3),
        cmocka_unit_test(test_setup_refusals), cmocka_unit_test(test_serial_irq),
        cmocka_unit_test(test_guest_debug),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
