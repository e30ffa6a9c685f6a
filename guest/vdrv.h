/* SPDX-License-Identifier: MIT */
/* A minimal virtio-mmio driver library for CPL3 test guests (identity mapped,
 * polling, no interrupts): device set-up (virtio 1.2 §3.1.1, §4.2.3), queues
 * with split rings at a caller-chosen address, chains published and waited
 * for. Header-only: each guest driver includes it once. */
#ifndef LIBVMM_GUEST_VDRV_H
#define LIBVMM_GUEST_VDRV_H

#include <stdint.h>

#define VDRV_REG(base, off) (*(volatile uint32_t *)(uintptr_t)((base) + (off)))
#define VDRV_BARRIER()      __asm__ volatile("" ::: "memory") /* x86: stores stay ordered */
#define VDRV_F_NEXT         1
#define VDRV_F_WRITE        2
#define VDRV_SPINS          100000000ul

/* One queue: rings at rings (desc), rings + 0x1000 (avail), rings + 0x2000
 * (used); num entries. */
struct vdrv_q {
    uint64_t base, rings;
    uint32_t index;
    uint16_t num, avail_idx, used_seen;
};

struct vdrv_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

/* Reset, check magic/version/device id, accept VERSION_1 plus the device
 * feature bits in features_lo (bits 0-31 the driver wants, if offered) and
 * reach FEATURES_OK. 0, or a nonzero step number. */
static inline int vdrv_init(uint64_t base, uint32_t id, uint32_t features_lo)
{
    if (VDRV_REG(base, 0x000) != 0x74726976u || VDRV_REG(base, 0x004) != 2 ||
        VDRV_REG(base, 0x008) != id)
        return 1;
    VDRV_REG(base, 0x070) = 0;
    VDRV_REG(base, 0x070) = 1 | 2;
    VDRV_REG(base, 0x014) = 1;
    if (!(VDRV_REG(base, 0x010) & 1)) /* VIRTIO_F_VERSION_1 */
        return 2;
    VDRV_REG(base, 0x014) = 0;
    uint32_t lo = VDRV_REG(base, 0x010) & features_lo;
    VDRV_REG(base, 0x024) = 0;
    VDRV_REG(base, 0x020) = lo;
    VDRV_REG(base, 0x024) = 1;
    VDRV_REG(base, 0x020) = 1;
    VDRV_REG(base, 0x070) = 1 | 2 | 8;
    return VDRV_REG(base, 0x070) & 8 ? 0 : 3;
}

/* Set up queue index with num entries at rings. 0 or a nonzero step. */
static inline int vdrv_queue(struct vdrv_q *q, uint64_t base, uint32_t index, uint64_t rings,
                             uint16_t num)
{
    q->base = base;
    q->rings = rings;
    q->index = index;
    q->num = num;
    q->avail_idx = q->used_seen = 0;
    VDRV_REG(base, 0x030) = index;
    if (VDRV_REG(base, 0x034) < num)
        return 4;
    VDRV_REG(base, 0x038) = num;
    VDRV_REG(base, 0x080) = (uint32_t)rings;
    VDRV_REG(base, 0x084) = (uint32_t)(rings >> 32);
    VDRV_REG(base, 0x090) = (uint32_t)(rings + 0x1000);
    VDRV_REG(base, 0x094) = (uint32_t)((rings + 0x1000) >> 32);
    VDRV_REG(base, 0x0a0) = (uint32_t)(rings + 0x2000);
    VDRV_REG(base, 0x0a4) = (uint32_t)((rings + 0x2000) >> 32);
    VDRV_REG(base, 0x044) = 1;
    return 0;
}

/* DRIVER_OK. 0 or 5. */
static inline int vdrv_ready(uint64_t base)
{
    VDRV_REG(base, 0x070) = 1 | 2 | 8 | 4;
    return VDRV_REG(base, 0x070) == (1 | 2 | 8 | 4) ? 0 : 5;
}

/* Fill descriptor i; flags without NEXT end the chain, with it link to i + 1. */
static inline void vdrv_desc(struct vdrv_q *q, unsigned int i, uint64_t addr, uint32_t len,
                             uint16_t flags)
{
    volatile struct vdrv_desc *d = (volatile struct vdrv_desc *)(uintptr_t)q->rings;
    d[i].addr = addr;
    d[i].len = len;
    d[i].flags = flags;
    d[i].next = (uint16_t)((i + 1) % q->num);
}

/* Make the chain starting at descriptor head available (no notification). */
static inline void vdrv_publish(struct vdrv_q *q, uint16_t head)
{
    volatile uint16_t *avail = (volatile uint16_t *)(uintptr_t)(q->rings + 0x1000);
    avail[2 + q->avail_idx % q->num] = head;
    VDRV_BARRIER();
    avail[1] = ++q->avail_idx;
    VDRV_BARRIER();
}

static inline void vdrv_notify(struct vdrv_q *q)
{
    VDRV_REG(q->base, 0x050) = q->index;
}

/* Wait for the next used entry: 1 with *head and *len, 0 when none came
 * within spins polls. */
static inline int vdrv_used(struct vdrv_q *q, unsigned long spins, uint16_t *head, uint32_t *len)
{
    volatile uint16_t *used_idx = (volatile uint16_t *)(uintptr_t)(q->rings + 0x2002);
    volatile uint32_t *ring = (volatile uint32_t *)(uintptr_t)(q->rings + 0x2004);
    for (unsigned long s = 0; s <= spins; s++) {
        if (*used_idx != q->used_seen) {
            VDRV_BARRIER();
            unsigned int e = q->used_seen % q->num;
            *head = (uint16_t)ring[2 * e];
            *len = ring[2 * e + 1];
            q->used_seen++;
            return 1;
        }
    }
    return 0;
}

/* Publish the chain at head, notify, and wait for it: the used length, or
 * -1 when the device does not answer. */
static inline int64_t vdrv_submit(struct vdrv_q *q, uint16_t head)
{
    vdrv_publish(q, head);
    vdrv_notify(q);
    uint16_t h;
    uint32_t len;
    return vdrv_used(q, VDRV_SPINS, &h, &len) ? (int64_t)len : -1;
}

#endif
