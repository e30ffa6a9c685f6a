/* SPDX-License-Identifier: MIT */
/* A minimal virtio-mmio driver run as a CPL3 guest: sets up virtio-rng and
 * virtio-blk (virtio 1.2 §3.1.1, §4.2.3), makes real requests and polls the
 * used rings; results go to struct drv_io (virtio_drv.h). */
#include "virtio_drv.h"

#define REG(base, off) (*(volatile uint32_t *)(uintptr_t)((base) + (off)))
#define BARRIER()      __asm__ volatile("" ::: "memory") /* x86: stores stay ordered */

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

static volatile struct drv_io *const io = (volatile struct drv_io *)(uintptr_t)DRV_IO;

/* Status, features (VERSION_1 only), queue 0 at rings, DRIVER_OK. */
static int setup(uint64_t base, uint64_t rings, uint32_t id)
{
    if (REG(base, 0x000) != 0x74726976u || REG(base, 0x004) != 2 || REG(base, 0x008) != id)
        return 1;
    REG(base, 0x070) = 0;
    REG(base, 0x070) = 1 | 2;
    REG(base, 0x014) = 1;
    if (!(REG(base, 0x010) & 1)) /* VIRTIO_F_VERSION_1 */
        return 2;
    REG(base, 0x024) = 0;
    REG(base, 0x020) = 0;
    REG(base, 0x024) = 1;
    REG(base, 0x020) = 1;
    REG(base, 0x070) = 1 | 2 | 8;
    if (!(REG(base, 0x070) & 8))
        return 3;
    REG(base, 0x030) = 0;
    if (REG(base, 0x034) < DRV_QUEUE)
        return 4;
    REG(base, 0x038) = DRV_QUEUE;
    REG(base, 0x080) = (uint32_t)rings;
    REG(base, 0x084) = 0;
    REG(base, 0x090) = (uint32_t)(rings + 0x1000);
    REG(base, 0x094) = 0;
    REG(base, 0x0a0) = (uint32_t)(rings + 0x2000);
    REG(base, 0x0a4) = 0;
    REG(base, 0x044) = 1;
    REG(base, 0x070) = 1 | 2 | 8 | 4;
    return REG(base, 0x070) == (1 | 2 | 8 | 4) ? 0 : 5;
}

/* Publish the chain at descriptor 0 and wait for it; returns the used length
 * or -1 when the device does not answer. */
static int64_t submit(uint64_t base, uint64_t rings, uint16_t n)
{
    volatile uint16_t *avail = (volatile uint16_t *)(uintptr_t)(rings + 0x1000);
    volatile uint16_t *used_idx = (volatile uint16_t *)(uintptr_t)(rings + 0x2002);
    volatile uint32_t *used_ring = (volatile uint32_t *)(uintptr_t)(rings + 0x2004);
    uint16_t idx = avail[1];
    avail[2 + idx % DRV_QUEUE] = 0;
    BARRIER();
    avail[1] = (uint16_t)(idx + 1);
    BARRIER();
    REG(base, 0x050) = 0;
    for (unsigned long spin = 0; spin < 100000000ul; spin++) {
        if (*used_idx == (uint16_t)(idx + 1)) {
            BARRIER();
            (void)n;
            return used_ring[2 * (idx % DRV_QUEUE) + 1];
        }
    }
    return -1;
}

static void set_desc(uint64_t rings, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags)
{
    volatile struct desc *d = (volatile struct desc *)(uintptr_t)rings;
    d[i].addr = addr;
    d[i].len = len;
    d[i].flags = flags;
    d[i].next = (uint16_t)(i + 1);
}

static int blk_request(unsigned int step, uint32_t type, uint64_t sector, uint64_t data,
                       uint32_t len, int write_data)
{
    const uint64_t rings = DRV_RINGS + 0x10000;
    volatile uint32_t *hdr = (volatile uint32_t *)(uintptr_t)DRV_BLK_HDR;
    hdr[0] = type;
    hdr[1] = 0;
    hdr[2] = (uint32_t)sector;
    hdr[3] = (uint32_t)(sector >> 32);
    volatile uint8_t *status = (volatile uint8_t *)(uintptr_t)(DRV_BLK_HDR + 0x100);
    *status = 0xff;
    unsigned int n = 0;
    set_desc(rings, n++, DRV_BLK_HDR, 16, 1);
    if (len)
        set_desc(rings, n++, data, len, write_data ? 1 : 1 | 2);
    set_desc(rings, n++, DRV_BLK_HDR + 0x100, 1, 2); /* last: no NEXT */
    int64_t used = submit(DRV_BLK_MMIO, rings, (uint16_t)n);
    if (used < 0)
        return 1;
    io->blk_used_len[step] = (uint32_t)used;
    io->blk_status[step] = *status;
    return *status != 0;
}

int drv_main(void)
{
    /* virtio-rng: one 64-byte writable buffer. */
    if (setup(DRV_RNG_MMIO, DRV_RINGS, 4))
        return 10;
    set_desc(DRV_RINGS, 0, DRV_RNG_BUF, DRV_RNG_LEN, 2);
    int64_t used = submit(DRV_RNG_MMIO, DRV_RINGS, 1);
    if (used < 0)
        return 11;
    io->rng_used_len = (uint32_t)used;

    /* virtio-blk: capacity, then read, write, flush, get-id. */
    if (setup(DRV_BLK_MMIO, DRV_RINGS + 0x10000, 2))
        return 20;
    io->blk_capacity = REG(DRV_BLK_MMIO, 0x100) | (uint64_t)REG(DRV_BLK_MMIO, 0x104) << 32;
    volatile uint8_t *w = (volatile uint8_t *)(uintptr_t)DRV_BLK_WRITE;
    for (unsigned int i = 0; i < DRV_DATA; i++)
        w[i] = (uint8_t)(i * 7 + 3);
    if (blk_request(0, 0, 0, DRV_BLK_READ, DRV_DATA, 0))
        return 21;
    if (blk_request(1, 1, 8, DRV_BLK_WRITE, DRV_DATA, 1))
        return 22;
    if (blk_request(2, 4, 0, 0, 0, 0))
        return 23;
    if (blk_request(3, 8, 0, DRV_BLK_ID, 20, 0))
        return 24;
    return 0;
}
