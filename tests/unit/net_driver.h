/* SPDX-License-Identifier: MIT */
/* The driver side of the virtio-net unit tests, on top of virtio_driver.h:
 * a virtio-net device over the fake host, both its queues (receiveq 0 at the
 * usual rings, transmitq 1 at the second set), frames and their headers. */
#ifndef LIBVMM_TEST_NET_DRIVER_H
#define LIBVMM_TEST_NET_DRIVER_H

#include "virtio_driver.h"

#define NET_F_CSUM      (1ull << 0)
#define NET_F_MAC       (1ull << 5)
#define NET_F_MRG_RXBUF (1ull << 15)
#define NET_F_STATUS    (1ull << 16)
#define NET_F_CTRL_VQ   (1ull << 17)
#define NET_HDR         12u
#define NET_FRAME_MAX   65550u
#define RXQ             0u
#define TXQ             1u
#define RXBUF           (DATA + 0x10000) /* receive buffers, 0x1000 apart */
#define TXBUF           (DATA + 0x40000) /* a transmit chain's header and frame */
#define ETH_TEST        0x88b5           /* IEEE local experimental EtherType */

/* The driver's shadow of one queue. */
struct nq {
    uint16_t num;
    uint64_t desc, avail, used;
    uint16_t avail_idx, used_seen;
};

struct nfx {
    struct fx *f;
    struct nq q[2];
    /* what the transmit callback saw */
    unsigned int tx_calls;
    size_t tx_len;
    uint8_t tx_frame[NET_FRAME_MAX];
};

static inline void tx_cb(void *opaque, const void *frame, size_t len)
{
    struct nfx *n = opaque;
    n->tx_calls++;
    n->tx_len = len;
    assert_true(len <= sizeof n->tx_frame);
    memcpy(n->tx_frame, frame, len);
}

static inline int net_attach(struct nfx *n, const char *cfg)
{
    struct fx *f = n->f;
    vmm__device_free(f->dev);
    f->dev = NULL;
    f->has_irq = cfg && strstr(cfg, "\"irq\"");
    f->irq_calls = f->nclaims = f->releases = 0;
    for (int i = 0; i < 24; i++)
        f->level[i] = -1;
    return vmm__device_new("virtio-net", cfg, &fake_host, f, "net0", &f->dev);
}

#define NET_CONFIG "{\"mmio\": 268435456, \"irq\": 5, \"backend\": \"callback\"}"

static inline void nq_reset(struct nfx *n, unsigned int q, uint16_t num)
{
    uint64_t base = q == RXQ ? DESC : ALT;
    struct nq *s = &n->q[q];
    s->num = num;
    s->desc = base;
    s->avail = base + 0x4000;
    s->used = base + 0x5000;
    s->avail_idx = s->used_seen = 0;
    memset(at(n->f, s->desc, 16ull * num), 0, 16ull * num);
    memset(at(n->f, s->avail, 6ull + 2ull * num), 0, 6ull + 2ull * num);
    memset(at(n->f, s->used, 6ull + 8ull * num), 0, 6ull + 8ull * num);
}

/* §3.1.1 with MAC and STATUS, both queues with NUM entries, DRIVER_OK. */
static inline void net_start(struct nfx *n)
{
    struct fx *f = n->f;
    assert_true(negotiate(f, F_VERSION_1 | NET_F_MAC | NET_F_STATUS) & S_FEATURES_OK);
    for (unsigned int q = 0; q < 2; q++) {
        nq_reset(n, q, NUM);
        struct nq *s = &n->q[q];
        assert_int_equal(queue_try(f, q, NUM, s->desc, s->avail, s->used), 1);
    }
    w32(f, R_STATUS, S_LIVE);
    assert_int_equal(r32(f, R_STATUS), S_LIVE);
    /* the fake driver's generic shadow (used by expect_broken) follows queue 0 */
    f->num = NUM;
    f->desc = DESC;
    f->avail = AVAIL;
    f->used = USED;
    f->avail_idx = f->used_seen = 0;
}

static inline void nq_chain(struct nfx *n, unsigned int q, uint16_t first, const struct seg *s,
                            unsigned int cnt)
{
    chain_at(n->f, n->q[q].desc, first, s, cnt);
}

static inline void nq_publish(struct nfx *n, unsigned int q, uint16_t head)
{
    struct nq *s = &n->q[q];
    put16(n->f, s->avail + 4 + 2ull * (s->avail_idx % s->num), head);
    s->avail_idx++;
    put16(n->f, s->avail + 2, s->avail_idx);
}

static inline uint16_t nq_used_idx(struct nfx *n, unsigned int q)
{
    return get16(n->f, n->q[q].used + 2);
}

static inline bool nq_take(struct nfx *n, unsigned int q, uint32_t *id, uint32_t *len)
{
    struct nq *s = &n->q[q];
    if (nq_used_idx(n, q) == s->used_seen)
        return false;
    uint64_t e = s->used + 4 + 8ull * (s->used_seen % s->num);
    *id = get32(n->f, e);
    *len = get32(n->f, e + 4);
    s->used_seen++;
    return true;
}

/* A test frame of len bytes: broadcast destination, source 02:..:01, the
 * test EtherType, then a pattern seeded by seed. */
static inline void make_frame(uint8_t *p, size_t len, uint8_t seed)
{
    static const uint8_t head[14] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
                                     0,    0,    0,    0,    1,    0x88, 0xb5};
    memcpy(p, head, len < 14 ? len : 14);
    for (size_t i = 14; i < len; i++)
        p[i] = (uint8_t)(i * 31 + seed);
}

/* A transmit request in one readable buffer: the header (flags, gso_type,
 * num_buffers as given, the rest 0) and a test frame of len bytes; publish it
 * on transmitq, notify, and return the used length (-1 if none came back). */
static inline long net_tx_hdr(struct nfx *n, size_t len, uint8_t flags, uint8_t gso,
                              uint16_t num_buffers)
{
    uint8_t *p = at(n->f, TXBUF, NET_HDR + len);
    memset(p, 0, NET_HDR);
    p[0] = flags;
    p[1] = gso;
    memcpy(p + 10, &num_buffers, 2);
    make_frame(p + NET_HDR, len, 7);
    const struct seg s = {TXBUF, (uint32_t)(NET_HDR + len), 0};
    nq_chain(n, TXQ, 0, &s, 1);
    nq_publish(n, TXQ, 0);
    notify(n->f, TXQ);
    uint32_t id, ulen;
    if (!nq_take(n, TXQ, &id, &ulen))
        return -1;
    assert_int_equal(id, 0);
    return (long)ulen;
}

static inline long net_tx(struct nfx *n, size_t len)
{
    return net_tx_hdr(n, len, 0, 0, 0);
}

/* Post receive buffer i (one writable buffer of len bytes at RXBUF + i *
 * 0x1000, descriptor i) and notify receiveq. */
static inline void net_post(struct nfx *n, uint16_t i, uint32_t len)
{
    memset(at(n->f, RXBUF + 0x1000ull * i, len), 0xee, len);
    const struct seg s = {RXBUF + 0x1000ull * i, len, D_WRITE};
    nq_chain(n, RXQ, i, &s, 1);
    nq_publish(n, RXQ, i);
    notify(n->f, RXQ);
}

/* The header the device writes in front of a received frame (§5.1.6.4). */
static inline void expect_rx_header(const uint8_t *p)
{
    static const uint8_t want[NET_HDR] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    assert_memory_equal(p, want, NET_HDR);
}

static inline vmm_net_stats net_stats(struct nfx *n)
{
    vmm_net_stats s;
    assert_int_equal(vmm_virtio_net_get_stats(n->f->dev, &s), 0);
    return s;
}

#endif
