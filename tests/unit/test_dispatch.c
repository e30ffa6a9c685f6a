/* SPDX-License-Identifier: MIT */
/* Unit tests of exit decoding and dispatch, fed synthetic KVM exits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "hv/kvm.h" /* the KVM backend's exit decoding, over a faked kvm_run */

#define RUN_SIZE 4096
#define DATA_OFF 0xc00 /* where KVM would put the I/O data: after struct kvm_run */

static struct kvm_run *new_run(void)
{
    struct kvm_run *run = calloc(1, RUN_SIZE);
    assert_non_null(run);
    return run;
}

static uint8_t *run_bytes(struct kvm_run *run)
{
    return (uint8_t *)run;
}

static void set_io(struct kvm_run *run, int out, uint16_t port, uint8_t size, uint32_t count)
{
    run->exit_reason = KVM_EXIT_IO;
    run->io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
    run->io.port = port;
    run->io.size = size;
    run->io.count = count;
    run->io.data_offset = DATA_OFF;
}

static void set_mmio(struct kvm_run *run, int write, uint64_t addr, uint32_t len)
{
    run->exit_reason = KVM_EXIT_MMIO;
    run->mmio.phys_addr = addr;
    run->mmio.len = len;
    run->mmio.is_write = (uint8_t)write;
}

/* ---- decoding ---- */

static void test_decode_io_out(void **st)
{
    (void)st;
    struct kvm_run *run = new_run();
    set_io(run, 1, 0x3f8, 2, 1);
    run_bytes(run)[DATA_OFF] = 0x34;
    run_bytes(run)[DATA_OFF + 1] = 0x12;
    vmm_exit x;
    memset(&x, 0xaa, sizeof x);
    vmm__kvm_exit_decode(run, &x);
    assert_int_equal(x.reason, VMM_EXIT_IO);
    assert_int_equal(x.io.port, 0x3f8);
    assert_int_equal(x.io.size, 2);
    assert_int_equal(x.io.is_write, 1);
    assert_int_equal(x.io.count, 1);
    assert_ptr_equal(x.io.data, run_bytes(run) + DATA_OFF);
    assert_int_equal(x.io.data[0] | x.io.data[1] << 8, 0x1234);
    /* Fields of other exit kinds are cleared, not left stale. */
    assert_null(x.mmio.data);
    assert_int_equal(x.internal.insn_len, 0);
    free(run);
}

static void test_decode_io_in_rep(void **st)
{
    (void)st;
    struct kvm_run *run = new_run();
    set_io(run, 0, 0xcf8, 4, 16);
    run->io.data_offset = 0x400;
    vmm_exit x;
    vmm__kvm_exit_decode(run, &x);
    assert_int_equal(x.reason, VMM_EXIT_IO);
    assert_int_equal(x.io.port, 0xcf8);
    assert_int_equal(x.io.size, 4);
    assert_int_equal(x.io.is_write, 0);
    assert_int_equal(x.io.count, 16);
    assert_ptr_equal(x.io.data, run_bytes(run) + 0x400);
    free(run);
}

static void test_decode_mmio(void **st)
{
    (void)st;
    struct kvm_run *run = new_run();
    set_mmio(run, 1, 0xfee000f0ull, 8);
    memcpy(run->mmio.data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    vmm_exit x;
    vmm__kvm_exit_decode(run, &x);
    assert_int_equal(x.reason, VMM_EXIT_MMIO);
    assert_int_equal(x.mmio.addr, 0xfee000f0ull);
    assert_int_equal(x.mmio.size, 8);
    assert_int_equal(x.mmio.is_write, 1);
    assert_ptr_equal(x.mmio.data, run->mmio.data);
    assert_null(x.io.data);

    set_mmio(run, 0, 0x123456789abcull, 1);
    vmm__kvm_exit_decode(run, &x);
    assert_int_equal(x.mmio.addr, 0x123456789abcull);
    assert_int_equal(x.mmio.size, 1);
    assert_int_equal(x.mmio.is_write, 0);
    free(run);
}

static void test_decode_simple_reasons(void **st)
{
    (void)st;
    static const struct {
        uint32_t kvm;
        vmm_exit_reason want;
    } cases[] = {
        {KVM_EXIT_HLT, VMM_EXIT_HLT},
        {KVM_EXIT_SHUTDOWN, VMM_EXIT_SHUTDOWN},
        {KVM_EXIT_INTR, VMM_EXIT_KICKED},
    };
    struct kvm_run *run = new_run();
    for (size_t i = 0; i < VMM__ARRAY_LEN(cases); i++) {
        run->exit_reason = cases[i].kvm;
        vmm_exit x;
        memset(&x, 0x55, sizeof x);
        vmm__kvm_exit_decode(run, &x);
        assert_int_equal(x.reason, cases[i].want);
        assert_null(x.io.data);
        assert_null(x.mmio.data);
        assert_int_equal(x.status.code, 0);
    }
    free(run);
}

static void test_decode_internal_error_insn_bytes(void **st)
{
    (void)st;
    struct kvm_run *run = new_run();
    run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
    run->emulation_failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
    run->emulation_failure.ndata = 3;
    run->emulation_failure.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
    run->emulation_failure.insn_size = 3;
    memcpy(run->emulation_failure.insn_bytes, "\x0f\x0b\x90", 3);
    vmm_exit x;
    vmm__kvm_exit_decode(run, &x);
    assert_int_equal(x.reason, VMM_EXIT_INTERNAL_ERROR);
    assert_int_equal(x.internal.suberror, KVM_INTERNAL_ERROR_EMULATION);
    assert_int_equal(x.internal.insn_len, 3);
    assert_memory_equal(x.internal.insn, "\x0f\x0b\x90", 3);

    /* The longest x86 instruction (15 bytes) is kept whole. */
    run->emulation_failure.insn_size = 15;
    for (int i = 0; i < 15; i++)
        run->emulation_failure.insn_bytes[i] = (uint8_t)(0x40 + i);
    vmm__kvm_exit_decode(run, &x);
    assert_int_equal(x.internal.insn_len, 15);
    assert_memory_equal(x.internal.insn, run->emulation_failure.insn_bytes, 15);

    /* Without the flag, or without enough data words, the bytes are not valid. */
    run->emulation_failure.flags = 0;
    vmm__kvm_exit_decode(run, &x);
    assert_int_equal(x.internal.insn_len, 0);
    run->emulation_failure.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
    run->emulation_failure.ndata = 2;
    vmm__kvm_exit_decode(run, &x);
    assert_int_equal(x.internal.insn_len, 0);

    /* Another sub-error carries no instruction bytes even if the words look like it. */
    run->emulation_failure.ndata = 3;
    run->internal.suberror = KVM_INTERNAL_ERROR_SIMUL_EX;
    vmm__kvm_exit_decode(run, &x);
    assert_int_equal(x.internal.suberror, KVM_INTERNAL_ERROR_SIMUL_EX);
    assert_int_equal(x.internal.insn_len, 0);
    free(run);
}

/* insn_bytes holds 15 bytes; a larger insn_size must not make the decoder copy
 * past it (into the following words of the run area). */
static void test_decode_internal_error_insn_size_bounded(void **st)
{
    (void)st;
    struct kvm_run *run = new_run();
    run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
    run->emulation_failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
    run->emulation_failure.ndata = 3;
    run->emulation_failure.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
    run->emulation_failure.insn_size = 200;
    const size_t cap = sizeof run->emulation_failure.insn_bytes;
    vmm_exit x;
    vmm__kvm_exit_decode(run, &x);
    free(run); /* before the assertion, which is expected to fail while the bug stands */
    assert_true(x.internal.insn_len <= cap);
}

static void test_decode_fail_entry(void **st)
{
    (void)st;
    struct kvm_run *run = new_run();
    run->exit_reason = KVM_EXIT_FAIL_ENTRY;
    run->fail_entry.hardware_entry_failure_reason = 0x80000021ull;
    vmm_exit x;
    vmm__kvm_exit_decode(run, &x);
    assert_int_equal(x.reason, VMM_EXIT_FAIL_ENTRY);
    assert_int_equal(x.internal.hw_reason, 0x80000021ull);
    free(run);
}

static void test_decode_system_event(void **st)
{
    (void)st;
    struct kvm_run *run = new_run();
    run->exit_reason = KVM_EXIT_SYSTEM_EVENT;
    run->system_event.type = KVM_SYSTEM_EVENT_RESET;
    vmm_exit x;
    vmm__kvm_exit_decode(run, &x);
    assert_int_equal(x.reason, VMM_EXIT_SYSTEM_EVENT);
    assert_int_equal(x.system_event.type, 2);
    run->system_event.type = KVM_SYSTEM_EVENT_CRASH;
    vmm__kvm_exit_decode(run, &x);
    assert_int_equal(x.system_event.type, 3);
    free(run);
}

static void test_decode_debug(void **st)
{
    (void)st;
    struct kvm_run *run = new_run();
    run->exit_reason = KVM_EXIT_DEBUG;
    run->debug.arch.exception = 3;
    run->debug.arch.pc = 0xffffffff81000000ull;
    run->debug.arch.dr6 = 0xffff4ff0ull;
    run->debug.arch.dr7 = 0x401ull;
    vmm_exit x;
    vmm__kvm_exit_decode(run, &x);
    assert_int_equal(x.reason, VMM_EXIT_DEBUG);
    assert_int_equal(x.debug.exception, 3);
    assert_int_equal(x.debug.pc, 0xffffffff81000000ull);
    assert_int_equal(x.debug.dr6, 0xffff4ff0ull);
    assert_int_equal(x.debug.dr7, 0x401ull);
    free(run);
}

static void test_decode_unknown_reason(void **st)
{
    (void)st;
    struct kvm_run *run = new_run();
    run->exit_reason = 0x7777;
    vmm_exit x;
    memset(&x, 0x55, sizeof x);
    vmm__kvm_exit_decode(run, &x);
    /* Surfaced as an internal error carrying KVM's reason, never as a resume. */
    assert_int_equal(x.reason, VMM_EXIT_INTERNAL_ERROR);
    assert_int_equal(x.internal.suberror, 0);
    assert_int_equal(x.internal.hw_reason, 0x7777);
    assert_int_equal(x.internal.insn_len, 0);
    free(run);
}

/* ---- dispatch to a device over two buses ---- */

#define T_PORT        0x100
#define T_PORT_LEN    8
#define T_MMIO        0xd0000000ull
#define T_MMIO_LEN    0x1000
#define T_STOP_OFFSET 7 /* a write here calls vmm_device_stop(dev, 7) */

struct host_ctx {
    struct vmm__bus pio, mmio;
    unsigned int releases;
};

static int h_claim(void *ctx, vmm_device *dev, vmm_space space, uint64_t base, uint64_t len,
                   unsigned int index)
{
    struct host_ctx *h = ctx;
    return vmm__bus_add(space == VMM_SPACE_PIO ? &h->pio : &h->mmio, base, len, dev, index);
}

static void h_release(void *ctx, vmm_device *dev)
{
    struct host_ctx *h = ctx;
    h->releases++;
    vmm__bus_remove_device(&h->pio, dev);
    vmm__bus_remove_device(&h->mmio, dev);
}

static const struct vmm__devhost fake_host = {.claim = h_claim, .release = h_release};

#define MAX_CALLS 16
struct tdev {
    vmm_device *dev;
    bool fail_read, fail_write;
    unsigned int ncalls;
    struct {
        bool write;
        unsigned int range, size;
        uint64_t offset;
        uint64_t value; /* written value, little-endian */
    } calls[MAX_CALLS];
    uint64_t read_value; /* what reads return; incremented after each read */
};

static void record(struct tdev *t, bool write, unsigned int range, uint64_t offset,
                   unsigned int size, const void *data)
{
    if (t->ncalls == MAX_CALLS)
        return;
    t->calls[t->ncalls].write = write;
    t->calls[t->ncalls].range = range;
    t->calls[t->ncalls].offset = offset;
    t->calls[t->ncalls].size = size;
    t->calls[t->ncalls].value = 0;
    if (data)
        memcpy(&t->calls[t->ncalls].value, data, size);
    t->ncalls++;
}

static int t_create(vmm_device *dev, const char *config_json, void **state)
{
    (void)config_json;
    struct tdev *t = calloc(1, sizeof *t);
    if (!t)
        return VMM_ENOMEM;
    t->dev = dev;
    int rc = vmm_device_claim(dev, VMM_SPACE_PIO, T_PORT, T_PORT_LEN);
    if (rc == 0)
        rc = vmm_device_claim(dev, VMM_SPACE_MMIO, T_MMIO, T_MMIO_LEN);
    if (rc < 0) {
        free(t);
        return rc;
    }
    *state = t;
    return 0;
}

static int t_read(void *state, unsigned int range, uint64_t offset, void *data, unsigned int size)
{
    struct tdev *t = state;
    record(t, false, range, offset, size, NULL);
    if (t->fail_read)
        return VMM_EIO;
    memcpy(data, &t->read_value, size);
    t->read_value++;
    return 0;
}

static int t_write(void *state, unsigned int range, uint64_t offset, const void *data,
                   unsigned int size)
{
    struct tdev *t = state;
    record(t, true, range, offset, size, data);
    if (t->fail_write)
        return VMM_EINVAL;
    if (range == 0 && offset == T_STOP_OFFSET)
        vmm_device_stop(t->dev, 7);
    return 0;
}

static void t_destroy(void *state)
{
    free(state);
}

static const vmm_device_ops tdev_ops = {
    .version = VMM_DEVICE_OPS_VERSION,
    .name = "test-dispatch",
    .create = t_create,
    .read = t_read,
    .write = t_write,
    .destroy = t_destroy,
};

struct fixture {
    struct host_ctx host;
    vmm_device *dev;
    struct tdev *t;
    struct kvm_run *run;
};

static int group_setup(void **st)
{
    (void)st;
    return vmm_device_register(&tdev_ops);
}

static int group_teardown(void **st)
{
    (void)st;
    return vmm_device_unregister(tdev_ops.name);
}

static int setup(void **st)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (vmm__device_new(tdev_ops.name, NULL, &fake_host, &f->host, "tdev0", &f->dev) < 0) {
        free(f);
        return -1;
    }
    f->t = vmm_device_state(f->dev);
    f->run = calloc(1, RUN_SIZE);
    int status;
    (void)vmm__dispatch_take_stop(&status); /* start without a stale request */
    *st = f;
    return f->run ? 0 : -1;
}

static int teardown(void **st)
{
    struct fixture *f = *st;
    vmm__device_free(f->dev);
    vmm__bus_free(&f->host.pio);
    vmm__bus_free(&f->host.mmio);
    free(f->run);
    free(f);
    return 0;
}

/* Decode the run area and dispatch it, as the vCPU loop does. */
static bool dispatch(struct fixture *f, vmm_exit *x)
{
    vmm__kvm_exit_decode(f->run, x);
    return vmm__dispatch(&f->host.pio, &f->host.mmio, x);
}

static void test_device_claimed_both_buses(void **st)
{
    struct fixture *f = *st;
    assert_int_equal(f->host.pio.n, 1);
    assert_int_equal(f->host.mmio.n, 1);
    assert_int_equal(f->host.pio.r[0].index, 0);
    assert_int_equal(f->host.mmio.r[0].index, 1);
    assert_ptr_equal(f->host.pio.r[0].dev, f->dev);
    assert_string_equal(vmm_device_id(f->dev), "tdev0");
    assert_int_equal(f->host.releases, 0);
}

static void test_io_write_reaches_device(void **st)
{
    struct fixture *f = *st;
    set_io(f->run, 1, T_PORT + 4, 2, 1);
    run_bytes(f->run)[DATA_OFF] = 0xcd;
    run_bytes(f->run)[DATA_OFF + 1] = 0xab;
    vmm_exit x;
    assert_true(dispatch(f, &x));
    assert_int_equal(f->t->ncalls, 1);
    assert_true(f->t->calls[0].write);
    assert_int_equal(f->t->calls[0].range, 0);
    assert_int_equal(f->t->calls[0].offset, 4);
    assert_int_equal(f->t->calls[0].size, 2);
    assert_int_equal(f->t->calls[0].value, 0xabcd);
    int status;
    assert_false(vmm__dispatch_take_stop(&status));
}

static void test_io_read_lands_in_run_area(void **st)
{
    struct fixture *f = *st;
    f->t->read_value = 0x11223344;
    set_io(f->run, 0, T_PORT, 4, 1);
    vmm_exit x;
    assert_true(dispatch(f, &x));
    assert_int_equal(f->t->ncalls, 1);
    assert_false(f->t->calls[0].write);
    assert_int_equal(f->t->calls[0].range, 0);
    assert_int_equal(f->t->calls[0].offset, 0);
    assert_int_equal(f->t->calls[0].size, 4);
    assert_memory_equal(run_bytes(f->run) + DATA_OFF, "\x44\x33\x22\x11", 4);
    /* Nothing written beyond the access. */
    assert_int_equal(run_bytes(f->run)[DATA_OFF + 4], 0);
}

static void test_mmio_write_and_read(void **st)
{
    struct fixture *f = *st;
    vmm_exit x;
    set_mmio(f->run, 1, T_MMIO + 0x10, 8);
    memcpy(f->run->mmio.data, "\x88\x77\x66\x55\x44\x33\x22\x11", 8);
    assert_true(dispatch(f, &x));
    assert_int_equal(f->t->ncalls, 1);
    assert_true(f->t->calls[0].write);
    assert_int_equal(f->t->calls[0].range, 1);
    assert_int_equal(f->t->calls[0].offset, 0x10);
    assert_int_equal(f->t->calls[0].size, 8);
    assert_int_equal(f->t->calls[0].value, 0x1122334455667788ull);

    f->t->read_value = 0xcafe;
    memset(f->run->mmio.data, 0, sizeof f->run->mmio.data);
    set_mmio(f->run, 0, T_MMIO + T_MMIO_LEN - 2, 2); /* the last two bytes */
    assert_true(dispatch(f, &x));
    assert_int_equal(f->t->ncalls, 2);
    assert_false(f->t->calls[1].write);
    assert_int_equal(f->t->calls[1].range, 1);
    assert_int_equal(f->t->calls[1].offset, T_MMIO_LEN - 2);
    assert_memory_equal(f->run->mmio.data, "\xfe\xca\x00", 3);
}

static void test_rep_io(void **st)
{
    struct fixture *f = *st;
    vmm_exit x;
    /* REP OUTSB of three bytes: three device writes, in order. */
    set_io(f->run, 1, T_PORT + 1, 1, 3);
    memcpy(run_bytes(f->run) + DATA_OFF, "abc", 3);
    assert_true(dispatch(f, &x));
    assert_int_equal(f->t->ncalls, 3);
    for (unsigned int i = 0; i < 3; i++) {
        assert_true(f->t->calls[i].write);
        assert_int_equal(f->t->calls[i].offset, 1);
        assert_int_equal(f->t->calls[i].size, 1);
        assert_int_equal(f->t->calls[i].value, (uint64_t)('a' + i));
    }
    /* REP INSW of three words: each read lands in its own element. */
    f->t->ncalls = 0;
    f->t->read_value = 0x0101;
    set_io(f->run, 0, T_PORT + 2, 2, 3);
    memset(run_bytes(f->run) + DATA_OFF, 0, 8);
    assert_true(dispatch(f, &x));
    assert_int_equal(f->t->ncalls, 3);
    assert_memory_equal(run_bytes(f->run) + DATA_OFF, "\x01\x01\x02\x01\x03\x01\x00", 7);
}

static void test_unclaimed_and_malformed_go_to_caller(void **st)
{
    struct fixture *f = *st;
    vmm_exit x;
    static const struct {
        bool io;
        uint64_t addr;
        uint32_t size;
        const char *what;
    } cases[] = {
        {true, 0x200, 1, "unclaimed port"},
        {true, T_PORT - 1, 1, "port below the range"},
        {true, T_PORT + T_PORT_LEN, 1, "port after the range"},
        {true, T_PORT + T_PORT_LEN - 1, 2, "port access straddling the range end"},
        {true, T_PORT - 1, 4, "port access straddling the range start"},
        {true, T_PORT, 3, "3-byte port access"},
        {true, T_PORT, 8, "8-byte port access"},
        {true, T_PORT, 0, "0-byte port access"},
        {false, 0xe0000000ull, 4, "unclaimed MMIO"},
        {false, T_MMIO + T_MMIO_LEN - 2, 4, "MMIO access straddling the range end"},
        {false, T_MMIO - 4, 8, "MMIO access straddling the range start"},
        {false, T_MMIO, 3, "3-byte MMIO access"},
        {false, T_MMIO, 16, "16-byte MMIO access"},
        {false, T_MMIO, 0, "0-byte MMIO access"},
        {false, T_PORT, 1, "MMIO at the port's number"},
    };
    for (size_t i = 0; i < VMM__ARRAY_LEN(cases); i++) {
        for (int write = 0; write <= 1; write++) {
            memset(run_bytes(f->run) + DATA_OFF, 0x5a, 16);
            if (cases[i].io) {
                set_io(f->run, write, (uint16_t)cases[i].addr, (uint8_t)cases[i].size, 1);
            } else {
                set_mmio(f->run, write, cases[i].addr, cases[i].size);
                memset(f->run->mmio.data, 0x5a, sizeof f->run->mmio.data);
            }
            if (dispatch(f, &x))
                fail_msg("%s (%s) was claimed", cases[i].what, write ? "write" : "read");
            if (f->t->ncalls != 0)
                fail_msg("%s reached the device", cases[i].what);
            /* The caller's answer buffer is left for the caller. */
            assert_int_equal(cases[i].io ? run_bytes(f->run)[DATA_OFF] : f->run->mmio.data[0],
                             0x5a);
        }
    }
    /* Exits that are not accesses are never dispatched. */
    f->run->exit_reason = KVM_EXIT_HLT;
    assert_false(dispatch(f, &x));
    assert_int_equal(f->t->ncalls, 0);
}

static void test_read_error_gives_all_ones(void **st)
{
    struct fixture *f = *st;
    vmm_exit x;
    f->t->fail_read = true;
    set_io(f->run, 0, T_PORT, 4, 1);
    memset(run_bytes(f->run) + DATA_OFF, 0, 8);
    assert_true(dispatch(f, &x)); /* still complete: the device owns the port */
    assert_int_equal(f->t->ncalls, 1);
    assert_memory_equal(run_bytes(f->run) + DATA_OFF, "\xff\xff\xff\xff\x00", 5);

    set_mmio(f->run, 0, T_MMIO + 8, 8);
    memset(f->run->mmio.data, 0, sizeof f->run->mmio.data);
    assert_true(dispatch(f, &x));
    assert_memory_equal(f->run->mmio.data, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);

    /* A failing write is dropped without disturbing the caller. */
    f->t->fail_write = true;
    set_io(f->run, 1, T_PORT, 1, 1);
    assert_true(dispatch(f, &x));
    assert_int_equal(f->t->ncalls, 3);
}

struct log_capture {
    unsigned int count;
    vmm_log_level level;
    char component[32];
    char message[256];
};

static void capture_log(void *opaque, vmm_log_level level, const char *component,
                        const char *message)
{
    struct log_capture *c = opaque;
    c->count++;
    c->level = level;
    strncpy(c->component, component, sizeof c->component - 1);
    strncpy(c->message, message, sizeof c->message - 1);
}

static void test_access_errors_logged_rate_limited(void **st)
{
    struct fixture *f = *st;
    struct log_capture cap = {0};
    vmm_log_set(capture_log, &cap, VMM_LOG_DEBUG);
    f->t->fail_read = true;
    vmm_exit x;
    set_io(f->run, 0, T_PORT + 3, 1, 1);
    assert_true(dispatch(f, &x));
    assert_int_equal(cap.count, 1);
    assert_int_equal(cap.level, VMM_LOG_WARN);
    assert_string_equal(cap.component, "tdev0");
    assert_non_null(strstr(cap.message, "read"));
    assert_non_null(strstr(cap.message, "0x3"));
    /* A guest hammering the failing register cannot flood the log. */
    for (int i = 0; i < 1000; i++)
        assert_true(dispatch(f, &x));
    assert_true(cap.count <= 20);
    vmm_log_set(NULL, NULL, VMM_LOG_DEBUG);
}

static void test_device_stop_taken_once(void **st)
{
    struct fixture *f = *st;
    vmm_exit x;
    int status = -1;
    assert_false(vmm__dispatch_take_stop(&status));
    assert_int_equal(status, -1);
    set_io(f->run, 1, T_PORT + T_STOP_OFFSET, 1, 1);
    assert_true(dispatch(f, &x));
    assert_true(vmm__dispatch_take_stop(&status));
    assert_int_equal(status, 7);
    status = -1;
    assert_false(vmm__dispatch_take_stop(&status));
    assert_int_equal(status, -1);
    /* Another register does not stop. */
    set_io(f->run, 1, T_PORT + 6, 1, 1);
    assert_true(dispatch(f, &x));
    assert_false(vmm__dispatch_take_stop(&status));
}

int main(void)
{
    const struct CMUnitTest decode[] = {
        cmocka_unit_test(test_decode_io_out),
        cmocka_unit_test(test_decode_io_in_rep),
        cmocka_unit_test(test_decode_mmio),
        cmocka_unit_test(test_decode_simple_reasons),
        cmocka_unit_test(test_decode_internal_error_insn_bytes),
        cmocka_unit_test(test_decode_internal_error_insn_size_bounded),
        cmocka_unit_test(test_decode_fail_entry),
        cmocka_unit_test(test_decode_system_event),
        cmocka_unit_test(test_decode_debug),
        cmocka_unit_test(test_decode_unknown_reason),
    };
    const struct CMUnitTest dispatch_tests[] = {
        cmocka_unit_test_setup_teardown(test_device_claimed_both_buses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_write_reaches_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_read_lands_in_run_area, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mmio_write_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rep_io, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unclaimed_and_malformed_go_to_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_error_gives_all_ones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_errors_logged_rate_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_stop_taken_once, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("decode", decode, NULL, NULL);
    failed += cmocka_run_group_tests_name("dispatch", dispatch_tests, group_setup, group_teardown);
    return failed;
}
