/* SPDX-License-Identifier: MIT */
/* A minimal virtio-net driver run as a CPL3 guest (virtio 1.2 §5.1): sets up
 * receiveq and transmitq, posts receive buffers, transmits one frame, stops
 * once (NET_ST_POSTED) so the host can deliver a frame, then polls the
 * receive used ring for it and copies it out; results in struct net_io. */
#include "virtio_net_drv.h"
#include "vdrv.h"

static volatile struct net_io *const io = (volatile struct net_io *)(uintptr_t)NET_IO;
static struct vdrv_q rxq, txq;

static uint16_t type_at(uint64_t frame)
{
    volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)frame;
    return (uint16_t)(p[12] << 8 | p[13]);
}

int drv_main(void)
{
    int rc = vdrv_init(NET_MMIO, 1, 1u << 5 | 1u << 16); /* VIRTIO_NET_F_MAC, _STATUS */
    if (rc)
        return 10 + rc;
    uint32_t lo = VDRV_REG(NET_MMIO, 0x100), hi = VDRV_REG(NET_MMIO, 0x104);
    for (unsigned int i = 0; i < 4; i++)
        io->mac[i] = (uint8_t)(lo >> (8 * i));
    io->mac[4] = (uint8_t)hi;
    io->mac[5] = (uint8_t)(hi >> 8);
    io->status = (uint16_t)(hi >> 16);
    if (vdrv_queue(&rxq, NET_MMIO, 0, NET_RINGS, NET_QUEUE) ||
        vdrv_queue(&txq, NET_MMIO, 1, NET_RINGS + 0x10000, NET_QUEUE))
        return 20;
    if (vdrv_ready(NET_MMIO))
        return 21;

    /* Receive buffers: one writable buffer per chain, header and frame. */
    for (unsigned int i = 0; i < NET_NRX; i++) {
        vdrv_desc(&rxq, i, NET_RXBUF + 0x1000 * i, NET_RXBUF_LEN, VDRV_F_WRITE);
        vdrv_publish(&rxq, (uint16_t)i);
    }
    vdrv_notify(&rxq);

    /* Transmit: a zero header (no offloads), then a broadcast frame from our
     * MAC with a test EtherType. */
    volatile uint8_t *t = (volatile uint8_t *)(uintptr_t)NET_TXBUF;
    for (unsigned int i = 0; i < NET_HDR_LEN; i++)
        t[i] = 0;
    volatile uint8_t *f = t + NET_HDR_LEN;
    for (unsigned int i = 0; i < 6; i++) {
        f[i] = 0xff;
        f[6 + i] = io->mac[i];
    }
    f[12] = NET_TX_TYPE >> 8;
    f[13] = NET_TX_TYPE & 0xff;
    for (unsigned int i = 14; i < NET_TX_LEN; i++)
        f[i] = net_tx_byte(i - 14);
    vdrv_desc(&txq, 0, NET_TXBUF, NET_HDR_LEN + NET_TX_LEN, 0);
    int64_t used = vdrv_submit(&txq, 0);
    if (used < 0)
        return 30;
    io->tx_used_len = (uint32_t)used;

    /* Let the host deliver a frame, then wait for it (bounded), skipping and
     * re-posting frames of other types. */
    VDRV_REG(NET_EXIT_MMIO, 0) = NET_ST_POSTED;
    for (unsigned int n = 0; n <= NET_MAX_SKIP; n++) {
        uint16_t head;
        uint32_t len;
        if (!vdrv_used(&rxq, 20 * VDRV_SPINS, &head, &len))
            return 40;
        if (head >= NET_NRX || len < NET_HDR_LEN + 14 || len > NET_RXBUF_LEN)
            return 41;
        uint64_t buf = NET_RXBUF + 0x1000ull * head;
        if (type_at(buf + NET_HDR_LEN) != NET_RX_TYPE) {
            io->skipped++;
            vdrv_publish(&rxq, head);
            vdrv_notify(&rxq);
            continue;
        }
        volatile uint8_t *src = (volatile uint8_t *)(uintptr_t)buf;
        volatile uint8_t *dst = (volatile uint8_t *)(uintptr_t)NET_RX_COPY;
        for (unsigned int i = 0; i < NET_HDR_LEN; i++)
            io->rx_hdr[i] = src[i];
        for (unsigned int i = 0; i < len - NET_HDR_LEN; i++)
            dst[i] = src[NET_HDR_LEN + i];
        io->rx_used_len = len;
        io->rx_head = head;
        return 0;
    }
    return 42;
}
