/* SPDX-License-Identifier: MIT */
/* The virtio-mmio transport's part of a device's saved state (snapshots):
 * the device status, the features, the register selectors, the interrupt
 * status and each queue's addresses and indices. Saved state may come from a
 * file, so a load checks everything against this device and against the
 * guest's memory before it changes anything. The layout is in
 * docs/snapshot-format.md ("virtio devices"); fields are little-endian. */
#include <string.h>

#include "virtio.h"

#define STATE_VERSION 1
#define STATE_HDR     48u /* version, nqueues, device id, registers, features */
#define STATE_QUEUE   32u /* desc, avail, used, num, last_avail, used_idx, ready */

static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint16_t get16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

size_t vmm__virtio_state_size(const struct vmm__virtio *t)
{
    return STATE_HDR + STATE_QUEUE * (size_t)t->ops->nqueues;
}

void vmm__virtio_state_save(const struct vmm__virtio *t, uint8_t *p, const uint16_t *held)
{
    memset(p, 0, vmm__virtio_state_size(t));
    p[0] = STATE_VERSION;
    p[1] = (uint8_t)t->ops->nqueues;
    put32(p + 4, t->ops->device_id);
    const uint32_t regs[6] = {t->status, t->dev_features_sel, t->drv_features_sel, t->queue_sel,
                              t->isr,    t->config_generation};
    for (int i = 0; i < 6; i++)
        put32(p + 8 + 4 * i, regs[i]);
    put64(p + 32, t->driver_features);
    p[40] = t->broken;
    for (unsigned int q = 0; q < t->ops->nqueues; q++) {
        const struct vmm__vq *vq = &t->q[q];
        uint8_t *e = p + STATE_HDR + STATE_QUEUE * q;
        put64(e, vq->desc);
        put64(e + 8, vq->avail);
        put64(e + 16, vq->used);
        put16(e + 24, vq->num);
        /* A chain the model holds goes back to the ring: the restored device
         * takes it afresh (the model saves what it already did with it). */
        put16(e + 26, (uint16_t)(vq->last_avail - (held ? held[q] : 0)));
        put16(e + 28, vq->used_idx);
        e[30] = vq->ready;
    }
}

static int bad(vmm_device *dev, const char *what)
{
    vmm_device_error(dev, "saved virtio state: %s", what);
    return VMM_EINVAL;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* One queue's saved entry into *vq, checked: a ready queue must pass the
 * checks QueueReady makes (vmm__vq_check, against the restored memory), and
 * the device can have used no more chains than it took. */
static int check_queue(const struct vmm__virtio *t, unsigned int q, const uint8_t *e,
                       struct vmm__vq *vq)
{
    if (e[30] > 1 || e[31])
        return bad(t->dev, "a queue's ready flag is not 0 or 1, or its padding not zero");
    vq->desc = get64(e);
    vq->avail = get64(e + 8);
    vq->used = get64(e + 16);
    vq->num = get16(e + 24);
    vq->last_avail = get16(e + 26);
    vq->used_idx = get16(e + 28);
    vq->ready = e[30];
    if (!vq->ready)
        return 0;
    const char *why;
    if (vmm__vq_check(vq, t->dev, t->ops->queue_max, &why) < 0) {
        vmm_device_error(t->dev, "saved virtio state: queue %u: %s", q, why);
        return VMM_EINVAL;
    }
    if ((uint16_t)(vq->last_avail - vq->used_idx) > vq->num) {
        vmm_device_error(t->dev,
                         "saved virtio state: queue %u has used %u chains but taken only %u", q,
                         vq->used_idx, vq->last_avail);
        return VMM_EINVAL;
    }
    return 0;
}

int vmm__virtio_state_check(const struct vmm__virtio *t, const uint8_t *p, size_t len,
                            struct vmm__virtio_saved *s)
{
    vmm_device *dev = t->dev;
    size_t need = vmm__virtio_state_size(t);
    if (len < STATE_HDR || p[0] != STATE_VERSION)
        return bad(dev, "too short or of an unknown version");
    if (p[1] != t->ops->nqueues || get32(p + 4) != t->ops->device_id) {
        vmm_device_error(dev,
                         "saved virtio state is of device id %u with %u queues; this device is "
                         "id %u with %u",
                         get32(p + 4), p[1], t->ops->device_id, t->ops->nqueues);
        return VMM_EINVAL;
    }
    if (len < need)
        return bad(dev, "shorter than its queues");
    if (get16(p + 2) || !all_zero(p + 41, STATE_HDR - 41))
        return bad(dev, "reserved bytes are not zero");
    memset(s, 0, sizeof *s);
    s->status = get32(p + 8);
    s->dev_features_sel = get32(p + 12);
    s->drv_features_sel = get32(p + 16);
    s->queue_sel = get32(p + 20);
    s->isr = get32(p + 24);
    s->config_generation = get32(p + 28);
    s->driver_features = get64(p + 32);
    s->broken = p[40];
    const uint32_t known = VMM__VIRTIO_S_ACKNOWLEDGE | VMM__VIRTIO_S_DRIVER |
                           VMM__VIRTIO_S_DRIVER_OK | VMM__VIRTIO_S_FEATURES_OK |
                           VMM__VIRTIO_S_NEEDS_RESET | VMM__VIRTIO_S_FAILED;
    if (s->status & ~known)
        return bad(dev, "unknown device status bits");
    if (p[40] > 1 || s->broken != ((s->status & VMM__VIRTIO_S_NEEDS_RESET) != 0))
        return bad(dev, "the broken flag and NEEDS_RESET disagree");
    if ((s->status & VMM__VIRTIO_S_DRIVER_OK) && !(s->status & VMM__VIRTIO_S_FEATURES_OK))
        return bad(dev, "DRIVER_OK without FEATURES_OK");
    /* What the transport accepts at FEATURES_OK (mmio.c's write_status). */
    uint64_t offer = t->ops->features | VMM__VIRTIO_F_VERSION_1 | VMM__VIRTIO_F_INDIRECT;
    if ((s->status & VMM__VIRTIO_S_FEATURES_OK) &&
        (!(s->status & VMM__VIRTIO_S_DRIVER) || (s->driver_features & ~offer) ||
         !(s->driver_features & VMM__VIRTIO_F_VERSION_1)))
        return bad(dev, "FEATURES_OK with features this device does not offer");
    if (s->isr & ~3u)
        return bad(dev, "unknown interrupt status bits");
    for (unsigned int q = 0; q < t->ops->nqueues; q++) {
        int rc = check_queue(t, q, p + STATE_HDR + STATE_QUEUE * q, &s->q[q]);
        if (rc < 0)
            return rc;
    }
    return (int)need;
}

void vmm__virtio_state_apply(struct vmm__virtio *t, const struct vmm__virtio_saved *s)
{
    t->status = s->status;
    t->dev_features_sel = s->dev_features_sel;
    t->drv_features_sel = s->drv_features_sel;
    t->queue_sel = s->queue_sel;
    t->isr = s->isr;
    t->config_generation = s->config_generation;
    t->driver_features = s->driver_features;
    t->broken = s->broken;
    memcpy(t->q, s->q, sizeof t->q);
}

int vmm__virtio_save_with(const struct vmm__virtio *t, void *buf, size_t cap, size_t *len,
                          const void *extra, size_t n, const uint16_t *held)
{
    size_t own = vmm__virtio_state_size(t);
    *len = own + n;
    if (!buf)
        return 0;
    if (cap < *len)
        return VMM_ERANGE;
    vmm__virtio_state_save(t, buf, held);
    if (n)
        memcpy((uint8_t *)buf + own, extra, n);
    return 0;
}

int vmm__virtio_load_begin(const struct vmm__virtio *t, const void *buf, size_t len,
                           size_t extra_len, struct vmm__virtio_saved *s, const uint8_t **extra)
{
    int n = vmm__virtio_state_check(t, buf, len, s);
    if (n < 0)
        return n;
    if (len - (size_t)n != extra_len) {
        vmm_device_error(t->dev, "saved state of %zu bytes; this device's is %zu", len,
                         (size_t)n + extra_len);
        return VMM_EINVAL;
    }
    *extra = (const uint8_t *)buf + n;
    return 0;
}

int vmm__virtio_dev_save(void *state, void *buf, size_t cap, size_t *len)
{
    return vmm__virtio_save_with(state, buf, cap, len, NULL, 0, NULL);
}

int vmm__virtio_dev_load(void *state, const void *buf, size_t len)
{
    struct vmm__virtio *t = state;
    struct vmm__virtio_saved s;
    const uint8_t *extra;
    int rc = vmm__virtio_load_begin(t, buf, len, 0, &s, &extra);
    if (rc < 0)
        return rc;
    vmm__virtio_state_apply(t, &s);
    vmm__virtio_resume(t);
    return 0;
}
