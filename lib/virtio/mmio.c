/* SPDX-License-Identifier: MIT */
/* The virtio-mmio transport, register layout version 2 (virtio 1.2 §4.2.2):
 * feature negotiation, the device status state machine, queue configuration
 * and notification, interrupt status. Device models plug in below it. */
#include <json-c/json.h>
#include <stdatomic.h>
#include <string.h>

#include "virtio.h"

enum {
    R_MAGIC = 0x000,
    R_VERSION = 0x004,
    R_DEVICE_ID = 0x008,
    R_VENDOR_ID = 0x00c,
    R_DEV_FEATURES = 0x010,
    R_DEV_FEATURES_SEL = 0x014,
    R_DRV_FEATURES = 0x020,
    R_DRV_FEATURES_SEL = 0x024,
    R_QUEUE_SEL = 0x030,
    R_QUEUE_NUM_MAX = 0x034,
    R_QUEUE_NUM = 0x038,
    R_QUEUE_READY = 0x044,
    R_QUEUE_NOTIFY = 0x050,
    R_INT_STATUS = 0x060,
    R_INT_ACK = 0x064,
    R_STATUS = 0x070,
    R_QUEUE_DESC_LO = 0x080,
    R_QUEUE_DESC_HI = 0x084,
    R_QUEUE_DRIVER_LO = 0x090,
    R_QUEUE_DRIVER_HI = 0x094,
    R_QUEUE_DEVICE_LO = 0x0a0,
    R_QUEUE_DEVICE_HI = 0x0a4,
    R_SHM_SEL = 0x0ac,
    R_SHM_LEN_LO = 0x0b0,
    R_SHM_LEN_HI = 0x0b4,
    R_SHM_BASE_LO = 0x0b8,
    R_SHM_BASE_HI = 0x0bc,
    R_CONFIG_GEN = 0x0fc,
    R_CONFIG = 0x100,
};

#define MAGIC            0x74726976u
#define USED_F_NO_NOTIFY 1u          /* "virt" */
#define VENDOR_ID        0x4d4d5621u /* "!VMM" */

static uint64_t offered(const struct vmm__virtio *t)
{
    return t->ops->features | VMM__VIRTIO_F_VERSION_1 | VMM__VIRTIO_F_INDIRECT;
}

int vmm__virtio_init(struct vmm__virtio *t, vmm_device *dev, const struct vmm__virtio_ops *ops,
                     void *model, const struct vmm__virtio_place *place)
{
    uint64_t base = place->base;
    int irq = place->irq;
    memset(t, 0, sizeof *t);
    t->dev = dev;
    t->ops = ops;
    t->model = model;
    t->irq = irq;
    t->base = base;
    t->ioeventfd = place->ioeventfd;
    vmm__device_use_irqfd(dev, place->irqfd);
    return vmm_device_claim(dev, VMM_SPACE_MMIO, base, VMM__VIRTIO_MMIO_SIZE);
}

bool vmm__virtio_lookup(vmm_device *dev, uint64_t *base, int *irq)
{
    const vmm_device_ops *ops = vmm_device_type(dev);
    vmm_space space;
    uint64_t len;
    if (!ops || ops->read != vmm__virtio_dev_read ||
        vmm__device_range(dev, 0, &space, base, &len) < 0)
        return false;
    const struct vmm__virtio *t = vmm_device_state(dev); /* each model begins with it */
    *irq = t->irq;
    return true;
}

bool vmm__virtio_has(const struct vmm__virtio *t, uint64_t feature)
{
    return (t->driver_features & feature) != 0;
}

static void set_line(struct vmm__virtio *t)
{
    if (t->irq >= 0)
        vmm_device_set_irq(t->dev, (unsigned int)t->irq, t->isr != 0);
}

void vmm__virtio_used(struct vmm__virtio *t)
{
    t->isr |= 1;
    set_line(t);
}

void vmm__virtio_fail(struct vmm__virtio *t, const char *why)
{
    if (!t->broken)
        vmm_device_log_limited(t->dev, VMM_LOG_WARN, "driver error: %s; device needs a reset", why);
    t->broken = true;
    t->status |= VMM__VIRTIO_S_NEEDS_RESET;
    /* §2.1.2: with DRIVER_OK set, the device sends a configuration change
     * notification when it sets NEEDS_RESET. */
    if (t->status & VMM__VIRTIO_S_DRIVER_OK) {
        t->isr |= 2;
        set_line(t);
    }
}

static void notify(struct vmm__virtio *t, uint32_t index);

/* Write the used ring's flags (the device's half of §2.7.10). */
static bool used_flags(struct vmm__virtio *t, const struct vmm__vq *vq, uint16_t flags)
{
    return vmm_device_mem_write(t->dev, vq->used, &flags, 2) == 0;
}

/* A queue's doorbell rang (the I/O thread, device lock held). §2.7.10:
 * while the thread serves, VIRTQ_USED_F_NO_NOTIFY tells the driver it need
 * not notify; once clear again, look at the available ring once more, since
 * a chain published while the flag was up came without a notification. A
 * driver that keeps the ring full could keep the thread here: after a few
 * rounds, ask to be called again (true) instead. */
static bool doorbell(void *ctx, uint32_t q)
{
    struct vmm__virtio *t = ctx;
    for (int round = 0; round < 4; round++) {
        struct vmm__vq *vq = q < t->ops->nqueues ? &t->q[q] : NULL;
        if (!vq || t->broken || !(t->status & VMM__VIRTIO_S_DRIVER_OK) || !vq->ready ||
            !used_flags(t, vq, USED_F_NO_NOTIFY)) {
            notify(t, q);
            return false;
        }
        notify(t, q);
        if (t->broken || !vq->ready || !used_flags(t, vq, 0))
            return false;
        /* Pairs with the driver's barrier between publishing avail->idx and
         * reading used->flags: either it sees the flag clear and notifies,
         * or this read sees its chain. */
        atomic_thread_fence(memory_order_seq_cst);
        uint16_t idx;
        if (vmm_device_mem_read(t->dev, vq->avail + 2, &idx, 2) < 0 || idx == vq->last_avail)
            return false;
    }
    return true;
}

/* With "ioeventfd", a queue's notifications go through a doorbell while the
 * driver is live (DRIVER_OK) and the queue ready; registered when that
 * becomes true, dropped at QueueReady 0 and reset (§4.2.3.2, §2.4). */
static void sync_doorbells(struct vmm__virtio *t)
{
    if (!t->ioeventfd && !t->doorbells)
        return;
    for (unsigned int q = 0; q < t->ops->nqueues; q++) {
        bool want = t->ioeventfd && (t->status & VMM__VIRTIO_S_DRIVER_OK) && t->q[q].ready;
        bool on = t->doorbells & (1u << q);
        if (want == on)
            continue;
        struct vmm__err_saved saved;
        vmm__err_save(&saved);
        int rc = vmm__device_doorbell(t->dev, t->base + R_QUEUE_NOTIFY, q, doorbell, t, want);
        if (rc < 0) {
            /* Notifications still exit and are served on the vCPU thread. */
            vmm_device_log(t->dev, rc == VMM_ENOTSUP ? VMM_LOG_DEBUG : VMM_LOG_WARN,
                           "ioeventfd %s queue %u: %s; notifications are served synchronously",
                           want ? "for" : "off", q, vmm_error_last()->message);
            if (want)
                t->ioeventfd = false;
        }
        vmm__err_restore(&saved);
        if (rc == 0 || !want)
            t->doorbells = (uint8_t)(want ? t->doorbells | (1u << q) : t->doorbells & ~(1u << q));
    }
}

void vmm__virtio_reset(struct vmm__virtio *t)
{
    if (t->ops->reset)
        t->ops->reset(t->model);
    t->status = 0;
    t->dev_features_sel = t->drv_features_sel = t->queue_sel = 0;
    t->isr = 0;
    t->driver_features = 0;
    t->broken = false;
    memset(t->q, 0, sizeof t->q);
    sync_doorbells(t);
    set_line(t);
}

void vmm__virtio_resume(struct vmm__virtio *t)
{
    sync_doorbells(t);
    set_line(t);
    for (unsigned int q = 0; q < t->ops->nqueues; q++)
        notify(t, q);
}

static struct vmm__vq *selected(struct vmm__virtio *t)
{
    return t->queue_sel < t->ops->nqueues ? &t->q[t->queue_sel] : NULL;
}

static uint32_t reg_read(struct vmm__virtio *t, uint64_t off)
{
    struct vmm__vq *q = selected(t);
    switch (off) {
    case R_MAGIC:
        return MAGIC;
    case R_VERSION:
        return 2;
    case R_DEVICE_ID:
        return t->ops->device_id;
    case R_VENDOR_ID:
        return VENDOR_ID;
    case R_DEV_FEATURES:
        return t->dev_features_sel < 2 ? (uint32_t)(offered(t) >> (32 * t->dev_features_sel)) : 0;
    case R_QUEUE_NUM_MAX:
        return q ? t->ops->queue_max : 0;
    case R_QUEUE_READY:
        return q ? q->ready : 0;
    case R_INT_STATUS:
        return t->isr;
    case R_STATUS:
        return t->status;
    case R_SHM_LEN_LO:
    case R_SHM_LEN_HI:
        return ~0u; /* no shared memory regions (§4.2.2) */
    case R_CONFIG_GEN:
        return t->config_generation;
    default:
        return 0;
    }
}

/* A 32-bit half of a 64-bit queue address; only while the queue is not
 * ready (§4.2.3.2: the driver writes them before QueueReady). */
static void set_half(struct vmm__vq *q, uint64_t *field, bool high, uint32_t v)
{
    if (!q || q->ready)
        return;
    *field = high ? (*field & 0xffffffffull) | ((uint64_t)v << 32) : (*field & ~0xffffffffull) | v;
}

static void notify(struct vmm__virtio *t, uint32_t index)
{
    /* Only a live device serves queues (§3.1.1: nothing before DRIVER_OK). */
    if (t->broken || !(t->status & VMM__VIRTIO_S_DRIVER_OK) || index >= t->ops->nqueues ||
        !t->q[index].ready)
        return;
    if (t->ops->notify(t->model, t, index) < 0 && !t->broken)
        vmm__virtio_fail(t, "bad request");
}

static void write_status(struct vmm__virtio *t, uint32_t v)
{
    if (v == 0) {
        vmm__virtio_reset(t);
        return;
    }
    /* Only the driver's bits (§2.1); NEEDS_RESET is the device's to set. */
    v &= VMM__VIRTIO_S_ACKNOWLEDGE | VMM__VIRTIO_S_DRIVER | VMM__VIRTIO_S_DRIVER_OK |
         VMM__VIRTIO_S_FEATURES_OK | VMM__VIRTIO_S_FAILED;
    uint32_t old = t->status;
    /* §2.1.1: the driver never clears bits it set, except by a reset. */
    if ((old & ~v) & ~VMM__VIRTIO_S_NEEDS_RESET) {
        vmm_device_log_limited(t->dev, VMM_LOG_WARN, "status 0x%x clears bits of 0x%x; ignored", v,
                               old);
        return;
    }
    if ((v & VMM__VIRTIO_S_FEATURES_OK) && !(old & VMM__VIRTIO_S_FEATURES_OK)) {
        /* §3.1.1: accept only features offered, and VERSION_1 (no legacy). */
        uint64_t f = t->driver_features;
        if ((f & ~offered(t)) || !(f & VMM__VIRTIO_F_VERSION_1) || !(old & VMM__VIRTIO_S_DRIVER))
            v &= ~VMM__VIRTIO_S_FEATURES_OK;
    }
    if ((v & VMM__VIRTIO_S_DRIVER_OK) && !(v & VMM__VIRTIO_S_FEATURES_OK))
        v &= ~VMM__VIRTIO_S_DRIVER_OK; /* not before the features are settled */
    t->status = v | (old & VMM__VIRTIO_S_NEEDS_RESET);
    sync_doorbells(t);
}

static void reg_write(struct vmm__virtio *t, uint64_t off, uint32_t v)
{
    struct vmm__vq *q = selected(t);
    switch (off) {
    case R_DEV_FEATURES_SEL:
        t->dev_features_sel = v;
        break;
    case R_DRV_FEATURES_SEL:
        t->drv_features_sel = v;
        break;
    case R_DRV_FEATURES:
        /* Only while negotiating (§3.1.1: before FEATURES_OK). */
        if (t->drv_features_sel < 2 && !(t->status & VMM__VIRTIO_S_FEATURES_OK)) {
            unsigned int sh = 32 * t->drv_features_sel;
            t->driver_features =
                (t->driver_features & ~(0xffffffffull << sh)) | ((uint64_t)v << sh);
        }
        break;
    case R_QUEUE_SEL:
        t->queue_sel = v;
        break;
    case R_QUEUE_NUM:
        if (q && !q->ready)
            q->num = v <= 0xffff ? (uint16_t)v : 0;
        break;
    case R_QUEUE_READY:
        if (!q)
            break;
        if (v == 0) {
            q->ready = false;
            sync_doorbells(t);
        } else if (!q->ready) {
            const char *why;
            if (vmm__vq_check(q, t->dev, t->ops->queue_max, &why) < 0) {
                vmm__virtio_fail(t, why);
                break;
            }
            q->last_avail = q->used_idx = 0;
            q->ready = true;
            sync_doorbells(t);
        }
        break;
    case R_QUEUE_NOTIFY:
        notify(t, v);
        break;
    case R_INT_ACK:
        t->isr &= ~v;
        set_line(t);
        break;
    case R_STATUS:
        write_status(t, v);
        break;
    case R_QUEUE_DESC_LO:
        set_half(q, q ? &q->desc : NULL, false, v);
        break;
    case R_QUEUE_DESC_HI:
        set_half(q, q ? &q->desc : NULL, true, v);
        break;
    case R_QUEUE_DRIVER_LO:
        set_half(q, q ? &q->avail : NULL, false, v);
        break;
    case R_QUEUE_DRIVER_HI:
        set_half(q, q ? &q->avail : NULL, true, v);
        break;
    case R_QUEUE_DEVICE_LO:
        set_half(q, q ? &q->used : NULL, false, v);
        break;
    case R_QUEUE_DEVICE_HI:
        set_half(q, q ? &q->used : NULL, true, v);
        break;
    case R_SHM_SEL:
        break;
    default:
        vmm_device_log_limited(t->dev, VMM_LOG_WARN,
                               "write to read-only or unknown register 0x%llx",
                               (unsigned long long)off);
        break;
    }
}

int vmm__virtio_read(struct vmm__virtio *t, uint64_t off, void *data, unsigned int size)
{
    if (off >= R_CONFIG) {
        uint64_t c = off - R_CONFIG;
        if (c < t->ops->config_size && size <= t->ops->config_size - c && t->ops->config_read) {
            t->ops->config_read(t->model, (uint32_t)c, data, size);
            return 0;
        }
        memset(data, 0, size);
        return 0;
    }
    /* §4.2.2.2: registers are 32 bits wide and accessed as such. */
    if (size != 4 || (off & 3)) {
        vmm_device_log_limited(t->dev, VMM_LOG_WARN, "%u-byte read of register 0x%llx", size,
                               (unsigned long long)off);
        memset(data, 0, size);
        return 0;
    }
    uint32_t v = reg_read(t, off);
    memcpy(data, &v, 4);
    return 0;
}

int vmm__virtio_write(struct vmm__virtio *t, uint64_t off, const void *data, unsigned int size)
{
    if (off >= R_CONFIG) {
        uint64_t c = off - R_CONFIG;
        if (c < t->ops->config_size && size <= t->ops->config_size - c && t->ops->config_write)
            t->ops->config_write(t->model, (uint32_t)c, data, size);
        return 0;
    }
    if (size != 4 || (off & 3)) {
        vmm_device_log_limited(t->dev, VMM_LOG_WARN, "%u-byte write to register 0x%llx", size,
                               (unsigned long long)off);
        return 0;
    }
    uint32_t v;
    memcpy(&v, data, 4);
    reg_write(t, off, v);
    return 0;
}

int vmm__virtio_cfg(vmm_device *dev, struct json_object *cfg, struct vmm__virtio_place *place)
{
    uint64_t line, *base = &place->base;
    int *irq = &place->irq;
    int rc = vmm__cfg_u64(dev, cfg, "mmio", 0, UINT64_MAX - VMM__VIRTIO_MMIO_SIZE, 0, base);
    if (rc == 0) {
        vmm_device_error(dev, "config.mmio: required (the register block's guest address)");
        return VMM_ECONFIG;
    }
    if (rc < 0)
        return VMM_ECONFIG;
    if (*base & 0xfff) {
        vmm_device_error(dev, "config.mmio: must be 4 KiB aligned");
        return VMM_ECONFIG;
    }
    if ((rc = vmm__cfg_u64(dev, cfg, "irq", 0, 23, 0, &line)) < 0)
        return VMM_ECONFIG;
    *irq = rc == 1 ? (int)line : -1;
    struct {
        const char *key;
        bool *out;
    } opts[] = {{"ioeventfd", &place->ioeventfd}, {"irqfd", &place->irqfd}};
    place->ioeventfd = false;
    place->irqfd = true;
    for (size_t i = 0; i < VMM__ARRAY_LEN(opts); i++) {
        struct json_object *v;
        if (!json_object_object_get_ex(cfg, opts[i].key, &v))
            continue;
        if (!json_object_is_type(v, json_type_boolean)) {
            vmm_device_error(dev, "config.%s: must be true or false", opts[i].key);
            return VMM_ECONFIG;
        }
        *opts[i].out = json_object_get_boolean(v);
    }
    return 0;
}

int vmm__virtio_dev_read(void *state, unsigned int range, uint64_t off, void *data,
                         unsigned int size)
{
    (void)range;
    return vmm__virtio_read(state, off, data, size);
}

int vmm__virtio_dev_write(void *state, unsigned int range, uint64_t off, const void *data,
                          unsigned int size)
{
    (void)range;
    return vmm__virtio_write(state, off, data, size);
}

void vmm__virtio_dev_reset(void *state)
{
    vmm__virtio_reset(state);
}

int vmm__virtio_serve(struct vmm__virtio *t, unsigned int q, vmm__virtio_serve_fn fn)
{
    struct vmm__vq *vq = &t->q[q];
    struct vmm__vq_chain c;
    bool used = false;
    int rc = 0;
    const char *why = NULL;
    for (unsigned int n = 0; n < vq->num; n++) {
        int got = vmm__vq_pop(vq, t->dev, vmm__virtio_has(t, VMM__VIRTIO_F_INDIRECT), &c, &why);
        if (got <= 0) {
            rc = got;
            break;
        }
        int64_t w = fn(t->model, &c, &why);
        if (w < 0) {
            rc = (int)w;
            break;
        }
        if ((rc = vmm__vq_push(vq, t->dev, c.head, (uint32_t)w)) < 0) {
            why = "used ring unwritable";
            break;
        }
        used = true;
    }
    if (used) /* what was served before a violation still counts */
        vmm__virtio_used(t);
    if (rc < 0)
        vmm__virtio_fail(t, why ? why : "bad request");
    return rc;
}
