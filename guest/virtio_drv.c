/* SPDX-License-Identifier: MIT */
/* A minimal virtio-mmio driver run as a CPL3 guest: sets up virtio-rng and
 * virtio-blk (virtio 1.2 §3.1.1, §4.2.3), makes real requests and polls the
 * used rings; results go to struct drv_io (virtio_drv.h). */
#include "virtio_drv.h"
#include "vdrv.h"

static volatile struct drv_io *const io = (volatile struct drv_io *)(uintptr_t)DRV_IO;
static struct vdrv_q rng_q, blk_q;

static int setup(struct vdrv_q *q, uint64_t base, uint64_t rings, uint32_t id)
{
    int rc = vdrv_init(base, id, 0);
    if (!rc)
        rc = vdrv_queue(q, base, 0, rings, DRV_QUEUE);
    return rc ? rc : vdrv_ready(base);
}

static int blk_request(unsigned int step, uint32_t type, uint64_t sector, uint64_t data,
                       uint32_t len, int write_data)
{
    volatile uint32_t *hdr = (volatile uint32_t *)(uintptr_t)DRV_BLK_HDR;
    hdr[0] = type;
    hdr[1] = 0;
    hdr[2] = (uint32_t)sector;
    hdr[3] = (uint32_t)(sector >> 32);
    volatile uint8_t *status = (volatile uint8_t *)(uintptr_t)(DRV_BLK_HDR + 0x100);
    *status = 0xff;
    unsigned int n = 0;
    vdrv_desc(&blk_q, n++, DRV_BLK_HDR, 16, VDRV_F_NEXT);
    if (len)
        vdrv_desc(&blk_q, n++, data, len, write_data ? VDRV_F_NEXT : VDRV_F_NEXT | VDRV_F_WRITE);
    vdrv_desc(&blk_q, n++, DRV_BLK_HDR + 0x100, 1, VDRV_F_WRITE); /* last: no NEXT */
    int64_t used = vdrv_submit(&blk_q, 0);
    if (used < 0)
        return 1;
    io->blk_used_len[step] = (uint32_t)used;
    io->blk_status[step] = *status;
    return *status != 0;
}

int drv_main(void)
{
    /* virtio-rng: one 64-byte writable buffer. */
    if (setup(&rng_q, DRV_RNG_MMIO, DRV_RINGS, 4))
        return 10;
    vdrv_desc(&rng_q, 0, DRV_RNG_BUF, DRV_RNG_LEN, VDRV_F_WRITE);
    int64_t used = vdrv_submit(&rng_q, 0);
    if (used < 0)
        return 11;
    io->rng_used_len = (uint32_t)used;

    /* virtio-blk: capacity, then read, write, flush, get-id. */
    if (setup(&blk_q, DRV_BLK_MMIO, DRV_RINGS + 0x10000, 2))
        return 20;
    io->blk_capacity = VDRV_REG(DRV_BLK_MMIO, 0x100) | (uint64_t)VDRV_REG(DRV_BLK_MMIO, 0x104)
                                                           << 32;
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
