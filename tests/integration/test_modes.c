/* SPDX-License-Identifier: MIT */
/* Guests in each CPU mode, CPL3 code, unclaimed exits, embedder devices, triple faults. */
#include "kvm_test.h"

#include <libvmm/sys/device.h>
#include "../../guest/compute.h"

static void hello_in_mode(vmm_x86_mode mode, const char *guest, const char *expect, int status)
{
    struct tvm t;
    tvm_start(&t, guest, mode, 0);
    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_int_equal(x.status.code, status);
    assert_string_equal(t.out.data, expect);
    vmm_serial_stats st;
    assert_int_equal(vmm_serial_get_stats(t.serial, &st), 0);
    assert_int_equal(st.tx_bytes, strlen(expect));
    /* After the status exit the guest resumes at HLT. */
    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_HLT);
    tvm_stop(&t);
}

static void test_real_mode(void **state)
{
    (void)state;
    hello_in_mode(VMM_X86_REAL, "hello_real", "Hello from real mode\n", 0x10);
}

static void test_protected_mode(void **state)
{
    (void)state;
    hello_in_mode(VMM_X86_PROTECTED, "hello_prot", "Hello from protected mode\n", 0x20);
}

static void test_long_mode(void **state)
{
    (void)state;
    hello_in_mode(VMM_X86_LONG, "hello_long", "Hello from long mode\n", 0x40);
}

/* The compute kernel at CPL3; its result (MMIO write) must match the host's. */
static void test_cpl3_compute(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, "cpl3_compute", VMM_X86_LONG, 3);
    assert_int_equal(
        vmm_device_attach(NULL, t.vm, "debug-exit", "{\"mmio\": 3489660928, \"size\": 4}"),
        0); /* 0xd0000000 */
    vmm_regs r;
    assert_int_equal(vmm_vcpu_get_regs(t.vcpu, &r), 0);
    r.rdi = 1000000;
    assert_int_equal(vmm_vcpu_set_regs(t.vcpu, &r), 0);
    vmm_sregs s;
    assert_int_equal(vmm_vcpu_get_sregs(t.vcpu, &s), 0);
    assert_int_equal(s.cs.dpl, 3);
    assert_int_equal(s.cs.selector & 3, 3);

    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_MMIO);
    assert_int_equal(x.mmio.addr, 0xd0000008u);
    assert_int_equal(x.mmio.size, 8);
    assert_true(x.mmio.is_write);
    uint64_t got;
    memcpy(&got, x.mmio.data, 8);
    assert_int_equal(got, vmm_guest_compute(1000000));
    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_int_equal(x.status.code, 0x33);
    tvm_stop(&t);
}

/* Unclaimed port and MMIO accesses reach the caller with their payload, and the
 * caller's answers to reads reach the guest (which echoes them back). */
static void test_unclaimed_roundtrip(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, "unclaimed", VMM_X86_LONG, 0);

    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_IO);
    assert_int_equal(x.io.port, 0x510);
    assert_int_equal(x.io.size, 4);
    assert_false(x.io.is_write);
    assert_int_equal(x.io.count, 1);
    uint32_t v32 = 0xcafebabe;
    memcpy(x.io.data, &v32, 4);

    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_IO);
    assert_int_equal(x.io.port, 0x511);
    assert_true(x.io.is_write);
    uint32_t echo32;
    memcpy(&echo32, x.io.data, 4);
    assert_int_equal(echo32, 0xcafebabe);

    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_MMIO);
    assert_int_equal(x.mmio.addr, 0xd0000000u);
    assert_int_equal(x.mmio.size, 8);
    assert_false(x.mmio.is_write);
    uint64_t v64 = 0x1122334455667788ull;
    memcpy(x.mmio.data, &v64, 8);

    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_MMIO);
    assert_int_equal(x.mmio.addr, 0xd0000100u);
    assert_true(x.mmio.is_write);
    uint64_t echo64;
    memcpy(&echo64, x.mmio.data, 8);
    assert_int_equal(echo64, v64);

    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_MMIO);
    assert_int_equal(x.mmio.addr, 0xd0000200u);
    assert_int_equal(x.mmio.size, 1);
    x.mmio.data[0] = 0x5a;

    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_MMIO);
    assert_int_equal(x.mmio.addr, 0xd0000300u);
    assert_int_equal(x.mmio.size, 1);
    assert_int_equal(x.mmio.data[0], 0x5a);

    /* rep outsb: one or more IO exits whose elements spell "hello". */
    char got[8] = {0};
    size_t n = 0;
    while (n < 5) {
        x = tvm_run(&t);
        assert_int_equal(x.reason, VMM_EXIT_IO);
        assert_int_equal(x.io.port, 0x512);
        assert_int_equal(x.io.size, 1);
        assert_true(x.io.count >= 1 && n + x.io.count <= 5);
        memcpy(got + n, x.io.data, x.io.count);
        n += x.io.count;
    }
    assert_string_equal(got, "hello");

    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_int_equal(x.status.code, 0x99);
    tvm_stop(&t);
}

/* A device type written here, registered at run time and driven by a guest. */
struct counter {
    uint32_t sum;
    unsigned int accesses;
};

static int counter_create(vmm_device *dev, const char *config, void **state)
{
    (void)config;
    struct counter *c = calloc(1, sizeof *c);
    if (!c)
        return VMM_ENOMEM;
    int rc = vmm_device_claim(dev, VMM_SPACE_PIO, 0x700, 4);
    if (rc == 0)
        rc = vmm_device_claim(dev, VMM_SPACE_MMIO, 0xe0000000ull, 0x1000);
    if (rc < 0) {
        free(c);
        return rc;
    }
    *state = c;
    return 0;
}

static int counter_read(void *state, unsigned int range, uint64_t off, void *data,
                        unsigned int size)
{
    struct counter *c = state;
    c->accesses++;
    if (off != 0 || size != 4)
        return VMM_EINVAL;
    memcpy(data, &c->sum, 4);
    (void)range;
    return 0;
}

static int counter_write(void *state, unsigned int range, uint64_t off, const void *data,
                         unsigned int size)
{
    struct counter *c = state;
    c->accesses++;
    if (off != 0 || size != 4)
        return VMM_EINVAL;
    uint32_t v;
    memcpy(&v, data, 4);
    c->sum += v;
    (void)range;
    return 0;
}

static void counter_reset(void *state)
{
    ((struct counter *)state)->sum = 0;
}

static const vmm_device_ops counter_ops = {
    .version = VMM_DEVICE_OPS_VERSION,
    .name = "test-counter",
    .create = counter_create,
    .read = counter_read,
    .write = counter_write,
    .reset = counter_reset,
    .destroy = free,
};

static void test_embedder_device(void **state)
{
    (void)state;
    assert_int_equal(vmm_device_register(&counter_ops), 0);
    assert_int_equal(vmm_device_register(&counter_ops), VMM_EEXIST);
    struct tvm t;
    tvm_start(&t, "counter", VMM_X86_LONG, 0);
    vmm_device *dev;
    /* Every type accepts "id", even one that reads no config. */
    assert_int_equal(vmm_device_attach(&dev, t.vm, "test-counter", "{\"id\": \"ctr\"}"), 0);
    assert_string_equal(vmm_device_id(dev), "ctr");
    /* A second instance would claim the same ranges. */
    assert_int_equal(vmm_device_attach(NULL, t.vm, "test-counter", NULL), VMM_EEXIST);
    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_int_equal(x.status.code, 84);
    struct counter *c = vmm_device_state(dev);
    assert_int_equal(c->sum, 42);
    assert_int_equal(c->accesses, 5);
    assert_int_equal(vmm_device_reset(dev), 0);
    assert_int_equal(c->sum, 0);
    tvm_stop(&t);
    assert_int_equal(vmm_device_unregister("test-counter"), 0);
}

/* ud2 with no IDT: #UD -> #DF -> triple fault -> SHUTDOWN; the process is fine
 * and another VM still runs. */
static void test_triple_fault(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, NULL, VMM_X86_LONG, 0);
    static const uint8_t ud2[] = {0x0f, 0x0b};
    assert_int_equal(vmm_mem_write(t.vm, GUEST_LOAD, ud2, sizeof ud2), 0);
    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_SHUTDOWN);
    tvm_stop(&t);
    hello_in_mode(VMM_X86_LONG, "hello_long", "Hello from long mode\n", 0x40);
}

int main(void)
{
    require_kvm("test_modes");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_mode),           cmocka_unit_test(test_protected_mode),
        cmocka_unit_test(test_long_mode),           cmocka_unit_test(test_cpl3_compute),
        cmocka_unit_test(test_unclaimed_roundtrip), cmocka_unit_test(test_embedder_device),
        cmocka_unit_test(test_triple_fault),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
