/* SPDX-License-Identifier: MIT */
/* Shared by guest/virtio_console_drv.c, tests/integration/test_virtio_console_kvm.c
 * and bench/bench_console.c: where the virtio-console guest driver finds its
 * devices, what it is asked to do and where it leaves its results. */
#ifndef LIBVMM_GUEST_VIRTIO_CONSOLE_DRV_H
#define LIBVMM_GUEST_VIRTIO_CONSOLE_DRV_H

#include <stdint.h>

#define CON_EXIT_MMIO 0xd0000000u /* debug-exit register: a pause or the result */
#define CON_MMIO      0xd0001000u /* the virtio-console's registers */
#define CON_RINGS     0x0c0000u   /* receiveq rings; the transmitq's at +0x10000 */
#define CON_RX_BUF    0x0e0000u   /* CON_RX_CHAINS buffers of CON_RX_LEN bytes */
#define CON_IO        0x0f0000u   /* struct con_io */
#define CON_TX_BUF    0x100000u   /* the message, or the stream's CON_CHAINS buffers */
#define CON_QUEUE     16u
#define CON_RX_CHAINS 2u
#define CON_RX_LEN    8u
#define CON_CHAIN     (64u << 10) /* stream: bytes per chain */
#define CON_CHAINS    8u          /* stream: chains per notification */
#define CON_PAUSE     0x100       /* debug-exit value: "over to the host, then resume me" */
#define CON_MSG       "hello from the guest over virtio-console\n"
#define CON_EMERG     '!'

enum { CON_MODE_HELLO = 0, CON_MODE_STREAM = 1 };

/* The host fills mode and batches before the run; the guest the rest. Hello:
 * transmit CON_MSG (two buffers), write CON_EMERG to emerg_wr, post the
 * receive buffers, pause, then wait for them and copy what came in. Stream:
 * pause once set up, then send batches of CON_CHAINS chains of CON_CHAIN bytes
 * (one notification each) and exit. The exit status is 0 when every step
 * worked, else the failed step's number. */
struct con_io {
    uint32_t mode, batches;
    uint16_t cols, rows;
    uint32_t tx_used_len;
    uint32_t rx_len[CON_RX_CHAINS];
    uint8_t rx_data[CON_RX_CHAINS * CON_RX_LEN];
};

#endif
