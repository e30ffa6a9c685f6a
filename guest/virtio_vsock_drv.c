/* SPDX-License-Identifier: MIT */
/* A minimal virtio-vsock driver run as a CPL3 guest (virtio 1.2 §5.10),
 * polling: it connects out to host port VS_HOST_PORT and exchanges a message,
 * closes cleanly, then accepts a host connection on VS_IN_PORT, echoes what
 * comes and answers the host's close. Results go to struct vs_io. */
#include "../lib/virtio/vsock_proto.h"
#include "virtio_vsock_drv.h"
#include "vdrv.h"

#define BUF_ALLOC 4096u
/* The host program acts meanwhile: wait much longer than for the device. */
#define SPINS (40ul * VDRV_SPINS)

static volatile struct vs_io *const io = (volatile struct vs_io *)(uintptr_t)VS_IO;
static struct vdrv_q rxq, txq, evq;
static uint32_t fwd_cnt; /* payload bytes consumed on the current connection */

static void copy(volatile uint8_t *d, const volatile uint8_t *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        d[i] = s[i];
}

/* Send one packet: header and payload in one device-readable buffer. */
static int pkt_send(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t flags,
                    const volatile uint8_t *data, uint32_t len)
{
    volatile struct vsock_hdr *h = (volatile struct vsock_hdr *)(uintptr_t)VS_TXBUF;
    h->src_cid = VS_CID;
    h->dst_cid = 2;
    h->src_port = src_port;
    h->dst_port = dst_port;
    h->len = len;
    h->type = 1;
    h->op = op;
    h->flags = flags;
    h->buf_alloc = BUF_ALLOC;
    h->fwd_cnt = fwd_cnt;
    copy((volatile uint8_t *)(uintptr_t)(VS_TXBUF + VSOCK_HDR_SIZE), data, len);
    vdrv_desc(&txq, 0, VS_TXBUF, VSOCK_HDR_SIZE + len, 0);
    return vdrv_submit(&txq, 0) < 0;
}

/* The next packet other than a credit update: its header into *h, payload
 * into data (up to cap bytes); the buffer goes back to the device. 0, or 1
 * when nothing came. */
static int pkt_recv(struct vsock_hdr *h, volatile uint8_t *data, uint32_t cap)
{
    for (;;) {
        uint16_t head;
        uint32_t len;
        if (!vdrv_used(&rxq, SPINS, &head, &len) || head >= VS_QUEUE || len < VSOCK_HDR_SIZE)
            return 1;
        const volatile uint8_t *b =
            (const volatile uint8_t *)(uintptr_t)(VS_RXBUF + head * VS_RXBUF_SIZE);
        copy((volatile uint8_t *)h, b, VSOCK_HDR_SIZE);
        uint32_t n = h->len < cap ? h->len : cap;
        if (data)
            copy(data, b + VSOCK_HDR_SIZE, n);
        fwd_cnt += h->len;
        vdrv_publish(&rxq, head);
        vdrv_notify(&rxq);
        io->last_op = h->op;
        if (h->op != VSOCK_OP_CREDIT_UPDATE)
            return 0;
    }
}

int drv_main(void)
{
    if (vdrv_init(VS_MMIO, 19, 1) || vdrv_queue(&rxq, VS_MMIO, 0, VS_RINGS, VS_QUEUE) ||
        vdrv_queue(&txq, VS_MMIO, 1, VS_RINGS + 0x10000, VS_QUEUE) ||
        vdrv_queue(&evq, VS_MMIO, 2, VS_RINGS + 0x20000, VS_QUEUE) || vdrv_ready(VS_MMIO))
        return 1;
    io->cid = VDRV_REG(VS_MMIO, 0x100) | (uint64_t)VDRV_REG(VS_MMIO, 0x104) << 32;
    if (io->cid != VS_CID)
        return 2;
    for (unsigned int i = 0; i < VS_QUEUE; i++) {
        vdrv_desc(&rxq, i, VS_RXBUF + i * VS_RXBUF_SIZE, VS_RXBUF_SIZE, VDRV_F_WRITE);
        vdrv_publish(&rxq, (uint16_t)i);
    }
    vdrv_notify(&rxq);

    /* Out: connect to the host program, say hello, read its answer. */
    struct vsock_hdr h;
    static const char hello[] = VS_GUEST_MSG;
    if (pkt_send(VSOCK_OP_REQUEST, VS_OUT_PORT, VS_HOST_PORT, 0, 0, 0))
        return 10;
    if (pkt_recv(&h, 0, 0) || h.op != VSOCK_OP_RESPONSE || h.src_port != VS_HOST_PORT ||
        h.dst_port != VS_OUT_PORT)
        return 11;
    if (pkt_send(VSOCK_OP_RW, VS_OUT_PORT, VS_HOST_PORT, 0, (const volatile uint8_t *)hello,
                 sizeof hello - 1))
        return 12;
    uint32_t want = sizeof VS_HOST_MSG - 1;
    while (io->got_len < want) {
        if (pkt_recv(&h, (volatile uint8_t *)io->got + io->got_len, sizeof io->got - io->got_len) ||
            h.op != VSOCK_OP_RW)
            return 13;
        io->got_len += h.len;
    }
    /* A clean close: SHUTDOWN both ways, the device answers RST. */
    if (pkt_send(VSOCK_OP_SHUTDOWN, VS_OUT_PORT, VS_HOST_PORT, 3, 0, 0))
        return 14;
    if (pkt_recv(&h, 0, 0) || h.op != VSOCK_OP_RST)
        return 15;

    /* In: the host connects to VS_IN_PORT; accept, echo, close. */
    if (pkt_recv(&h, 0, 0) || h.op != VSOCK_OP_REQUEST || h.dst_port != VS_IN_PORT)
        return 20;
    uint32_t hp = h.src_port;
    fwd_cnt = 0; /* credit counts per connection (§5.10.6.3) */
    io->host_port = hp;
    if (pkt_send(VSOCK_OP_RESPONSE, VS_IN_PORT, hp, 0, 0, 0))
        return 21;
    static volatile uint8_t buf[VS_RXBUF_SIZE];
    for (;;) {
        if (pkt_recv(&h, buf, sizeof buf) || h.src_port != hp)
            return 22;
        if (h.op == VSOCK_OP_SHUTDOWN)
            break;
        if (h.op != VSOCK_OP_RW)
            return 23;
        if (pkt_send(VSOCK_OP_RW, VS_IN_PORT, hp, 0, buf, h.len))
            return 24;
        io->echoed += h.len;
    }
    if (pkt_send(VSOCK_OP_RST, VS_IN_PORT, hp, 0, 0, 0))
        return 25;
    return 0;
}
