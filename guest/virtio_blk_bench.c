/* SPDX-License-Identifier: MIT */
/* A CPL3 virtio-blk driver that streams: it keeps struct bb_io's inflight
 * requests of req_bytes each in the queue, and each time it finds requests
 * completed it posts as many new ones and notifies once. Polls the used
 * ring; no interrupts. With pause_at it stops once more mid-stream (the
 * snapshot tests take their snapshot there). */
#include "virtio_blk_bench.h"
#include "vdrv.h"

static volatile struct bb_io *const io = (volatile struct bb_io *)(uintptr_t)BB_IO;
static struct vdrv_q q;
static uint32_t slot_req[BB_MAX_SLOTS];
static uint8_t busy[BB_MAX_SLOTS]; /* the slot's request is in flight */
static uint32_t notifies;

/* Notify unless the device said it need not be (VIRTQ_USED_F_NO_NOTIFY,
 * virtio 1.2 §2.7.10). The fence orders the avail->idx store before the
 * flags load; it pairs with the device's between clearing the flag and
 * reading avail->idx. */
static void kick(void)
{
    __asm__ volatile("mfence" ::: "memory");
    if (!(*(volatile uint16_t *)(uintptr_t)(BB_RINGS + 0x2000) & 1)) {
        vdrv_notify(&q);
        notifies++;
    }
}

static void post(unsigned int slot, uint32_t n, uint32_t req_bytes, uint32_t write)
{
    volatile uint32_t *hdr = (volatile uint32_t *)(uintptr_t)(BB_HDRS + 32 * slot);
    uint64_t sector = (uint64_t)n * (req_bytes / 512);
    uint64_t data = BB_DATA + (uint64_t)slot * req_bytes;
    hdr[0] = write;
    hdr[1] = 0;
    hdr[2] = (uint32_t)sector;
    hdr[3] = (uint32_t)(sector >> 32);
    *(volatile uint8_t *)(uintptr_t)(BB_STATUS + slot) = 0xff;
    if (write)
        *(volatile uint64_t *)(uintptr_t)data = n;
    slot_req[slot] = n;
    busy[slot] = 1;
    unsigned int d = 3 * slot;
    vdrv_desc(&q, d, BB_HDRS + 32 * slot, 16, VDRV_F_NEXT);
    vdrv_desc(&q, d + 1, data, req_bytes, write ? VDRV_F_NEXT : VDRV_F_NEXT | VDRV_F_WRITE);
    vdrv_desc(&q, d + 2, BB_STATUS + slot, 1, VDRV_F_WRITE);
    vdrv_publish(&q, (uint16_t)d);
}

/* A completed request: count it as an error unless it worked. */
static void check(uint16_t head, uint32_t req_bytes, uint32_t write)
{
    unsigned int slot = head / 3;
    if (head % 3 || slot >= BB_MAX_SLOTS || !busy[slot]) {
        io->errors++;
        return;
    }
    busy[slot] = 0;
    uint8_t st = *(volatile uint8_t *)(uintptr_t)(BB_STATUS + slot);
    uint64_t stamp = *(volatile uint64_t *)(uintptr_t)(BB_DATA + (uint64_t)slot * req_bytes);
    if (st != 0 || (!write && stamp != slot_req[slot]))
        io->errors++;
}

int drv_main(void)
{
    uint32_t write = io->write, req_bytes = io->req_bytes, inflight = io->inflight;
    uint32_t total = io->nreqs;
    if (inflight == 0 || inflight > BB_MAX_SLOTS || req_bytes == 0 || req_bytes % 512)
        return 1;
    if (vdrv_init(BB_BLK_MMIO, 2, 0) || vdrv_queue(&q, BB_BLK_MMIO, 0, BB_RINGS, BB_QUEUE) ||
        vdrv_ready(BB_BLK_MMIO))
        return 2;
    VDRV_REG(BB_EXIT_MMIO, 0) = BB_PAUSE;

    uint32_t posted = 0, done = 0;
    for (unsigned int s = 0; s < inflight && posted < total; s++)
        post(s, posted++, req_bytes, write);
    kick();
    while (done < total) {
        uint16_t head;
        uint32_t len;
        if (!vdrv_used(&q, VDRV_SPINS, &head, &len))
            return 3;
        int more = 0;
        do {
            check(head, req_bytes, write);
            done++;
            /* Mid-stream: requests posted and not yet notified, completions
             * not yet taken. */
            if (done == io->pause_at)
                VDRV_REG(BB_EXIT_MMIO, 0) = BB_PAUSE;
            if (posted < total) {
                post(head / 3 % BB_MAX_SLOTS, posted++, req_bytes, write);
                more = 1;
            }
        } while (vdrv_used(&q, 0, &head, &len));
        if (more)
            kick();
    }
    io->notifies = notifies;
    io->done = done;
    return io->errors ? 4 : 0;
}
