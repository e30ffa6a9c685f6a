/* SPDX-License-Identifier: MIT */
/* irqfd and ioeventfd through KVM: the CPL3 virtio driver guest
 * (guest/virtio_drv.c) gets the same results with "ioeventfd": true as
 * without, and a real-mode guest with the in-kernel PIC (guest/virtio_irq.S)
 * sees a virtio device's level-triggered interrupt asserted, re-asserted
 * after an EOI while InterruptStatus is set, and left de-asserted after
 * InterruptACK and EOI, whether the line goes through an irqfd or
 * KVM_IRQ_LINE and whether the queue is served synchronously or on the I/O
 * thread. */
#include "kvm_test.h"

#include <stdbool.h>

#include "virtio_drv_test.h"

/* DEBUG log lines that say the host fell back to the synchronous path or to
 * KVM_IRQ_LINE. */
static struct {
    unsigned int no_ioeventfd, no_irqfd;
    char last[256];
} fallbacks;

static void log_cb(void *opaque, vmm_log_level level, const char *component, const char *msg)
{
    (void)opaque;
    (void)level;
    (void)component;
    if (strstr(msg, "served synchronously")) {
        fallbacks.no_ioeventfd++;
        snprintf(fallbacks.last, sizeof fallbacks.last, "%s", msg);
    }
    if (strstr(msg, "no irqfd")) {
        fallbacks.no_irqfd++;
        snprintf(fallbacks.last, sizeof fallbacks.last, "%s", msg);
    }
}

static bool host_has(unsigned int cap)
{
    vmm_host_info info;
    assert_int_equal(vmm_host_info_get(&info), 0);
    return (info.caps & cap) != 0;
}

/* guest/virtio_drv.c with virtio-rng and virtio-blk both configured with
 * keys (e.g. "\"ioeventfd\": true"); its results checked by
 * drv_check_results(). */
static void run_drv(const char *keys)
{
    char *disk = drv_make_disk();
    struct tvm t;
    char blk_keys[256];
    snprintf(blk_keys, sizeof blk_keys, "\"serial\": \"disk-0\", %s", keys);
    drv_start(&t, disk, keys, blk_keys);
    expect_ok(vmm_vcpu_set_time_budget(t.vcpu, 60ull * 1000000000ull), "time budget");
    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_int_equal(x.status.code, 0);
    drv_check_results(&t, disk);
}

/* The driver's notifications go to KVM's ioeventfds (no fallback logged on a
 * host that has them) and the I/O thread serves them: same results. */
static void test_drv_ioeventfd(void **state)
{
    (void)state;
    memset(&fallbacks, 0, sizeof fallbacks);
    vmm_log_set(log_cb, NULL, VMM_LOG_DEBUG);
    run_drv("\"ioeventfd\": true");
    vmm_log_set(NULL, NULL, VMM_LOG_WARN);
    if (host_has(VMM_CAP_IOEVENTFD))
        assert_int_equal(fallbacks.no_ioeventfd, 0);
    else
        assert_int_not_equal(fallbacks.no_ioeventfd, 0);
}

/* The same guest and keys set to their defaults. */
static void test_drv_sync(void **state)
{
    (void)state;
    memset(&fallbacks, 0, sizeof fallbacks);
    vmm_log_set(log_cb, NULL, VMM_LOG_DEBUG);
    run_drv("\"ioeventfd\": false");
    vmm_log_set(NULL, NULL, VMM_LOG_WARN);
    assert_int_equal(fallbacks.no_ioeventfd, 0);
}

/* What guest/virtio_irq.S leaves at 0x500. */
struct irq_result {
    uint16_t count;
    uint8_t irr, isr;
    uint32_t int_status;
    uint16_t used_idx;
};

static void run_irq(const char *keys, struct irq_result *r)
{
    struct tvm t;
    memset(&t, 0, sizeof t);
    vmm_vm_options vo = VMM_VM_OPTIONS_INIT;
    vo.flags = VMM_VM_IRQCHIP;
    expect_ok(vmm_vm_create(&t.vm, &vo), "vmm_vm_create");
    /* RAM below the device's registers at 0xa0000 (real mode reaches them). */
    expect_ok(vmm_mem_map(t.vm, 0, 0x80000, NULL, 0), "vmm_mem_map");
    expect_ok(vmm_device_attach(NULL, t.vm, "debug-exit", "{\"size\": 1}"), "debug-exit");
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"mmio\": \"0xa0000\", \"irq\": 5%s%s}", *keys ? ", " : "", keys);
    expect_ok(vmm_device_attach(NULL, t.vm, "virtio-rng", cfg), "virtio-rng");
    expect_ok(vmm_vcpu_create(&t.vcpu, t.vm, 0), "vmm_vcpu_create");
    expect_ok(vmm_boot_flat(t.vm, guest_path("virtio_irq"), GUEST_LOAD, NULL), "boot");
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.mode = VMM_X86_REAL;
    o.entry = GUEST_LOAD;
    o.stack = 0x8000;
    expect_ok(vmm_x86_setup(t.vcpu, &o), "vmm_x86_setup");
    /* The local APIC off: the PIC's interrupt goes straight to the CPU. */
    vmm_sregs s;
    expect_ok(vmm_vcpu_get_sregs(t.vcpu, &s), "get sregs");
    s.apic_base &= ~0x800ull;
    expect_ok(vmm_vcpu_set_sregs(t.vcpu, &s), "set sregs");
    expect_ok(vmm_vcpu_set_time_budget(t.vcpu, 60ull * 1000000000ull), "time budget");
    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_int_equal(x.status.code, 0x55);
    uint8_t raw[10];
    expect_ok(vmm_mem_read(t.vm, 0x500, raw, sizeof raw), "read results");
    memcpy(&r->count, raw, 2);
    r->irr = raw[2];
    r->isr = raw[3];
    memcpy(&r->int_status, raw + 4, 4);
    memcpy(&r->used_idx, raw + 8, 2);
    tvm_stop(&t);
}

/* Exactly two interrupts (the second only because the level stayed high
 * after an EOI without InterruptACK), then nothing pending: IRQ 5 is clear in
 * the PIC's IRR (level-triggered, so IRR follows the line) and ISR. */
static void expect_level(const char *keys)
{
    struct irq_result r;
    memset(&fallbacks, 0, sizeof fallbacks);
    vmm_log_set(log_cb, NULL, VMM_LOG_DEBUG);
    run_irq(keys, &r);
    vmm_log_set(NULL, NULL, VMM_LOG_WARN);
    if (r.count != 2 || (r.irr & 0x20) || (r.isr & 0x20))
        fail_msg("%s: %u interrupts, IRR 0x%02x, ISR 0x%02x", *keys ? keys : "defaults", r.count,
                 r.irr, r.isr);
    assert_int_equal(r.int_status, 0);
    assert_int_equal(r.used_idx, 1);
}

static void test_irq_irqfd(void **state)
{
    (void)state;
    expect_level("");
    /* The line went through an irqfd where the host has them. */
    if (host_has(VMM_CAP_IRQFD) && fallbacks.no_irqfd)
        assert_non_null(strstr(fallbacks.last, "RESAMPLE"));
}

static void test_irq_line(void **state)
{
    (void)state;
    expect_level("\"irqfd\": false");
    assert_int_equal(fallbacks.no_irqfd, 0);
}

static void test_irq_irqfd_ioeventfd(void **state)
{
    (void)state;
    expect_level("\"ioeventfd\": true");
    if (host_has(VMM_CAP_IOEVENTFD))
        assert_int_equal(fallbacks.no_ioeventfd, 0);
}

int main(void)
{
    require_kvm("test_virtio_ioev_kvm");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drv_ioeventfd),       cmocka_unit_test(test_drv_sync),
        cmocka_unit_test(test_irq_irqfd),           cmocka_unit_test(test_irq_line),
        cmocka_unit_test(test_irq_irqfd_ioeventfd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
