/* SPDX-License-Identifier: MIT */
/* Shared by guest/virtio_net_drv.c and tests/integration/test_virtio_net_kvm.c:
 * where the virtio-net guest driver finds its device and leaves its results. */
#ifndef LIBVMM_GUEST_VIRTIO_NET_DRV_H
#define LIBVMM_GUEST_VIRTIO_NET_DRV_H

#include <stdint.h>

#define NET_EXIT_MMIO 0xd0000000u /* debug-exit register (4 bytes) */
#define NET_MMIO      0xd0003000u /* the virtio-net device */
#define NET_RINGS     0x100000u   /* receiveq rings; transmitq rings at +0x10000 */
#define NET_RXBUF     0x120000u   /* NET_NRX receive buffers, 0x1000 apart */
#define NET_TXBUF     0x130000u   /* the transmitted header and frame */
#define NET_RX_COPY   0x140000u   /* the received frame, copied by the driver */
#define NET_IO        0x180000u   /* struct net_io */
#define NET_QUEUE     8u
#define NET_NRX       4u
#define NET_RXBUF_LEN 2048u
#define NET_HDR_LEN   12u
#define NET_TX_LEN    60u     /* the transmitted frame's length */
#define NET_TX_TYPE   0x88b5u /* its EtherType; the test's frame has NET_RX_TYPE */
#define NET_RX_TYPE   0x88b6u
#define NET_ST_POSTED 0x100u /* status of the mid-way stop: RX posted, TX done */
#define NET_MAX_SKIP  16u    /* other frames the driver skips before giving up */

/* Results; the driver's final status is 0 when every step worked, else the
 * number of the step that failed. */
struct net_io {
    uint8_t mac[6];
    uint16_t status;      /* config status (VIRTIO_NET_S_LINK_UP) */
    uint32_t tx_used_len; /* used length of the transmit chain */
    uint32_t rx_used_len; /* used length of the chain holding the test's frame */
    uint32_t rx_head;
    uint32_t skipped; /* frames of other types received before it */
    uint8_t rx_hdr[NET_HDR_LEN];
};

/* The transmitted frame's payload byte i (after the 14-byte header). */
static inline uint8_t net_tx_byte(unsigned int i)
{
    return (uint8_t)(i * 3 + 1);
}

#endif
