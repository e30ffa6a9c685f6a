/* SPDX-License-Identifier: MIT */
/* Unit tests of virtio-net with the callback backend, driven by a
 * driver-side fake over plain memory (no KVM): configuration space,
 * transmit to the callback, vmm_virtio_net_receive(), the counters, the
 * configuration keys, and each hostile-driver case of the two queues. */
#include "net_driver.h"

static int setup_net(void **st)
{
    struct nfx *n = calloc(1, sizeof *n);
    if (!n || !(n->f = fx_new())) {
        free(n);
        return -1;
    }
    *st = n;
    if (net_attach(n, NET_CONFIG) < 0)
        return -1;
    return vmm_virtio_net_set_tx(n->f->dev, tx_cb, n);
}

static int teardown_net(void **st)
{
    struct nfx *n = *st;
    void *f = n->f;
    teardown(&f);
    free(n);
    return 0;
}

/* ---- identity, features, configuration space ---- */

static void test_identity_and_config(void **st)
{
    struct nfx *n = *st;
    struct fx *f = n->f;
    assert_int_equal(f->nclaims, 1);
    assert_int_equal(f->base, MMIO_BASE);
    assert_int_equal(r32(f, R_MAGIC), MAGIC);
    assert_int_equal(r32(f, R_DEVICE_ID), 1);
    uint64_t offered = dev_features(f);
    assert_true(offered & F_VERSION_1);
    assert_true(offered & NET_F_MAC);
    assert_true(offered & NET_F_STATUS);
    /* no offloads, no mergeable buffers, no control queue */
    assert_false(offered & (NET_F_CSUM | NET_F_MRG_RXBUF | NET_F_CTRL_VQ | 0x3fc6ull));
    /* two queues, nothing at index 2 */
    for (uint32_t q = 0; q < 2; q++) {
        w32(f, R_QUEUE_SEL, q);
        assert_true(r32(f, R_QUEUE_NUM_MAX) >= NUM);
    }
    w32(f, R_QUEUE_SEL, 2);
    assert_int_equal(r32(f, R_QUEUE_NUM_MAX), 0);
    /* The default MAC: locally administered unicast, the same for the same id. */
    uint8_t mac[6];
    for (unsigned int i = 0; i < 6; i++)
        mac[i] = (uint8_t)peek(f, R_CONFIG + i, 1);
    assert_int_equal(mac[0], 0x02);
    assert_int_equal(peek(f, R_CONFIG + 6, 2), 1); /* status: VIRTIO_NET_S_LINK_UP */
    assert_int_equal(net_attach(n, NET_CONFIG), 0);
    for (unsigned int i = 0; i < 6; i++)
        assert_int_equal(peek(f, R_CONFIG + i, 1), mac[i]);
    /* A configured MAC, read bytewise and as words; the driver cannot change it. */
    assert_int_equal(net_attach(n, "{\"mmio\": 268435456, \"mac\": \"52:54:00:Ab:cD:ef\"}"), 0);
    poke(f, R_CONFIG, 0);
    assert_int_equal(r32(f, R_CONFIG), 0xab005452);
    const uint8_t want[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
    for (unsigned int i = 0; i < 6; i++)
        assert_int_equal(peek(f, R_CONFIG + i, 1), want[i]);
    /* Past the fields, config space reads as a fixed value at every width. */
    for (uint64_t off = R_CONFIG; off < 0x200; off++)
        for (unsigned int size = 1; size <= 8; size *= 2)
            if (off + size <= 0x200)
                (void)peek(f, off, size);
    assert_true(zero_or_ones(peek(f, R_CONFIG + 8, 4), 4));
    /* Another id, another default MAC. */
    vmm_device *other;
    assert_int_equal(vmm__device_new("virtio-net", "{\"mmio\": 0, \"id\": \"eth1\"}", &fake_host, f,
                                     NULL, &other),
                     0);
    uint8_t m2[6];
    for (unsigned int i = 0; i < 6; i++) {
        uint64_t v = 0;
        assert_int_equal(vmm__device_access(other, 0, R_CONFIG + i, &v, 1, false), 0);
        m2[i] = (uint8_t)v;
    }
    assert_int_equal(m2[0], 0x02);
    assert_memory_not_equal(m2, mac, 6);
    vmm__device_free(other);
}

/* ---- transmit ---- */

static void test_tx_to_callback(void **st)
{
    struct nfx *n = *st;
    net_start(n);
    /* One buffer: header and a 60-byte frame; the callback sees the frame only. */
    assert_int_equal(net_tx(n, 60), 0);
    assert_int_equal(n->tx_calls, 1);
    assert_int_equal(n->tx_len, 60);
    assert_memory_equal(n->tx_frame, at(n->f, TXBUF + NET_HDR, 60), 60);
    assert_true(r32(n->f, R_ISR) & ISR_USED);
    assert_int_equal(n->f->level[IRQ], 1);
    w32(n->f, R_ISR_ACK, ISR_USED);

    /* The header split over two buffers and the frame over three. */
    uint8_t want[1500];
    make_frame(want, sizeof want, 3);
    memset(at(n->f, DATA, 16), 0, 16);
    memcpy(at(n->f, DATA + 0x2000, 100), want, 100);
    memcpy(at(n->f, DATA + 0x3000, 1000), want + 100, 1000);
    memcpy(at(n->f, DATA + 0x5000, 400), want + 1100, 400);
    const struct seg s[] = {{DATA, 5, 0},
                            {DATA + 5, 7, 0},
                            {DATA + 0x2000, 100, 0},
                            {DATA + 0x3000, 1000, 0},
                            {DATA + 0x5000, 400, 0}};
    nq_chain(n, TXQ, 2, s, 5);
    nq_publish(n, TXQ, 2);
    notify(n->f, TXQ);
    uint32_t id, len;
    assert_true(nq_take(n, TXQ, &id, &len));
    assert_int_equal(id, 2);
    assert_int_equal(len, 0);
    assert_int_equal(n->tx_calls, 2);
    assert_int_equal(n->tx_len, sizeof want);
    assert_memory_equal(n->tx_frame, want, sizeof want);

    /* The limits: 14 and 65550 bytes go through. */
    assert_int_equal(net_tx(n, 14), 0);
    assert_int_equal(n->tx_len, 14);
    assert_int_equal(net_tx(n, NET_FRAME_MAX), 0);
    assert_int_equal(n->tx_len, NET_FRAME_MAX);
    assert_memory_equal(n->tx_frame, at(n->f, TXBUF + NET_HDR, NET_FRAME_MAX), NET_FRAME_MAX);

    /* Two chains in one notification. */
    make_frame(at(n->f, DATA + 12, 64), 64, 9);
    const struct seg a = {DATA, 12 + 64, 0};
    nq_chain(n, TXQ, 3, &a, 1);
    nq_chain(n, TXQ, 4, &a, 1);
    nq_publish(n, TXQ, 3);
    nq_publish(n, TXQ, 4);
    notify(n->f, TXQ);
    assert_true(nq_take(n, TXQ, &id, &len) && id == 3);
    assert_true(nq_take(n, TXQ, &id, &len) && id == 4);
    assert_int_equal(n->tx_calls, 6);

    vmm_net_stats ns = net_stats(n);
    assert_int_equal(ns.tx_frames, 6);
    assert_int_equal(ns.tx_dropped + ns.tx_errors + ns.rx_frames + ns.rx_dropped, 0);
    assert_false(r32(n->f, R_STATUS) & S_NEEDS_RESET);
}

/* Without a callback, frames are dropped and counted; a callback set later
 * gets the next ones; clearing it drops again. */
static void test_tx_without_callback(void **st)
{
    struct nfx *n = *st;
    assert_int_equal(vmm_virtio_net_set_tx(n->f->dev, NULL, NULL), 0);
    net_start(n);
    assert_int_equal(net_tx(n, 60), 0);
    assert_int_equal(n->tx_calls, 0);
    assert_int_equal(net_stats(n).tx_dropped, 1);
    assert_int_equal(vmm_virtio_net_set_tx(n->f->dev, tx_cb, n), 0);
    assert_int_equal(net_tx(n, 61), 0);
    assert_int_equal(n->tx_calls, 1);
    assert_int_equal(n->tx_len, 61);
    assert_int_equal(net_stats(n).tx_frames, 1);
}

/* Malformed frames: dropped, counted, the chain returned, the device live. */
static void test_tx_bad_frames(void **st)
{
    struct nfx *n = *st;
    net_start(n);
    unsigned int warnings = logs.warnings;
    /* Shorter than the header; header but less than an Ethernet header;
     * longer than 65550 bytes. */
    const struct seg tiny = {TXBUF, 8, 0};
    nq_chain(n, TXQ, 0, &tiny, 1);
    nq_publish(n, TXQ, 0);
    notify(n->f, TXQ);
    uint32_t id, len;
    assert_true(nq_take(n, TXQ, &id, &len));
    assert_int_equal(len, 0);
    assert_int_equal(net_tx(n, 13), 0);
    assert_int_equal(net_tx(n, 0), 0);
    assert_int_equal(net_tx(n, NET_FRAME_MAX + 1), 0);
    /* An empty chain (one zero-length buffer). */
    const struct seg empty = {TXBUF, 0, 0};
    nq_chain(n, TXQ, 0, &empty, 1);
    nq_publish(n, TXQ, 0);
    notify(n->f, TXQ);
    assert_true(nq_take(n, TXQ, &id, &len));
    /* Offloads nobody negotiated: NEEDS_CSUM, any gso_type (ECN too). */
    assert_int_equal(net_tx_hdr(n, 60, 1, 0, 0), 0);
    assert_int_equal(net_tx_hdr(n, 60, 0, 1, 0), 0);
    assert_int_equal(net_tx_hdr(n, 60, 0, 0x80, 0), 0);
    assert_int_equal(n->tx_calls, 0);
    vmm_net_stats s = net_stats(n);
    assert_int_equal(s.tx_errors, 8);
    assert_int_equal(s.tx_frames, 0);
    assert_true(logs.warnings > warnings);
    /* Flag bits the device does not know are ignored (§5.1.6.2.2), and so is
     * num_buffers: those frames go out. */
    assert_int_equal(net_tx_hdr(n, 60, 2, 0, 0), 0);
    assert_int_equal(net_tx_hdr(n, 61, 0xfe, 0, 0xffff), 0);
    assert_int_equal(n->tx_calls, 2);
    assert_int_equal(n->tx_len, 61);
    assert_false(r32(n->f, R_STATUS) & S_NEEDS_RESET);
}

/* Protocol violations on transmitq break the device until a reset. */
static void expect_net_broken(struct nfx *n)
{
    uint32_t s = r32(n->f, R_STATUS);
    assert_true(s & S_NEEDS_RESET);
    assert_true(r32(n->f, R_ISR) & ISR_CONFIG);
    assert_int_equal(n->f->level[IRQ], 1);
    /* Nothing is served any more: no transmit, no receive. */
    unsigned int calls = n->tx_calls;
    assert_int_equal(net_tx(n, 60), -1);
    assert_int_equal(n->tx_calls, calls);
    uint8_t fr[60];
    make_frame(fr, sizeof fr, 1);
    assert_int_equal(vmm_virtio_net_receive(n->f->dev, fr, sizeof fr), VMM_ESTATE);
}

static void net_recover(struct nfx *n)
{
    w32(n->f, R_STATUS, 0);
    assert_int_equal(r32(n->f, R_STATUS), 0);
    assert_int_not_equal(n->f->level[IRQ], 1);
    net_start(n);
    unsigned int calls = n->tx_calls;
    assert_int_equal(net_tx(n, 60), 0);
    assert_int_equal(n->tx_calls, calls + 1);
    net_post(n, 0, 2048);
    uint8_t fr[60];
    make_frame(fr, sizeof fr, 1);
    assert_int_equal(vmm_virtio_net_receive(n->f->dev, fr, sizeof fr), 0);
    uint32_t id, len;
    assert_true(nq_take(n, RXQ, &id, &len));
    assert_int_equal(len, NET_HDR + 60);
}

static void tx_one(struct nfx *n, const struct seg *s, unsigned int cnt)
{
    nq_chain(n, TXQ, 0, s, cnt);
    nq_publish(n, TXQ, 0);
    notify(n->f, TXQ);
}

static void test_tx_violations(void **st)
{
    struct nfx *n = *st;
    make_frame(at(n->f, TXBUF + NET_HDR, 60), 60, 2);
    memset(at(n->f, TXBUF, NET_HDR), 0, NET_HDR);
    /* A device-writable buffer on transmitq. */
    net_start(n);
    const struct seg w[] = {{TXBUF, NET_HDR + 60, 0}, {DATA, 16, D_WRITE}};
    tx_one(n, w, 2);
    assert_int_equal(n->tx_calls, 0);
    expect_net_broken(n);
    net_recover(n);
    /* Only writable. */
    net_start(n);
    const struct seg w2 = {TXBUF, NET_HDR + 60, D_WRITE};
    tx_one(n, &w2, 1);
    expect_net_broken(n);
    net_recover(n);
    /* Buffers outside RAM: in the hole, past the end, straddling the end,
     * wrapping around 2^64. */
    const uint64_t bad[][2] = {
        {HOLE, 200}, {RAM_SIZE, 200}, {RAM_SIZE - 100, 200}, {UINT64_MAX - 50, 100}};
    for (size_t i = 0; i < VMM__ARRAY_LEN(bad); i++) {
        net_start(n);
        unsigned int calls = n->tx_calls;
        const struct seg s[] = {{TXBUF, NET_HDR, 0}, {bad[i][0], (uint32_t)bad[i][1], 0}};
        tx_one(n, s, 2);
        assert_int_equal(n->tx_calls, calls);
        expect_net_broken(n);
        net_recover(n);
    }
    /* A chain that loops. */
    net_start(n);
    desc_at(n->f, n->q[TXQ].desc, 0, TXBUF, NET_HDR + 60, D_NEXT, 1);
    desc_at(n->f, n->q[TXQ].desc, 1, TXBUF, NET_HDR + 60, D_NEXT, 0);
    nq_publish(n, TXQ, 0);
    notify(n->f, TXQ);
    expect_net_broken(n);
    net_recover(n);
}

/* ---- receive ---- */

static void test_rx(void **st)
{
    struct nfx *n = *st;
    vmm_device *dev = n->f->dev;
    uint8_t fr[1514];
    make_frame(fr, sizeof fr, 5);
    /* Before the driver is ready: refused. */
    assert_int_equal(vmm_virtio_net_receive(dev, fr, 60), VMM_ESTATE);
    net_start(n);
    /* No buffer posted. */
    assert_int_equal(vmm_virtio_net_receive(dev, fr, 60), VMM_EAGAIN);
    assert_non_null(strstr(vmm_error_last()->message, "no receive buffer"));
    assert_int_equal(r32(n->f, R_ISR), 0);
    /* One buffer: header and frame, the used length both. */
    net_post(n, 0, 2048);
    assert_int_equal(vmm_virtio_net_receive(dev, fr, 60), 0);
    uint32_t id, len;
    assert_true(nq_take(n, RXQ, &id, &len));
    assert_int_equal(id, 0);
    assert_int_equal(len, NET_HDR + 60);
    expect_rx_header(at(n->f, RXBUF, NET_HDR));
    assert_memory_equal(at(n->f, RXBUF + NET_HDR, 60), fr, 60);
    assert_int_equal(*at(n->f, RXBUF + NET_HDR + 60, 1), 0xee); /* nothing beyond */
    assert_true(r32(n->f, R_ISR) & ISR_USED);
    assert_int_equal(n->f->level[IRQ], 1);
    w32(n->f, R_ISR_ACK, ISR_USED);
    /* The buffer was used: the next frame waits for another. */
    assert_int_equal(vmm_virtio_net_receive(dev, fr, 60), VMM_EAGAIN);

    /* A chain of a header-sized buffer and two more, a full-sized frame. */
    const struct seg s[] = {{RXBUF + 0x1000, NET_HDR, D_WRITE},
                            {RXBUF + 0x2000, 1000, D_WRITE},
                            {RXBUF + 0x3000, 1000, D_WRITE}};
    nq_chain(n, RXQ, 1, s, 3);
    nq_publish(n, RXQ, 1);
    notify(n->f, RXQ);
    assert_int_equal(vmm_virtio_net_receive(dev, fr, sizeof fr), 0);
    assert_true(nq_take(n, RXQ, &id, &len));
    assert_int_equal(id, 1);
    assert_int_equal(len, NET_HDR + sizeof fr);
    expect_rx_header(at(n->f, RXBUF + 0x1000, NET_HDR));
    assert_memory_equal(at(n->f, RXBUF + 0x2000, 1000), fr, 1000);
    assert_memory_equal(at(n->f, RXBUF + 0x3000, 514), fr + 1000, 514);

    /* A frame longer than the posted buffer: E2BIG, and the buffer stays
     * posted for a frame that fits (exactly, here). */
    net_post(n, 4, NET_HDR + 50);
    assert_int_equal(vmm_virtio_net_receive(dev, fr, 51), VMM_E2BIG);
    assert_non_null(strstr(vmm_error_last()->message, "does not fit"));
    assert_false(nq_take(n, RXQ, &id, &len));
    assert_int_equal(vmm_virtio_net_receive(dev, fr, 50), 0);
    assert_true(nq_take(n, RXQ, &id, &len));
    assert_int_equal(id, 4);
    assert_int_equal(len, NET_HDR + 50);
    assert_memory_equal(at(n->f, RXBUF + 0x4000 + NET_HDR, 50), fr, 50);

    /* Bad arguments. */
    assert_int_equal(vmm_virtio_net_receive(dev, fr, 13), VMM_EINVAL);
    assert_int_equal(vmm_virtio_net_receive(dev, NULL, 60), VMM_EINVAL);
    assert_int_equal(vmm_virtio_net_receive(NULL, fr, 60), VMM_EINVAL);
    static uint8_t big[NET_FRAME_MAX + 1];
    assert_int_equal(vmm_virtio_net_receive(dev, big, sizeof big), VMM_E2BIG);
    /* The largest frame into a large enough chain. */
    const struct seg l = {DATA + 0x80000, NET_HDR + NET_FRAME_MAX, D_WRITE};
    nq_chain(n, RXQ, 5, &l, 1);
    nq_publish(n, RXQ, 5);
    notify(n->f, RXQ);
    make_frame(big, NET_FRAME_MAX, 8);
    assert_int_equal(vmm_virtio_net_receive(dev, big, NET_FRAME_MAX), 0);
    assert_true(nq_take(n, RXQ, &id, &len));
    assert_int_equal(len, NET_HDR + NET_FRAME_MAX);
    assert_memory_equal(at(n->f, DATA + 0x80000 + NET_HDR, NET_FRAME_MAX), big, NET_FRAME_MAX);

    vmm_net_stats ns = net_stats(n);
    assert_int_equal(ns.rx_frames, 4);
    /* one before the driver was ready, two without a buffer, one too long */
    assert_int_equal(ns.rx_dropped, 4);
    assert_false(r32(n->f, R_STATUS) & S_NEEDS_RESET);

    /* After a reset the driver is not ready; a new set-up works. */
    w32(n->f, R_STATUS, 0);
    assert_int_equal(vmm_virtio_net_receive(dev, fr, 60), VMM_ESTATE);
    net_recover(n);
}

static void rx_one(struct nfx *n, const struct seg *s, unsigned int cnt)
{
    nq_chain(n, RXQ, 0, s, cnt);
    nq_publish(n, RXQ, 0);
    notify(n->f, RXQ);
}

static void test_rx_violations(void **st)
{
    struct nfx *n = *st;
    uint8_t fr[60];
    make_frame(fr, sizeof fr, 6);
    /* A device-readable buffer on receiveq (alone, or before writable ones). */
    net_start(n);
    const struct seg r = {RXBUF, 2048, 0};
    rx_one(n, &r, 1);
    assert_int_equal(vmm_virtio_net_receive(n->f->dev, fr, sizeof fr), VMM_ESTATE);
    expect_net_broken(n);
    net_recover(n);
    net_start(n);
    const struct seg rw[] = {{RXBUF, 16, 0}, {RXBUF + 0x1000, 2048, D_WRITE}};
    rx_one(n, rw, 2);
    assert_int_equal(vmm_virtio_net_receive(n->f->dev, fr, sizeof fr), VMM_ESTATE);
    expect_net_broken(n);
    net_recover(n);
    /* Writable buffers outside RAM. */
    const uint64_t bad[][2] = {{HOLE + 16, 200}, {RAM_SIZE, 2048}, {RAM_SIZE - 30, 200}};
    for (size_t i = 0; i < VMM__ARRAY_LEN(bad); i++) {
        net_start(n);
        const struct seg s[] = {{RXBUF, NET_HDR, D_WRITE},
                                {bad[i][0], (uint32_t)bad[i][1], D_WRITE}};
        rx_one(n, s, 2);
        assert_int_equal(vmm_virtio_net_receive(n->f->dev, fr, sizeof fr), VMM_ESTATE);
        expect_net_broken(n);
        net_recover(n);
    }
    /* An available index beyond the queue size, and a head beyond it. */
    net_start(n);
    put16(n->f, n->q[RXQ].avail + 2, NUM + 1);
    assert_int_equal(vmm_virtio_net_receive(n->f->dev, fr, sizeof fr), VMM_ESTATE);
    expect_net_broken(n);
    net_recover(n);
    net_start(n);
    nq_publish(n, RXQ, NUM);
    assert_int_equal(vmm_virtio_net_receive(n->f->dev, fr, sizeof fr), VMM_ESTATE);
    expect_net_broken(n);
    net_recover(n);
    /* A chain too short even for the header: the frame is dropped, the
     * chain stays (a later frame could not fit either: the driver's loss). */
    net_start(n);
    const struct seg tiny = {RXBUF, 4, D_WRITE};
    rx_one(n, &tiny, 1);
    assert_int_equal(vmm_virtio_net_receive(n->f->dev, fr, 14), VMM_E2BIG);
    assert_false(r32(n->f, R_STATUS) & S_NEEDS_RESET);
}

/* Notifications on an empty ring, on a bad queue and before DRIVER_OK do
 * nothing harmful. */
static void test_notify_edge_cases(void **st)
{
    struct nfx *n = *st;
    notify(n->f, RXQ);
    notify(n->f, TXQ);
    net_start(n);
    notify(n->f, RXQ);
    notify(n->f, TXQ);
    notify(n->f, 2);
    notify(n->f, 0xffffffff);
    assert_int_equal(n->tx_calls, 0);
    assert_false(r32(n->f, R_STATUS) & S_NEEDS_RESET);
    assert_int_equal(net_tx(n, 60), 0);
    assert_int_equal(n->tx_calls, 1);
}

/* ---- the embedder API ---- */

static void test_api_checks(void **st)
{
    struct nfx *n = *st;
    vmm_net_stats s;
    assert_int_equal(vmm_virtio_net_set_tx(NULL, tx_cb, n), VMM_EINVAL);
    assert_int_equal(vmm_virtio_net_get_stats(NULL, &s), VMM_EINVAL);
    assert_int_equal(vmm_virtio_net_get_stats(n->f->dev, NULL), VMM_EINVAL);
    /* Another device type is refused. */
    vmm_device *rng;
    assert_int_equal(vmm__device_new("virtio-rng", "{\"mmio\": 0}", &fake_host, n->f, "rng0", &rng),
                     0);
    uint8_t fr[60] = {0};
    assert_int_equal(vmm_virtio_net_set_tx(rng, tx_cb, n), VMM_EINVAL);
    assert_int_equal(vmm_virtio_net_receive(rng, fr, sizeof fr), VMM_EINVAL);
    assert_int_equal(vmm_virtio_net_get_stats(rng, &s), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "not a virtio-net"));
    vmm__device_free(rng);
}

/* Bad configurations: VMM_ECONFIG with the key in the message. */
static void test_config_errors(void **st)
{
    struct nfx *n = *st;
    static const struct {
        const char *cfg, *key;
    } bad[] = {
        {"{\"irq\": 5}", "mmio"},
        {"{\"mmio\": 4097}", "mmio"},
        {"{\"mmio\": 0, \"mac\": \"52:54:00:12:34\"}", "mac"},
        {"{\"mmio\": 0, \"mac\": \"52:54:00:12:34:567\"}", "mac"},
        {"{\"mmio\": 0, \"mac\": \"52-54-00-12-34-56\"}", "mac"},
        {"{\"mmio\": 0, \"mac\": \"52:54:00:12:34:zz\"}", "mac"},
        {"{\"mmio\": 0, \"mac\": \"01:00:5e:00:00:01\"}", "mac"}, /* multicast */
        {"{\"mmio\": 0, \"mac\": 5}", "mac"},
        {"{\"mmio\": 0, \"backend\": \"udp\"}", "backend"},
        {"{\"mmio\": 0, \"backend\": true}", "backend"},
        {"{\"mmio\": 0, \"backend\": \"tap\"}", "tap"},
        {"{\"mmio\": 0, \"backend\": \"callback\", \"tap\": \"t0\"}", "tap"},
        {"{\"mmio\": 0, \"backend\": \"callback\", \"tap_fd\": 3}", "tap_fd"},
        {"{\"mmio\": 0, \"tap\": \"t0\", \"tap_fd\": 3}", "tap_fd"},
        {"{\"mmio\": 0, \"tap\": \"\"}", "tap"},
        {"{\"mmio\": 0, \"tap\": \"a/b\"}", "tap"},
        {"{\"mmio\": 0, \"tap\": \"a b\"}", "tap"},
        {"{\"mmio\": 0, \"tap\": \"..\"}", "tap"},
        {"{\"mmio\": 0, \"tap\": \"sixteen-chars-xx\"}", "tap"},
        {"{\"mmio\": 0, \"tap_fd\": -1}", "tap_fd"},
        {"{\"mmio\": 0, \"tap_fd\": \"x\"}", "tap_fd"},
        {"{\"mmio\": 0, \"path\": \"x\"}", "path"},
    };
    for (size_t i = 0; i < VMM__ARRAY_LEN(bad); i++) {
        int rc = net_attach(n, bad[i].cfg);
        if (rc != VMM_ECONFIG)
            fail_msg("%s: %d (%s)", bad[i].cfg, rc, vmm_error_last()->message);
        if (!strstr(vmm_error_last()->message, bad[i].key))
            fail_msg("%s: message \"%s\" does not name %s", bad[i].cfg, vmm_error_last()->message,
                     bad[i].key);
    }
    /* A descriptor that is not a TAP. */
    int fd = open("/dev/null", O_RDWR);
    assert_true(fd >= 0);
    char cfg[128];
    snprintf(cfg, sizeof cfg, "{\"mmio\": 0, \"tap_fd\": %d}", fd);
    assert_int_equal(net_attach(n, cfg), VMM_ECONFIG);
    assert_non_null(strstr(vmm_error_last()->message, "tap_fd"));
    assert_true(fcntl(fd, F_GETFD) >= 0); /* still the caller's */
    close(fd);
    assert_int_equal(n->f->releases, 1); /* the claim of the failed create was undone */
    /* The defaults: the callback backend. */
    assert_int_equal(net_attach(n, "{\"mmio\": 0}"), 0);
    assert_int_equal(vmm_virtio_net_set_tx(n->f->dev, tx_cb, n), 0);
}

int main(void)
{
    vmm_log_set(count_log, NULL, VMM_LOG_WARN);
#define NET_T(name) cmocka_unit_test_setup_teardown(name, setup_net, teardown_net)
    const struct CMUnitTest tests[] = {
        NET_T(test_identity_and_config), NET_T(test_tx_to_callback),
        NET_T(test_tx_without_callback), NET_T(test_tx_bad_frames),
        NET_T(test_tx_violations),       NET_T(test_rx),
        NET_T(test_rx_violations),       NET_T(test_notify_edge_cases),
        NET_T(test_api_checks),          NET_T(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
