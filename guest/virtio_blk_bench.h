/* SPDX-License-Identifier: MIT */
/* Shared by guest/virtio_blk_bench.c and bench/bench_blk.c: where the
 * streaming virtio-blk driver finds its device, its orders and its buffers. */
#ifndef LIBVMM_GUEST_VIRTIO_BLK_BENCH_H
#define LIBVMM_GUEST_VIRTIO_BLK_BENCH_H

#include <stdint.h>

#define BB_EXIT_MMIO 0xd0000000u /* debug-exit register: BB_PAUSE, then the result */
#define BB_BLK_MMIO  0xd0001000u
#define BB_IO        0x0f0000u /* struct bb_io */
#define BB_RINGS     0x100000u /* desc, avail at +0x1000, used at +0x2000 */
#define BB_HDRS      0x110000u /* slot i's request header at +32 * i */
#define BB_STATUS    0x118000u /* slot i's status byte at +i */
#define BB_DATA      0x200000u /* slot i's buffer at +i * req_bytes */
#define BB_QUEUE     64u       /* 3 descriptors per request */
#define BB_MAX_SLOTS 16u
#define BB_PAUSE     0x70 /* set up (and at pause_at); the host resumes */

/* The host's orders, and the driver's errors. Request n covers the file's
 * bytes [n * req_bytes, (n + 1) * req_bytes); its first 8 bytes hold n (the
 * host writes the file so; a write stamps them so). */
struct bb_io {
    uint32_t write;     /* 0: VIRTIO_BLK_T_IN, 1: VIRTIO_BLK_T_OUT */
    uint32_t req_bytes; /* a multiple of 512 */
    uint32_t inflight;  /* 1..BB_MAX_SLOTS requests in flight */
    uint32_t nreqs;
    uint32_t errors; /* requests with a bad status, (reads) a bad stamp, or a
                      * completion of a request not in flight */
    uint32_t notifies;
    uint32_t pause_at; /* nonzero: BB_PAUSE again once this many requests are done */
    uint32_t done;     /* requests completed, when the driver returns */
};

#endif
