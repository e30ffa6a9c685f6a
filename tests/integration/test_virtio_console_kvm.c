/* SPDX-License-Identifier: MIT */
/* virtio-console driven by a real guest driver (guest/virtio_console_drv.c,
 * CPL3, polling) through KVM: the guest's output reaches the embedder's
 * callback, a pipe (fd backend) and standard output (stdio backend, from a
 * JSON spec); input given with vmm_virtio_console_input(), through a pipe and
 * through standard input reaches the guest's receive buffers. */
#include "kvm_test.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "../../guest/virtio_console_drv.h"

#define MSG_LEN (sizeof CON_MSG - 1)

/* The driver guest with debug-exit at CON_EXIT_MMIO and a virtio-console
 * with the extra config keys; *dev receives the console. */
static void start(struct tvm *t, const char *keys, vmm_device **dev)
{
    tvm_start(t, "virtio_console_drv", VMM_X86_LONG, 3);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"size\": 4}", CON_EXIT_MMIO);
    expect_ok(vmm_device_attach(NULL, t->vm, "debug-exit", cfg), "debug-exit");
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u%s}", CON_MMIO, keys);
    expect_ok(vmm_device_attach(dev, t->vm, "virtio-console", cfg), "virtio-console");
}

/* Run to the next status the guest reports. */
static int32_t run_to_status(struct tvm *t)
{
    vmm_exit x = tvm_run(t);
    if (x.reason != VMM_EXIT_STATUS)
        fail_msg("unexpected exit %s", vmm_exit_reason_name(x.reason));
    return x.status.code;
}

static void check_results(struct tvm *t, const char *input, uint16_t cols, uint16_t rows)
{
    struct con_io io;
    expect_ok(vmm_mem_read(t->vm, CON_IO, &io, sizeof io), "read results");
    assert_int_equal(io.cols, cols);
    assert_int_equal(io.rows, rows);
    assert_int_equal(io.tx_used_len, 0);
    for (unsigned int i = 0; i < CON_RX_CHAINS; i++)
        assert_int_equal(io.rx_len[i], CON_RX_LEN);
    assert_memory_equal(io.rx_data, input, CON_RX_CHAINS * CON_RX_LEN);
}

static struct outbuf cons;

static void cons_cb(void *opaque, const void *data, size_t len)
{
    outbuf_cb(opaque, data, len);
}

static void test_callback_backend(void **state)
{
    (void)state;
    struct tvm t;
    vmm_device *dev;
    start(&t, ", \"cols\": 100, \"rows\": 40", &dev);
    memset(&cons, 0, sizeof cons);
    expect_ok(vmm_virtio_console_set_output(dev, cons_cb, &cons), "set_output");
    /* Nothing to take before the driver is ready. */
    size_t accepted = 99;
    assert_int_equal(vmm_virtio_console_input(dev, "x", 1, &accepted), VMM_ESTATE);
    assert_int_equal(accepted, 0);

    assert_int_equal(run_to_status(&t), CON_PAUSE);
    /* The message, then the emergency byte. */
    assert_int_equal(cons.len, MSG_LEN + 1);
    assert_memory_equal(cons.data, CON_MSG, MSG_LEN);
    assert_int_equal(cons.data[MSG_LEN], CON_EMERG);
    /* Two 8-byte buffers take 16 of 19 bytes. */
    const char input[] = "0123456789abcdefXYZ";
    expect_ok(vmm_virtio_console_input(dev, input, sizeof input - 1, &accepted), "input");
    assert_int_equal(accepted, 16);
    assert_int_equal(run_to_status(&t), 0);
    check_results(&t, input, 100, 40);
    /* The buffers are used up: further input is not taken. */
    expect_ok(vmm_virtio_console_input(dev, "more", 4, &accepted), "input");
    assert_int_equal(accepted, 0);
    tvm_stop(&t);
}

/* Read exactly n bytes from fd (bounded wait). */
static void read_exact(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10000) != 1)
            fail_msg("no output after %zu of %zu bytes", got, n);
        ssize_t k = read(fd, buf + got, n - got);
        if (k <= 0)
            fail_msg("read: %s", k < 0 ? strerror(errno) : "end of file");
        got += (size_t)k;
    }
}

static void test_fd_backend(void **state)
{
    (void)state;
    int out[2], in[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    char keys[128];
    snprintf(keys, sizeof keys, ", \"backend\": \"fd\", \"out_fd\": %d, \"in_fd\": %d", out[1],
             in[0]);
    struct tvm t;
    vmm_device *dev;
    start(&t, keys, &dev);
    assert_int_equal(vmm_virtio_console_set_output(dev, cons_cb, &cons), VMM_ESTATE);
    assert_int_equal(vmm_virtio_console_input(dev, "x", 1, NULL), VMM_ESTATE);

    assert_int_equal(run_to_status(&t), CON_PAUSE);
    char got[MSG_LEN + 1];
    read_exact(out[0], got, sizeof got);
    assert_memory_equal(got, CON_MSG, MSG_LEN);
    assert_int_equal(got[MSG_LEN], CON_EMERG);
    /* The I/O thread moves the input into the guest's buffers while it polls. */
    const char input[] = "fedcba9876543210";
    assert_int_equal(write(in[1], input, 16), 16);
    assert_int_equal(run_to_status(&t), 0);
    check_results(&t, input, 80, 25);
    tvm_stop(&t);
    /* The descriptors are the test's: still open after the VM is gone. */
    assert_true(fcntl(out[1], F_GETFD) >= 0);
    assert_true(fcntl(in[0], F_GETFD) >= 0);
    close(out[0]);
    close(out[1]);
    close(in[0]);
    close(in[1]);
}

/* From a JSON spec with the stdio backend: the test's standard input and
 * output are pipes for the time of the run. */
static void test_stdio_from_spec(void **state)
{
    (void)state;
    char spec[1024];
    snprintf(spec, sizeof spec,
             "{\"memory\": {\"size\": \"2M\"},"
             " \"cpu\": {\"mode\": \"long\", \"cpl\": 3, \"stack\": \"0x9000\"},"
             " \"boot\": {\"kind\": \"flat\", \"path\": \"%s/virtio_console_drv.bin\"},"
             " \"devices\": [{\"type\": \"debug-exit\", \"mmio\": %u},"
             " {\"type\": \"virtio-console\", \"mmio\": %u, \"backend\": \"stdio\","
             " \"cols\": 120}],"
             " \"limits\": {\"time_budget_ms\": 20000}}",
             LIBVMM_GUEST_DIR, CON_EXIT_MMIO, CON_MMIO);
    expect_ok(vmm_spec_check(spec, strlen(spec), NULL), "vmm_spec_check");

    int out[2], in[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    fflush(stdout);
    int saved_in = dup(0), saved_out = dup(1);
    assert_true(saved_in >= 0 && saved_out >= 0);
    assert_int_equal(dup2(in[0], 0), 0);
    assert_int_equal(dup2(out[1], 1), 1);

    vmm_vm *vm;
    int rc = vmm_vm_create_from_spec(&vm, spec, strlen(spec), NULL, NULL);
    vmm_run_result res = {0}, res2 = {0};
    int rc1 = -1, rc2 = -1;
    char got[MSG_LEN + 1] = {0};
    const char input[] = "stdin->guest!!!!";
    if (rc == 0) {
        rc1 = vmm_vm_run(vm, NULL, &res);
        if (rc1 == 0 && res.reason == VMM_EXIT_STATUS && res.status == CON_PAUSE) {
            read_exact(out[0], got, sizeof got);
            if (write(in[1], input, 16) == 16)
                rc2 = vmm_vm_run(vm, NULL, &res2);
        }
    }
    /* Standard input and output back before any assertion can fail. */
    dup2(saved_in, 0);
    dup2(saved_out, 1);
    close(saved_in);
    close(saved_out);
    expect_ok(rc, "from spec");
    expect_ok(rc1, "vmm_vm_run");
    assert_int_equal(res.reason, VMM_EXIT_STATUS);
    assert_int_equal(res.status, CON_PAUSE);
    assert_memory_equal(got, CON_MSG, MSG_LEN);
    assert_int_equal(got[MSG_LEN], CON_EMERG);
    expect_ok(rc2, "vmm_vm_run (resumed)");
    assert_int_equal(res2.reason, VMM_EXIT_STATUS);
    assert_int_equal(res2.status, 0);
    struct con_io io;
    expect_ok(vmm_mem_read(vm, CON_IO, &io, sizeof io), "read results");
    assert_int_equal(io.cols, 120);
    assert_int_equal(io.rows, 25);
    assert_memory_equal(io.rx_data, input, 16);
    vmm_vm_destroy(vm);
    for (int i = 0; i < 2; i++) {
        close(out[i]);
        close(in[i]);
    }

    /* A spec cannot name file descriptors. */
    snprintf(spec, sizeof spec,
             "{\"memory\": {\"size\": \"2M\"},"
             " \"boot\": {\"kind\": \"flat\", \"path\": \"%s/virtio_console_drv.bin\"},"
             " \"devices\": [{\"type\": \"virtio-console\", \"mmio\": %u, \"backend\": \"fd\","
             " \"out_fd\": 1}]}",
             LIBVMM_GUEST_DIR, CON_MMIO);
    assert_int_equal(vmm_spec_check(spec, strlen(spec), NULL), VMM_ECONFIG);
    assert_non_null(strstr(vmm_error_last()->message, "out_fd"));
}

int main(void)
{
    require_kvm("test_virtio_console_kvm");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callback_backend),
        cmocka_unit_test(test_fd_backend),
        cmocka_unit_test(test_stdio_from_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
