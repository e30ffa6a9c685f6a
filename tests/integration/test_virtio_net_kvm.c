/* SPDX-License-Identifier: MIT */
/* virtio-net driven by a real guest driver (guest/virtio_net_drv.c, CPL3,
 * polling) through KVM. The guest posts receive buffers, transmits a frame
 * and stops once (status NET_ST_POSTED); the test checks the frame, delivers
 * one towards the guest and resumes; the guest copies what it received where
 * the test compares it byte for byte.
 *
 * Without arguments: the callback backend (vmm_virtio_net_set_tx and
 * vmm_virtio_net_receive). With --tap: the TAP backend, seen and fed through
 * an AF_PACKET socket on the interface, attached directly and from a JSON
 * spec; that mode needs /dev/net/tun and CAP_NET_ADMIN and skips (77)
 * without them even when LIBVMM_REQUIRE_KVM=1, which is about KVM only. */
#include "kvm_test.h"

#include "../../guest/virtio_net_drv.h"
#include "../unit/tap_util.h"

#define WAIT_MS 5000 /* bounds a failing wait; never asserted */

static const uint8_t test_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* What the transmit callback saw. */
static struct {
    unsigned int calls;
    size_t len;
    uint8_t frame[2048];
} tx;

static void tx_cb(void *opaque, const void *frame, size_t len)
{
    (void)opaque;
    tx.calls++;
    tx.len = len;
    memcpy(tx.frame, frame, len < sizeof tx.frame ? len : sizeof tx.frame);
}

/* The driver guest with a debug-exit register and a virtio-net configured
 * with the extra keys net_keys. */
static vmm_device *start(struct tvm *t, const char *net_keys)
{
    tvm_start(t, "virtio_net_drv", VMM_X86_LONG, 3);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"size\": 4}", NET_EXIT_MMIO);
    expect_ok(vmm_device_attach(NULL, t->vm, "debug-exit", cfg), "debug-exit");
    vmm_device *net;
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"mac\": \"52:54:00:12:34:56\", %s}", NET_MMIO,
             net_keys);
    expect_ok(vmm_device_attach(&net, t->vm, "virtio-net", cfg), "virtio-net");
    return net;
}

static int32_t run_to_status(struct tvm *t)
{
    vmm_exit x = tvm_run(t);
    if (x.reason != VMM_EXIT_STATUS)
        fail_msg("unexpected exit %s", vmm_exit_reason_name(x.reason));
    return x.status.code;
}

/* The frame the guest transmits. */
static void expect_guest_frame(const uint8_t *f, size_t len)
{
    assert_int_equal(len, NET_TX_LEN);
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_memory_equal(f, bcast, 6);
    assert_memory_equal(f + 6, test_mac, 6);
    assert_int_equal(f[12] << 8 | f[13], NET_TX_TYPE);
    for (unsigned int i = 14; i < NET_TX_LEN; i++)
        if (f[i] != net_tx_byte(i - 14))
            fail_msg("transmitted byte %u: 0x%02x", i, f[i]);
}

/* A frame for the guest: to its MAC, EtherType NET_RX_TYPE, a pattern. */
static void rx_frame(uint8_t *f, size_t len)
{
    memcpy(f, test_mac, 6);
    const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x42};
    memcpy(f + 6, src, 6);
    f[12] = NET_RX_TYPE >> 8;
    f[13] = NET_RX_TYPE & 0xff;
    for (size_t i = 14; i < len; i++)
        f[i] = (uint8_t)(i * 11 + 5);
}

/* After the final stop: the guest's copy of the frame it received. */
static void expect_guest_received(vmm_vm *vm, const uint8_t *want, size_t len)
{
    struct net_io io;
    expect_ok(vmm_mem_read(vm, NET_IO, &io, sizeof io), "read results");
    assert_int_equal(io.rx_used_len, NET_HDR_LEN + len);
    static const uint8_t hdr[NET_HDR_LEN] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    assert_memory_equal(io.rx_hdr, hdr, NET_HDR_LEN);
    uint8_t got[NET_RXBUF_LEN];
    expect_ok(vmm_mem_read(vm, NET_RX_COPY, got, len), "read copy");
    assert_memory_equal(got, want, len);
}

static void expect_guest_setup(vmm_vm *vm)
{
    struct net_io io;
    expect_ok(vmm_mem_read(vm, NET_IO, &io, sizeof io), "read results");
    assert_memory_equal(io.mac, test_mac, 6);
    assert_int_equal(io.status, 1); /* VIRTIO_NET_S_LINK_UP */
    assert_int_equal(io.tx_used_len, 0);
}

static void test_callback(void **state)
{
    (void)state;
    struct tvm t;
    vmm_device *net = start(&t, "\"backend\": \"callback\"");
    memset(&tx, 0, sizeof tx);
    expect_ok(vmm_virtio_net_set_tx(net, tx_cb, NULL), "set_tx");
    uint8_t fr[300];
    rx_frame(fr, sizeof fr);
    /* The driver has not started: nothing can be delivered. */
    assert_int_equal(vmm_virtio_net_receive(net, fr, sizeof fr), VMM_ESTATE);

    assert_int_equal(run_to_status(&t), NET_ST_POSTED);
    expect_guest_setup(t.vm);
    assert_int_equal(tx.calls, 1);
    expect_guest_frame(tx.frame, tx.len);
    /* Too long for the guest's 2048-byte buffers: refused, nothing used. */
    static uint8_t big[3000];
    rx_frame(big, sizeof big);
    assert_int_equal(vmm_virtio_net_receive(net, big, sizeof big), VMM_E2BIG);
    expect_ok(vmm_virtio_net_receive(net, fr, sizeof fr), "receive");

    assert_int_equal(run_to_status(&t), 0);
    expect_guest_received(t.vm, fr, sizeof fr);
    struct net_io io;
    expect_ok(vmm_mem_read(t.vm, NET_IO, &io, sizeof io), "read results");
    assert_int_equal(io.skipped, 0);
    vmm_net_stats s;
    expect_ok(vmm_virtio_net_get_stats(net, &s), "stats");
    assert_int_equal(s.tx_frames, 1);
    assert_int_equal(s.rx_frames, 1);
    assert_int_equal(s.rx_dropped, 2); /* before the driver, and the long one */
    assert_int_equal(s.tx_dropped + s.tx_errors, 0);
    tvm_stop(&t);
}

/* The TAP backend: the guest's frame on the interface, a frame injected
 * there in the guest's buffer. */
static void test_tap(void **state)
{
    (void)state;
    char name[IFNAMSIZ], keys[64];
    tap_name(name, sizeof name, "vmmkv");
    snprintf(keys, sizeof keys, "\"tap\": \"%s\"", name);
    struct tvm t;
    vmm_device *net = start(&t, keys);
    assert_int_equal(tap_up(name), 0);
    int s = tap_packet_socket(name);
    assert_true(s >= 0);
    assert_int_equal(vmm_virtio_net_set_tx(net, tx_cb, NULL), VMM_ESTATE);

    assert_int_equal(run_to_status(&t), NET_ST_POSTED);
    expect_guest_setup(t.vm);
    uint8_t got[2048];
    ssize_t k = tap_recv(s, NET_TX_TYPE, got, sizeof got, WAIT_MS);
    assert_true(k > 0);
    expect_guest_frame(got, (size_t)k);

    uint8_t fr[1514];
    rx_frame(fr, sizeof fr);
    assert_int_equal(tap_inject(s, fr, sizeof fr), 0);
    assert_int_equal(run_to_status(&t), 0);
    expect_guest_received(t.vm, fr, sizeof fr);
    vmm_net_stats st;
    expect_ok(vmm_virtio_net_get_stats(net, &st), "stats");
    assert_int_equal(st.tx_frames, 1);
    assert_true(st.rx_frames >= 1);
    tvm_stop(&t);
    close(s);
    assert_int_equal(if_nametoindex(name), 0); /* destroy closed the TAP */
}

/* The same from a JSON spec, run with vmm_vm_run, which returns at the
 * guest's mid-way stop and continues when called again. */
static void test_tap_from_spec(void **state)
{
    (void)state;
    char name[IFNAMSIZ];
    tap_name(name, sizeof name, "vmmsp");
    char spec[2048];
    snprintf(spec, sizeof spec,
             "{\"memory\": {\"size\": \"2M\"},"
             " \"cpu\": {\"mode\": \"long\", \"cpl\": 3, \"stack\": \"0x9000\"},"
             " \"boot\": {\"kind\": \"flat\", \"path\": \"%s/virtio_net_drv.bin\"},"
             " \"devices\": [{\"type\": \"debug-exit\", \"mmio\": %u},"
             " {\"type\": \"virtio-net\", \"mmio\": %u, \"mac\": \"52:54:00:12:34:56\","
             " \"tap\": \"%s\"}],"
             " \"limits\": {\"time_budget_ms\": 60000}}",
             LIBVMM_GUEST_DIR, NET_EXIT_MMIO, NET_MMIO, name);
    expect_ok(vmm_spec_check(spec, strlen(spec), "."), "vmm_spec_check");
    vmm_vm *vm;
    expect_ok(vmm_vm_create_from_spec(&vm, spec, strlen(spec), ".", NULL), "from spec");
    assert_int_equal(tap_up(name), 0);
    int s = tap_packet_socket(name);
    assert_true(s >= 0);
    vmm_run_result res;
    expect_ok(vmm_vm_run(vm, NULL, &res), "vmm_vm_run");
    assert_int_equal(res.reason, VMM_EXIT_STATUS);
    assert_int_equal(res.status, NET_ST_POSTED);
    uint8_t got[2048];
    ssize_t k = tap_recv(s, NET_TX_TYPE, got, sizeof got, WAIT_MS);
    assert_true(k > 0);
    expect_guest_frame(got, (size_t)k);
    uint8_t fr[100];
    rx_frame(fr, sizeof fr);
    assert_int_equal(tap_inject(s, fr, sizeof fr), 0);
    expect_ok(vmm_vm_run(vm, NULL, &res), "vmm_vm_run");
    assert_int_equal(res.reason, VMM_EXIT_STATUS);
    assert_int_equal(res.status, 0);
    expect_guest_received(vm, fr, sizeof fr);
    vmm_vm_destroy(vm);
    close(s);
}

int main(int argc, char **argv)
{
    require_kvm("test_virtio_net_kvm");
    if (argc > 1 && strcmp(argv[1], "--tap") == 0) {
        tap_require("test_virtio_net_kvm --tap");
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_tap),
            cmocka_unit_test(test_tap_from_spec),
        };
        return cmocka_run_group_tests_name("virtio-net, TAP backend", tests, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callback),
    };
    return cmocka_run_group_tests_name("virtio-net, callback backend", tests, NULL, NULL);
}
