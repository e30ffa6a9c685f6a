/* SPDX-License-Identifier: MIT */
/* The virtio-mmio transport (virtio 1.2 §4.2, register layout version 2) and
 * the split virtqueue (§2.7), shared by the virtio device models. Written
 * against a hostile driver: every guest-shared field is read once into a
 * local, chains are bounded, and a violation puts the device in NEEDS_RESET
 * (§2.1.2) instead of trusting the guest. Guest memory is reached only through
 * vmm_device_mem_read/write, which refuse anything outside RAM. */
#ifndef LIBVMM_LIB_VIRTIO_H
#define LIBVMM_LIB_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/devhost.h"

/* ---- split virtqueue (virtio 1.2 §2.7) ---- */

#define VMM__VQ_DESC_F_NEXT     1
#define VMM__VQ_DESC_F_WRITE    2
#define VMM__VQ_DESC_F_INDIRECT 4
/* Largest queue the devices offer, and most buffers in one chain (direct
 * descriptors plus those of one indirect table). */
#define VMM__VQ_MAX_SIZE 1024
#define VMM__VQ_MAX_SEGS 256

struct vmm__vq {
    uint16_t num; /* QueueNum: a power of two, 1..QueueNumMax (0 until set) */
    bool ready;   /* QueueReady */
    uint64_t desc, avail, used;
    uint16_t last_avail; /* next available-ring entry to take */
    uint16_t used_idx;   /* the used ring's idx as we last wrote it */
};

/* One buffer of a descriptor chain; the driver's descriptor, read once. */
struct vmm__vq_seg {
    uint64_t addr;
    uint32_t len;
    bool write; /* device-writable */
};

/* A chain taken from the available ring: readable buffers first, then
 * writable ones (§2.7.4.2; anything else is a violation). */
struct vmm__vq_chain {
    uint16_t head;
    unsigned int nsegs;
    uint32_t readable, writable; /* total bytes of each kind; sums checked against 2^32 */
    struct vmm__vq_seg seg[VMM__VQ_MAX_SEGS];
};

/* Check a queue's rings before it is made ready: num a power of two no
 * larger than max, the rings aligned (§2.7: 16, 2, 4) and wholly inside RAM.
 * 0, or a negative code with the reason in *why. */
VMM__HIDDEN int vmm__vq_check(const struct vmm__vq *vq, vmm_device *dev, uint16_t max,
                              const char **why);
/* Take the next available chain: 1 with *c filled, 0 when the ring is empty,
 * <0 when the driver broke the protocol (reason in *why; the queue must not be
 * used again before a reset). indirect: VIRTIO_F_RING_INDIRECT_DESC was
 * negotiated. */
VMM__HIDDEN int vmm__vq_pop(struct vmm__vq *vq, vmm_device *dev, bool indirect,
                            struct vmm__vq_chain *c, const char **why);
/* Return a chain to the driver with len bytes written into it. */
VMM__HIDDEN int vmm__vq_push(struct vmm__vq *vq, vmm_device *dev, uint16_t head, uint32_t len);
/* Copy len bytes from the chain's readable buffers, starting off bytes in;
 * VMM_ERANGE if they hold fewer, VMM_EFAULT if a buffer is not RAM. */
VMM__HIDDEN int vmm__vq_read(vmm_device *dev, const struct vmm__vq_chain *c, uint64_t off,
                             void *buf, size_t len);
/* Copy into the chain's writable buffers, starting off bytes into them. */
VMM__HIDDEN int vmm__vq_write(vmm_device *dev, const struct vmm__vq_chain *c, uint64_t off,
                              const void *buf, size_t len);

/* ---- virtio-mmio transport (virtio 1.2 §4.2.2) ---- */

#define VMM__VIRTIO_MMIO_SIZE   0x200
#define VMM__VIRTIO_MAX_QUEUES  8
#define VMM__VIRTIO_F_INDIRECT  (1ull << 28)
#define VMM__VIRTIO_F_VERSION_1 (1ull << 32)

#define VMM__VIRTIO_S_ACKNOWLEDGE 1u
#define VMM__VIRTIO_S_DRIVER      2u
#define VMM__VIRTIO_S_DRIVER_OK   4u
#define VMM__VIRTIO_S_FEATURES_OK 8u
#define VMM__VIRTIO_S_NEEDS_RESET 64u
#define VMM__VIRTIO_S_FAILED      128u

struct vmm__virtio;

/* A device model behind the transport. */
struct vmm__virtio_ops {
    uint32_t device_id;   /* §5: 1 net, 2 blk, 3 console, 4 rng, 19 vsock */
    uint64_t features;    /* device-specific offer (the transport adds VERSION_1, INDIRECT) */
    unsigned int nqueues; /* 1..VMM__VIRTIO_MAX_QUEUES */
    uint16_t queue_max;   /* QueueNumMax, a power of two <= VMM__VQ_MAX_SIZE */
    uint32_t config_size; /* bytes of device configuration space at 0x100 */
    /* Read config bytes [off, off+size), inside config_size. */
    void (*config_read)(void *model, uint32_t off, void *data, unsigned int size);
    /* A driver write to config space (optional; absent: ignored). */
    void (*config_write)(void *model, uint32_t off, const void *data, unsigned int size);
    /* Serve queue q after a notification. <0: the driver broke the protocol
     * (the transport sets NEEDS_RESET). */
    int (*notify)(void *model, struct vmm__virtio *t, unsigned int q);
    void (*reset)(void *model); /* optional: back to power-on (device reset) */
};

struct vmm__virtio {
    vmm_device *dev;
    const struct vmm__virtio_ops *ops;
    void *model;
    int irq; /* interrupt line, or -1 for none (the driver polls) */
    uint64_t base;
    /* Config "ioeventfd": queue notifications through doorbells (served on
     * the device host's I/O thread); cleared when the host has none. */
    bool ioeventfd;
    uint8_t doorbells; /* queues whose doorbell is registered */
    uint32_t status, dev_features_sel, drv_features_sel, queue_sel, isr, config_generation;
    uint64_t driver_features;
    bool broken; /* NEEDS_RESET set: no queue is served until a reset */
    struct vmm__vq q[VMM__VIRTIO_MAX_QUEUES];
};

struct json_object;
/* The transport's keys, for a device type's list of allowed config keys. */
#define VMM__VIRTIO_KEYS "mmio", "irq", "ioeventfd", "irqfd"
/* Where and how a device's transport sits, from its config's transport keys
 * (vmm__virtio_cfg) to vmm__virtio_init. */
struct vmm__virtio_place {
    uint64_t base; /* "mmio" */
    int irq;       /* "irq", or -1: the driver polls */
    bool ioeventfd;
    bool irqfd;
};
/* The transport's keys in a device's JSON config: "mmio" (required, 4 KiB
 * aligned), "irq" (0-23; absent: -1, the driver polls), "ioeventfd" (bool,
 * default false: serve queue notifications on the device's I/O thread
 * without an exit to user space, where KVM can) and "irqfd" (bool, default
 * true: drive the line through an irqfd where KVM can). */
VMM__HIDDEN int vmm__virtio_cfg(vmm_device *dev, struct json_object *cfg,
                                struct vmm__virtio_place *place);
/* Set up the transport for a device and claim its MMIO range. */
VMM__HIDDEN int vmm__virtio_init(struct vmm__virtio *t, vmm_device *dev,
                                 const struct vmm__virtio_ops *ops, void *model,
                                 const struct vmm__virtio_place *place);
/* Register accesses (the device type's read/write). */
VMM__HIDDEN int vmm__virtio_read(struct vmm__virtio *t, uint64_t off, void *data,
                                 unsigned int size);
VMM__HIDDEN int vmm__virtio_write(struct vmm__virtio *t, uint64_t off, const void *data,
                                  unsigned int size);
/* vmm_device_ops read/write/reset for a device type whose state begins with
 * its struct vmm__virtio. */
VMM__HIDDEN int vmm__virtio_dev_read(void *state, unsigned int range, uint64_t off, void *data,
                                     unsigned int size);
VMM__HIDDEN int vmm__virtio_dev_write(void *state, unsigned int range, uint64_t off,
                                      const void *data, unsigned int size);
VMM__HIDDEN void vmm__virtio_dev_reset(void *state);
/* A device's handling of one chain: the bytes it wrote into the chain, or <0
 * when the driver broke the protocol (reason in *why). */
typedef int64_t (*vmm__virtio_serve_fn)(void *model, const struct vmm__vq_chain *c,
                                        const char **why);
/* Serve the chains available on queue q, at most the queue size per call (a
 * driver refilling the ring from another vCPU cannot keep this one here):
 * pop, serve, push, then one used-buffer interrupt. A violation sets
 * NEEDS_RESET (after signalling what was already served) and returns <0. */
VMM__HIDDEN int vmm__virtio_serve(struct vmm__virtio *t, unsigned int q, vmm__virtio_serve_fn fn);
/* Device reset (status 0 or vmm_device_reset()). */
VMM__HIDDEN void vmm__virtio_reset(struct vmm__virtio *t);
/* ---- snapshots (mmio_state.c) ----
 * A virtio device's saved state is the transport's (vmm__virtio_state_size()
 * bytes) followed by its model's. A load checks both parts before it applies
 * either, so a refused state leaves the device as it was. */
struct vmm__virtio_saved {
    uint32_t status, dev_features_sel, drv_features_sel, queue_sel, isr, config_generation;
    uint64_t driver_features;
    bool broken;
    struct vmm__vq q[VMM__VIRTIO_MAX_QUEUES];
};
VMM__HIDDEN size_t vmm__virtio_state_size(const struct vmm__virtio *t);
/* Write the transport's state at p. held[q] (held may be NULL): chains the
 * model took from queue q and has not returned; they are saved as not taken,
 * so the restored device takes them afresh. */
VMM__HIDDEN void vmm__virtio_state_save(const struct vmm__virtio *t, uint8_t *p,
                                        const uint16_t *held);
/* Check saved transport state (len bytes at p, the model's part may follow)
 * against this device and the guest's memory into *s, applying nothing: the
 * bytes it took, or VMM_EINVAL with the reason given to vmm_device_error(). */
VMM__HIDDEN int vmm__virtio_state_check(const struct vmm__virtio *t, const uint8_t *p, size_t len,
                                        struct vmm__virtio_saved *s);
VMM__HIDDEN void vmm__virtio_state_apply(struct vmm__virtio *t, const struct vmm__virtio_saved *s);
/* After a load (device lock held): the doorbells and the interrupt line
 * follow the restored state, and each live queue is served as if notified,
 * since a notification the guest gave before the snapshot went to the
 * device's state of then. Call once the model's own state is in place. */
VMM__HIDDEN void vmm__virtio_resume(struct vmm__virtio *t);
/* A model's save(): the transport's state (held as above), then n bytes of
 * the model's own (extra). */
VMM__HIDDEN int vmm__virtio_save_with(const struct vmm__virtio *t, void *buf, size_t cap,
                                      size_t *len, const void *extra, size_t n,
                                      const uint16_t *held);
/* A model's load(): check the transport's part into *s and point *extra at
 * the model's, which must be extra_len bytes. The model checks its part,
 * then calls vmm__virtio_state_apply(), sets its own state and calls
 * vmm__virtio_resume(). */
VMM__HIDDEN int vmm__virtio_load_begin(const struct vmm__virtio *t, const void *buf, size_t len,
                                       size_t extra_len, struct vmm__virtio_saved *s,
                                       const uint8_t **extra);
/* vmm_device_ops save/load for a model with no state of its own. */
VMM__HIDDEN int vmm__virtio_dev_save(void *state, void *buf, size_t cap, size_t *len);
VMM__HIDDEN int vmm__virtio_dev_load(void *state, const void *buf, size_t len);

/* Whether dev is a virtio-mmio device; if so its register base and
 * interrupt line (-1: none). */
VMM__HIDDEN bool vmm__virtio_lookup(vmm_device *dev, uint64_t *base, int *irq);
/* Whether a feature bit was negotiated. */
VMM__HIDDEN bool vmm__virtio_has(const struct vmm__virtio *t, uint64_t feature);
/* Tell the driver buffers were used (interrupt status bit 0 and the line). */
VMM__HIDDEN void vmm__virtio_used(struct vmm__virtio *t);
/* The driver broke the protocol: log why (rate-limited), set NEEDS_RESET and
 * raise a configuration-change interrupt (§2.1.2). */
VMM__HIDDEN void vmm__virtio_fail(struct vmm__virtio *t, const char *why);

#endif
