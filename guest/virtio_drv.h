/* SPDX-License-Identifier: MIT */
/* Shared by guest/virtio_drv.c and tests/integration/test_virtio_kvm.c: where
 * the guest driver finds its devices and leaves its results. */
#ifndef LIBVMM_GUEST_VIRTIO_DRV_H
#define LIBVMM_GUEST_VIRTIO_DRV_H

#include <stdint.h>

#define DRV_EXIT_MMIO 0xd0000000u /* debug-exit register: the driver's result */
#define DRV_RNG_MMIO  0xd0001000u
#define DRV_BLK_MMIO  0xd0002000u
#define DRV_IO        0x180000u /* struct drv_io */
#define DRV_RINGS     0x100000u /* 0x10000 per device: desc, avail at +0x1000, used at +0x2000 */
#define DRV_RNG_BUF   0x140000u
#define DRV_BLK_READ  0x150000u /* 4096 bytes read from sector 0 */
#define DRV_BLK_WRITE 0x160000u /* 4096 bytes written to sector 8 */
#define DRV_BLK_ID    0x170000u
#define DRV_BLK_HDR   0x171000u
#define DRV_QUEUE     8u
#define DRV_RNG_LEN   64u
#define DRV_DATA      4096u

/* Results; the driver's exit status is 0 when every step worked, else the
 * number of the step that failed. */
struct drv_io {
    uint64_t blk_capacity;
    uint32_t rng_used_len;
    uint32_t blk_used_len[4]; /* read, write, flush, get-id */
    uint8_t blk_status[4];
};

#endif
