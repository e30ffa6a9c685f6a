/* SPDX-License-Identifier: MIT */
/* The split virtqueue (virtio 1.2 §2.7), device side: take descriptor chains
 * from the available ring and return them through the used ring. The driver
 * may rewrite anything at any time, so each field is read once into a local
 * and only the copy is used; every walk is bounded by the queue size. */
#include <stdatomic.h>
#include <string.h>

#include "virtio.h"

/* A descriptor as the driver lays it out (§2.7.5), little-endian. */
struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

static int rd(vmm_device *dev, uint64_t gpa, void *buf, size_t len)
{
    return vmm_device_mem_read(dev, gpa, buf, len);
}

int vmm__vq_check(const struct vmm__vq *vq, vmm_device *dev, uint16_t max, const char **why)
{
    uint32_t n = vq->num;
    if (n == 0 || (n & (n - 1)) || n > max) {
        *why = "queue size is 0, not a power of two, or above QueueNumMax";
        return VMM_EINVAL;
    }
    /* §2.7: descriptor table 16-byte, available ring 2-byte, used ring
     * 4-byte aligned. */
    if ((vq->desc & 15) || (vq->avail & 1) || (vq->used & 3)) {
        *why = "a ring is not aligned";
        return VMM_EINVAL;
    }
    /* The rings must lie wholly in RAM. */
    const struct {
        uint64_t at, len;
    } ring[3] = {{vq->desc, 16ull * n}, {vq->avail, 6ull + 2ull * n}, {vq->used, 6ull + 8ull * n}};
    for (int i = 0; i < 3; i++) {
        uint64_t end = ring[i].at + ring[i].len - 1;
        uint8_t b;
        bool ok = end >= ring[i].at;
        /* A byte in every page, and the last one: no hole inside a ring. */
        for (uint64_t a = ring[i].at; ok && a <= end; a = (a | 4095) + 1) {
            ok = rd(dev, a, &b, 1) == 0;
            if ((a | 4095) >= end)
                break;
        }
        if (!ok || rd(dev, end, &b, 1) < 0) {
            *why = "a ring lies outside RAM";
            return VMM_EFAULT;
        }
    }
    return 0;
}

static int violation(const char **why, const char *what)
{
    *why = what;
    return VMM_EINVAL;
}

int vmm__vq_pop(struct vmm__vq *vq, vmm_device *dev, bool indirect, struct vmm__vq_chain *c,
                const char **why)
{
    uint16_t avail_idx;
    if (rd(dev, vq->avail + 2, &avail_idx, 2) < 0)
        return violation(why, "available ring unreadable");
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
    if (pending == 0)
        return 0;
    if (pending > vq->num)
        return violation(why, "available index moved by more than the queue size");
    /* Read the ring entry only after seeing the index that published it
     * (pairs with the driver's write barrier before updating avail->idx). */
    atomic_thread_fence(memory_order_acquire);
    uint16_t head;
    if (rd(dev, vq->avail + 4 + 2ull * (vq->last_avail % vq->num), &head, 2) < 0)
        return violation(why, "available ring unreadable");
    if (head >= vq->num)
        return violation(why, "available ring names a descriptor beyond the queue size");

    memset(c, 0, offsetof(struct vmm__vq_chain, seg));
    c->head = head;
    uint64_t table = vq->desc, readable = 0, writable = 0;
    uint32_t limit = vq->num, hops = 0, idx = head;
    bool in_indirect = false, seen_write = false;
    for (;;) {
        if (++hops > limit)
            return violation(why, "descriptor chain longer than its table (a loop?)");
        struct desc d;
        if (rd(dev, table + 16ull * idx, &d, sizeof d) < 0)
            return violation(why, "descriptor table unreadable");
        if (d.flags & VMM__VQ_DESC_F_INDIRECT) {
            if (!indirect)
                return violation(why, "indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC");
            if (in_indirect)
                return violation(why, "nested indirect descriptor");
            if (d.flags & VMM__VQ_DESC_F_NEXT)
                return violation(why, "indirect descriptor with NEXT set");
            if (d.len == 0 || d.len % 16 || d.len / 16 > VMM__VQ_MAX_SEGS)
                return violation(why, "indirect table length 0, not a multiple of 16 or too long");
            if (d.addr + d.len - 1 < d.addr)
                return violation(why, "indirect table wraps around");
            table = d.addr;
            limit = d.len / 16;
            in_indirect = true;
            hops = 0;
            idx = 0;
            continue;
        }
        if (d.len && d.addr + d.len - 1 < d.addr)
            return violation(why, "buffer address + length wraps around");
        bool w = (d.flags & VMM__VQ_DESC_F_WRITE) != 0;
        if (!w && seen_write)
            return violation(why, "device-readable buffer after a device-writable one");
        seen_write = seen_write || w;
        if (d.len) {
            if (c->nsegs == VMM__VQ_MAX_SEGS)
                return violation(why, "too many buffers in one chain");
            c->seg[c->nsegs++] = (struct vmm__vq_seg){d.addr, d.len, w};
            if (w)
                writable += d.len;
            else
                readable += d.len;
            if (readable + writable > UINT32_MAX)
                return violation(why, "chain longer than 4 GiB");
        }
        if (!(d.flags & VMM__VQ_DESC_F_NEXT))
            break;
        if (d.next >= limit)
            return violation(why, "next descriptor beyond its table");
        idx = d.next;
    }
    c->readable = (uint32_t)readable;
    c->writable = (uint32_t)writable;
    vq->last_avail++;
    return 1;
}

int vmm__vq_push(struct vmm__vq *vq, vmm_device *dev, uint16_t head, uint32_t len)
{
    const uint32_t elem[2] = {head, len};
    int rc = vmm_device_mem_write(dev, vq->used + 4 + 8ull * (vq->used_idx % vq->num), elem,
                                  sizeof elem);
    if (rc < 0)
        return rc;
    /* The element must be visible before the index that publishes it (pairs
     * with the driver's read barrier after reading used->idx, §2.7.13). */
    atomic_thread_fence(memory_order_release);
    uint16_t idx = (uint16_t)(vq->used_idx + 1);
    if ((rc = vmm_device_mem_write(dev, vq->used + 2, &idx, 2)) < 0)
        return rc;
    vq->used_idx = idx;
    return 0;
}

/* Copy between buf and the chain's buffers of one direction, from byte off. */
static int copy(vmm_device *dev, const struct vmm__vq_chain *c, bool write, uint64_t off,
                uint8_t *buf, size_t len)
{
    for (unsigned int i = 0; i < c->nsegs && len; i++) {
        const struct vmm__vq_seg *s = &c->seg[i];
        if (s->write != write)
            continue;
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        size_t n = s->len - off < len ? (size_t)(s->len - off) : len;
        int rc = write ? vmm_device_mem_write(dev, s->addr + off, buf, n)
                       : vmm_device_mem_read(dev, s->addr + off, buf, n);
        if (rc < 0)
            return VMM_EFAULT;
        buf += n;
        len -= n;
        off = 0;
    }
    return len ? VMM_ERANGE : 0;
}

int vmm__vq_read(vmm_device *dev, const struct vmm__vq_chain *c, uint64_t off, void *buf,
                 size_t len)
{
    return copy(dev, c, false, off, buf, len);
}

int vmm__vq_write(vmm_device *dev, const struct vmm__vq_chain *c, uint64_t off, const void *buf,
                  size_t len)
{
    return copy(dev, c, true, off, (uint8_t *)buf, len);
}
