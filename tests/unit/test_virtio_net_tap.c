/* SPDX-License-Identifier: MIT */
/* virtio-net's TAP backend with a real TAP interface, driven by the fake
 * driver over plain memory (no KVM): frames the driver transmits appear on
 * the interface, frames injected into it land in the posted receive buffers
 * (through the device's I/O thread), receive stops while no buffer is posted
 * (the kernel keeps the frames), a reset leaves nothing serving old rings, and
 * destroy closes the TAP. Skips (77) without /dev/net/tun or CAP_NET_ADMIN. */
#include "net_driver.h"
#include "tap_util.h"

#define ETH_IN   0x88b6 /* frames the test injects towards the device */
#define WAIT_MS  5000   /* bounds a failing wait; never asserted */
#define BUF_SIZE 2048u

struct tfx {
    struct nfx n;
    char ifname[IFNAMSIZ];
    int sock; /* AF_PACKET on the interface */
};

static int setup_tap(void **st)
{
    struct tfx *t = calloc(1, sizeof *t);
    if (!t || !(t->n.f = fx_new())) {
        free(t);
        return -1;
    }
    *st = t;
    t->sock = -1;
    tap_name(t->ifname, sizeof t->ifname, "vmmnt");
    char cfg[160];
    snprintf(cfg, sizeof cfg, "{\"mmio\": 268435456, \"irq\": 5, \"tap\": \"%s\"}", t->ifname);
    if (net_attach(&t->n, cfg) < 0) {
        fprintf(stderr, "attach: %s\n", vmm_error_last()->message);
        return -1;
    }
    if (tap_up(t->ifname) < 0 || (t->sock = tap_packet_socket(t->ifname)) < 0)
        return -1;
    return 0;
}

static int teardown_tap(void **st)
{
    struct tfx *t = *st;
    if (t->sock >= 0)
        close(t->sock);
    void *f = t->n.f;
    teardown(&f);
    free(t);
    return 0;
}

/* Under the device lock: the I/O thread writes the fake RAM with it held. */
static uint16_t locked_used_idx(struct nfx *n)
{
    vmm__device_lock(n->f->dev);
    uint16_t v = nq_used_idx(n, RXQ);
    vmm__device_unlock(n->f->dev);
    return v;
}

static vmm_net_stats locked_stats(struct nfx *n)
{
    return net_stats(n); /* takes the device lock itself */
}

/* Post receive buffer i (BUF_SIZE or len bytes) with the lock held while the
 * rings change, then notify. */
static void post(struct nfx *n, uint16_t i, uint32_t len)
{
    vmm__device_lock(n->f->dev);
    memset(at(n->f, RXBUF + 0x1000ull * i, len), 0xee, len);
    const struct seg s = {RXBUF + 0x1000ull * i, len, D_WRITE};
    nq_chain(n, RXQ, i, &s, 1);
    nq_publish(n, RXQ, i);
    vmm__device_unlock(n->f->dev);
    notify(n->f, RXQ);
}

/* An injected frame: to the device's MAC, EtherType ETH_IN, a pattern. */
static void in_frame(struct nfx *n, uint8_t *p, size_t len, uint8_t seed)
{
    for (unsigned int i = 0; i < 6; i++)
        p[i] = (uint8_t)peek(n->f, R_CONFIG + i, 1);
    const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x99};
    memcpy(p + 6, src, 6);
    p[12] = ETH_IN >> 8;
    p[13] = ETH_IN & 0xff;
    for (size_t i = 14; i < len; i++)
        p[i] = (uint8_t)(i * 7 + seed);
}

/* Take used entries until one holds an injected frame (other traffic the
 * kernel may send is skipped): its buffer's index and frame length, or -1. */
static int take_in(struct nfx *n, uint32_t *flen)
{
    uint32_t id, len;
    vmm__device_lock(n->f->dev);
    int found = -1;
    while (found < 0 && nq_take(n, RXQ, &id, &len)) {
        const uint8_t *p = at(n->f, RXBUF + 0x1000ull * id, NET_HDR + 14);
        if (len >= NET_HDR + 14 && p[NET_HDR + 12] == (ETH_IN >> 8) &&
            p[NET_HDR + 13] == (ETH_IN & 0xff)) {
            found = (int)id;
            *flen = len - NET_HDR;
        }
    }
    vmm__device_unlock(n->f->dev);
    return found;
}

/* take_in(), waiting for the I/O thread (bounded: WAIT_MS only bounds a
 * failure). */
static int next_in(struct nfx *n, uint32_t *flen)
{
    uint64_t end = tap_now_ms() + WAIT_MS;
    int id;
    while ((id = take_in(n, flen)) < 0 && tap_now_ms() < end)
        usleep(1000);
    return id;
}

static void test_tap_tx(void **st)
{
    struct tfx *t = *st;
    struct nfx *n = &t->n;
    net_start(n);
    static uint8_t got[NET_FRAME_MAX];
    static const size_t lens[] = {60, 1514};
    for (size_t i = 0; i < 2; i++) {
        size_t len = lens[i];
        assert_int_equal(net_tx(n, len), 0);
        ssize_t k = tap_recv(t->sock, ETH_TEST, got, sizeof got, WAIT_MS);
        assert_int_equal(k, (ssize_t)len);
        assert_memory_equal(got, at(n->f, TXBUF + NET_HDR, len), len);
    }
    vmm_net_stats s = locked_stats(n);
    assert_int_equal(s.tx_frames, 2);
    assert_int_equal(s.tx_dropped, 0);
    /* The callback calls belong to the other backend. */
    assert_int_equal(vmm_virtio_net_set_tx(n->f->dev, tx_cb, n), VMM_ESTATE);
    assert_int_equal(vmm_virtio_net_receive(n->f->dev, got, 60), VMM_ESTATE);
    assert_non_null(strstr(vmm_error_last()->message, "tap backend"));
}

static void test_tap_rx(void **st)
{
    struct tfx *t = *st;
    struct nfx *n = &t->n;
    net_start(n);
    for (uint16_t i = 0; i < 4; i++)
        post(n, i, BUF_SIZE);
    uint8_t fr[1514];
    in_frame(n, fr, sizeof fr, 1);
    assert_int_equal(tap_inject(t->sock, fr, 100), 0);
    assert_int_equal(tap_inject(t->sock, fr, sizeof fr), 0);
    uint32_t flen;
    int id = next_in(n, &flen);
    assert_true(id >= 0);
    assert_int_equal(flen, 100);
    expect_rx_header(at(n->f, RXBUF + 0x1000ull * id, NET_HDR));
    assert_memory_equal(at(n->f, RXBUF + 0x1000ull * id + NET_HDR, 100), fr, 100);
    id = next_in(n, &flen);
    assert_true(id >= 0);
    assert_int_equal(flen, sizeof fr);
    assert_memory_equal(at(n->f, RXBUF + 0x1000ull * id + NET_HDR, sizeof fr), fr, sizeof fr);
    assert_true(r32(n->f, R_ISR) & ISR_USED);
    vmm__device_lock(n->f->dev);
    int level = n->f->level[IRQ];
    vmm__device_unlock(n->f->dev);
    assert_int_equal(level, 1);
    assert_true(locked_stats(n).rx_frames >= 2);
}

/* No buffer posted: the device stops reading and the kernel keeps the
 * frames; posting buffers brings them in, in order. A frame longer than the
 * posted buffer is dropped and counted, the buffer kept for the next. */
static void test_tap_backpressure(void **st)
{
    struct tfx *t = *st;
    struct nfx *n = &t->n;
    net_start(n);
    notify(n->f, RXQ); /* armed with nothing posted: must not read */
    uint8_t fr[3][200];
    for (int i = 0; i < 3; i++) {
        in_frame(n, fr[i], sizeof fr[i], (uint8_t)(10 + i));
        assert_int_equal(tap_inject(t->sock, fr[i], 100 + 50 * i), 0);
    }
    usleep(200 * 1000); /* give a wrongly reading device the chance to drop them */
    vmm_net_stats s = locked_stats(n);
    assert_int_equal(s.rx_dropped, 0);
    assert_int_equal(s.rx_frames, 0);
    for (uint16_t i = 0; i < 8; i++)
        post(n, i, BUF_SIZE);
    for (int i = 0; i < 3; i++) {
        uint32_t flen;
        int id = next_in(n, &flen);
        assert_true(id >= 0);
        assert_int_equal(flen, 100 + 50 * i);
        assert_memory_equal(at(n->f, RXBUF + 0x1000ull * id + NET_HDR, flen), fr[i], flen);
    }
    assert_int_equal(locked_stats(n).rx_dropped, 0);

    /* Too long for the one buffer posted: dropped, the buffer stays. */
    net_start(n);
    post(n, 0, NET_HDR + 60);
    uint8_t big[200], small[60];
    in_frame(n, big, sizeof big, 20);
    in_frame(n, small, sizeof small, 21);
    uint64_t dropped = locked_stats(n).rx_dropped;
    assert_int_equal(tap_inject(t->sock, big, sizeof big), 0);
    uint64_t end = tap_now_ms() + WAIT_MS;
    while (locked_stats(n).rx_dropped == dropped && tap_now_ms() < end)
        usleep(1000);
    assert_int_equal(locked_stats(n).rx_dropped, dropped + 1);
    assert_int_equal(locked_used_idx(n), 0);
    assert_int_equal(tap_inject(t->sock, small, sizeof small), 0);
    uint32_t flen;
    assert_int_equal(next_in(n, &flen), 0);
    assert_int_equal(flen, sizeof small);
    assert_memory_equal(at(n->f, RXBUF + NET_HDR, sizeof small), small, sizeof small);
}

/* After a reset the I/O thread leaves the old rings alone, even with frames
 * arriving; the device is destroyed with frames still queued. */
static void test_tap_reset(void **st)
{
    struct tfx *t = *st;
    struct nfx *n = &t->n;
    net_start(n);
    for (uint16_t i = 0; i < 4; i++)
        post(n, i, BUF_SIZE);
    w32(n->f, R_STATUS, 0);
    uint8_t fr[100];
    in_frame(n, fr, sizeof fr, 30);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tap_inject(t->sock, fr, sizeof fr), 0);
    usleep(200 * 1000);
    assert_int_equal(locked_used_idx(n), 0);
    assert_int_equal(locked_stats(n).rx_frames, 0);
    /* vmm_device_reset() likewise, from a live device. */
    net_start(n);
    post(n, 0, BUF_SIZE);
    uint32_t flen;
    assert_int_equal(next_in(n, &flen), 0); /* one of the frames the kernel kept */
    for (uint16_t i = 1; i < 4; i++)
        post(n, i, BUF_SIZE);
    assert_int_equal(vmm_device_reset(n->f->dev), 0);
    uint16_t before = locked_used_idx(n);
    uint64_t frames = locked_stats(n).rx_frames;
    for (int i = 0; i < 3; i++)
        assert_int_equal(tap_inject(t->sock, fr, sizeof fr), 0);
    usleep(200 * 1000);
    assert_int_equal(locked_used_idx(n), before);
    assert_int_equal(locked_stats(n).rx_frames, frames);
    /* Destroy closes the TAP: the (non-persistent) interface goes away. */
    vmm__device_free(n->f->dev);
    n->f->dev = NULL;
    close(t->sock);
    t->sock = -1;
    assert_int_equal(if_nametoindex(t->ifname), 0);
}

/* A TAP descriptor the embedder opened ("tap_fd"): used, made non-blocking,
 * and left open at destroy. One with IFF_VNET_HDR is refused. */
static void test_tap_fd(void **st)
{
    struct tfx *t = *st;
    char name[IFNAMSIZ];
    tap_name(name, sizeof name, "vmmfd");
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
    assert_int_equal(tap_up(name), 0);
    int s = tap_packet_socket(name);
    assert_true(s >= 0);
    char cfg[160];
    snprintf(cfg, sizeof cfg, "{\"mmio\": 268435456, \"tap_fd\": %d}", fd);
    assert_int_equal(net_attach(&t->n, cfg), 0);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    net_start(&t->n);
    assert_int_equal(net_tx(&t->n, 80), 0);
    uint8_t got[200];
    assert_int_equal(tap_recv(s, ETH_TEST, got, sizeof got, WAIT_MS), 80);
    assert_memory_equal(got, at(t->n.f, TXBUF + NET_HDR, 80), 80);
    vmm__device_free(t->n.f->dev);
    t->n.f->dev = NULL;
    assert_true(fcntl(fd, F_GETFD) >= 0);
    assert_true(if_nametoindex(name) != 0);
    close(s);
    close(fd);

    fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
    snprintf(cfg, sizeof cfg, "{\"mmio\": 268435456, \"tap_fd\": %d}", fd);
    assert_int_equal(net_attach(&t->n, cfg), VMM_ECONFIG);
    assert_non_null(strstr(vmm_error_last()->message, "IFF_VNET_HDR"));
    close(fd);
}

/* Opening a TAP fails with the interface's name and the reason: here the
 * name belongs to an interface that is not a TAP. */
static void test_tap_open_error(void **st)
{
    struct tfx *t = *st;
    int rc = net_attach(&t->n, "{\"mmio\": 268435456, \"tap\": \"lo\"}");
    assert_true(rc < 0);
    const char *m = vmm_error_last()->message;
    assert_non_null(strstr(m, "config.tap"));
    assert_non_null(strstr(m, "\"lo\""));
    assert_non_null(strstr(m, strerror(EINVAL)));
}

/* A TAP whose interface is down refuses writes: the frame is dropped and
 * counted, the device carries on. */
static void test_tap_down(void **st)
{
    struct tfx *t = *st;
    char name[IFNAMSIZ], cfg[160];
    tap_name(name, sizeof name, "vmmdn");
    snprintf(cfg, sizeof cfg, "{\"mmio\": 268435456, \"tap\": \"%s\"}", name);
    assert_int_equal(net_attach(&t->n, cfg), 0);
    net_start(&t->n);
    assert_int_equal(net_tx(&t->n, 60), 0);
    vmm_net_stats s = locked_stats(&t->n);
    assert_int_equal(s.tx_dropped, 1);
    assert_int_equal(s.tx_frames, 0);
    assert_int_equal(s.tx_errors, 0);
    assert_false(r32(t->n.f, R_STATUS) & S_NEEDS_RESET);
}

int main(void)
{
    tap_require("test_virtio_net_tap");
    vmm_log_set(count_log, NULL, VMM_LOG_WARN);
#define TAP_T(name) cmocka_unit_test_setup_teardown(name, setup_tap, teardown_tap)
    const struct CMUnitTest tests[] = {
        TAP_T(test_tap_tx),    TAP_T(test_tap_rx), TAP_T(test_tap_backpressure),
        TAP_T(test_tap_reset), TAP_T(test_tap_fd), TAP_T(test_tap_open_error),
        TAP_T(test_tap_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
