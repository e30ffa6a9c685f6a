/* SPDX-License-Identifier: MIT */
/* virtio-net (virtio 1.2 §5.1): one receive and one transmit queue, no
 * offloads, the MAC address and link status in configuration space. Frames go
 * to a TAP interface (received ones come back through the device's I/O
 * thread) or to the embedder (include/libvmm/virtio.h). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "builtin.h"
#include "virtio_net.h"
static void net_config_read(void *model, uint32_t off, void *data, unsigned int size)
{
    memcpy(data, ((struct net *)model)->config + off, size);
}

/* ---- transmit: transmitq chains, served on the notifying vCPU thread ---- */

static void tx_deliver(struct net *n, const uint8_t *frame, size_t len)
{
    if (!n->tap) {
        if (!n->tx_fn) {
            n->stats.tx_dropped++;
            vmm_device_log_limited(n->t.dev, VMM_LOG_DEBUG,
                                   "transmitted frame dropped: no transmit callback set");
            return;
        }
        n->tx_fn(n->tx_opaque, frame, len);
        n->stats.tx_frames++;
        return;
    }
    /* One write is one frame. The fd is non-blocking: a TAP that cannot take
     * the frame now loses it rather than stall the vCPU. */
    ssize_t k;
    do
        k = write(n->fd, frame, len);
    while (k < 0 && errno == EINTR);
    if (k == (ssize_t)len) {
        n->stats.tx_frames++;
        return;
    }
    n->stats.tx_dropped++;
    vmm_device_log_limited(n->t.dev, VMM_LOG_DEBUG, "transmitted frame dropped: TAP write: %s",
                           k < 0 ? strerror(errno) : "short write");
}

/* One transmitq chain (§5.1.6.2): a header and a frame, all device-readable.
 * A direction or address violation breaks the device; a frame the device
 * cannot send as given (too short or long, or asking for an offload nobody
 * negotiated) is dropped and counted and the device carries on. */
static int64_t tx_serve(void *model, const struct vmm__vq_chain *c, const char **why)
{
    struct net *n = model;
    if (c->writable) {
        *why = "device-writable buffer on the transmit queue";
        return VMM_EINVAL;
    }
    if (c->readable < HDR_LEN + ETH_MIN || c->readable - HDR_LEN > FRAME_MAX) {
        n->stats.tx_errors++;
        vmm_device_log_limited(n->t.dev, VMM_LOG_WARN,
                               "transmit chain of %u bytes dropped: not a %u-byte header and "
                               "a frame of %u..%u bytes",
                               c->readable, HDR_LEN, ETH_MIN, FRAME_MAX);
        return 0;
    }
    size_t len = c->readable - HDR_LEN;
    uint8_t hdr[HDR_LEN];
    if (vmm__vq_read(n->t.dev, c, 0, hdr, HDR_LEN) < 0 ||
        vmm__vq_read(n->t.dev, c, HDR_LEN, n->buf, len) < 0) {
        *why = "transmit buffer outside RAM";
        return VMM_EFAULT;
    }
    /* Without VIRTIO_NET_F_CSUM and the HOST_TSO/UFO features the driver must
     * not ask for a checksum or segmentation (§5.1.6.2); the device cannot do
     * either, so such a frame would leave broken. Other flag bits are ignored
     * (§5.1.6.2.2: the device ignores flags it does not recognise), and so is
     * num_buffers. */
    if ((hdr[0] & HDR_F_NEEDS_CSUM) || hdr[1] != 0) {
        n->stats.tx_errors++;
        vmm_device_log_limited(n->t.dev, VMM_LOG_WARN,
                               "transmitted frame dropped: header flags 0x%x gso_type 0x%x "
                               "ask for an offload that was not negotiated",
                               hdr[0], hdr[1]);
        return 0;
    }
    tx_deliver(n, n->buf, len);
    return 0; /* nothing written into the chain */
}

/* ---- receive: receiveq chains filled as frames arrive ---- */

/* The receive queue can take frames: the driver is live and the queue ready. */
static bool rx_live(const struct net *n)
{
    return !n->t.broken && (n->t.status & VMM__VIRTIO_S_DRIVER_OK) && n->t.q[RXQ].ready;
}

/* Whether the driver has a receive chain available (a ring that cannot be
 * read counts as yes: taking the chain then reports the violation). */
static bool rx_pending(const struct net *n)
{
    const struct vmm__vq *q = &n->t.q[RXQ];
    uint16_t idx;
    if (vmm_device_mem_read(n->t.dev, q->avail + 2, &idx, 2) < 0)
        return true;
    return idx != q->last_avail;
}

/* Put one frame into the next receive chain with a header in front
 * (§5.1.6.4: nothing to report but num_buffers = 1, as VIRTIO_NET_F_MRG_RXBUF
 * is not offered), never splitting it across chains. 0 (the caller signals
 * the used buffer); VMM_EAGAIN: no chain; VMM_E2BIG: the chain is too short
 * (it stays with the device for a later, smaller frame); VMM_ESTATE: the
 * driver broke the protocol (the device now needs a reset). */
static int rx_put(struct net *n, const void *frame, size_t len)
{
    struct vmm__vq *q = &n->t.q[RXQ];
    struct vmm__vq_chain c;
    const char *why = NULL;
    int got = vmm__vq_pop(q, n->t.dev, vmm__virtio_has(&n->t, VMM__VIRTIO_F_INDIRECT), &c, &why);
    if (got == 0)
        return VMM_EAGAIN;
    if (got < 0) {
        vmm__virtio_fail(&n->t, why);
        return VMM_ESTATE;
    }
    if (c.readable) {
        vmm__virtio_fail(&n->t, "device-readable buffer on the receive queue");
        return VMM_ESTATE;
    }
    if (c.writable < HDR_LEN + len) {
        /* Give the chain back: vmm__vq_pop() only moved last_avail, and the
         * chain is taken (and checked) afresh next time. */
        q->last_avail--;
        return VMM_E2BIG;
    }
    uint8_t hdr[HDR_LEN] = {0};
    hdr[10] = 1; /* num_buffers, little-endian */
    if (vmm__vq_write(n->t.dev, &c, 0, hdr, HDR_LEN) < 0 ||
        vmm__vq_write(n->t.dev, &c, HDR_LEN, frame, len) < 0) {
        vmm__virtio_fail(&n->t, "receive buffer outside RAM");
        return VMM_ESTATE;
    }
    if (vmm__vq_push(q, n->t.dev, c.head, (uint32_t)(HDR_LEN + len)) < 0) {
        vmm__virtio_fail(&n->t, "used ring unwritable");
        return VMM_ESTATE;
    }
    return 0;
}

static void rx_count_drop(struct net *n, int rc, size_t len)
{
    n->stats.rx_dropped++;
    vmm_device_log_limited(n->t.dev, VMM_LOG_DEBUG, "received frame of %zu bytes dropped: %s", len,
                           rc == VMM_E2BIG    ? "longer than the posted receive buffer"
                           : rc == VMM_EAGAIN ? "no receive buffer posted"
                                              : "the device needs a reset");
}

static void rx_watch(struct net *n, bool on)
{
    vmm__io_set(n->io, n->watch, n->fd, on ? POLLIN : 0);
}

/* The I/O thread: the TAP has frames (or an error). Read one frame per
 * available chain, at most a queue's worth per call; when the driver has no
 * chain left, stop watching so frames wait in the kernel's queue (which
 * drops them when full) until a receiveq notification. Device lock held. */
static void tap_ready(void *model, unsigned int idx, short revents)
{
    struct net *n = model;
    (void)idx;
    bool used = false;
    for (unsigned int i = 0;; i++) {
        if (!rx_live(n) || !rx_pending(n)) {
            rx_watch(n, false);
            break;
        }
        if (i == n->t.q[RXQ].num)
            break; /* the rest on the next round */
        ssize_t k = read(n->fd, n->buf, sizeof n->buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN && !(revents & (POLLERR | POLLHUP | POLLNVAL)))
            break;
        if (k < 0) {
            /* E.g. the interface was deleted: wait for the next notification
             * rather than spin on the error. */
            vmm_device_log_limited(n->t.dev, VMM_LOG_WARN, "TAP read: %s; receive paused",
                                   strerror(errno));
            rx_watch(n, false);
            break;
        }
        if ((size_t)k < ETH_MIN || (size_t)k > FRAME_MAX) {
            n->stats.rx_dropped++;
            vmm_device_log_limited(n->t.dev, VMM_LOG_DEBUG,
                                   "TAP frame of %zd bytes dropped: not %u..%u bytes", k, ETH_MIN,
                                   FRAME_MAX);
            continue;
        }
        int rc = rx_put(n, n->buf, (size_t)k);
        if (rc == 0) {
            n->stats.rx_frames++;
            used = true;
            continue;
        }
        rx_count_drop(n, rc, (size_t)k);
        if (rc != VMM_E2BIG) {
            rx_watch(n, false);
            break;
        }
    }
    if (used)
        vmm__virtio_used(&n->t);
}

/* ---- the device model ---- */

static int net_notify(void *model, struct vmm__virtio *t, unsigned int q)
{
    struct net *n = model;
    if (q == TXQ)
        return vmm__virtio_serve(t, TXQ, tx_serve);
    /* New receive buffers: the I/O thread fills them as frames arrive. */
    if (n->tap)
        rx_watch(n, true);
    return 0;
}

/* Device reset (device lock held): the I/O thread stops reading before the
 * transport forgets the queues, and checks rx_live() before each frame. */
static void net_reset(void *model)
{
    struct net *n = model;
    if (n->tap)
        rx_watch(n, false);
}

/* Saved state: the transport's, then the configuration space (the MAC and
 * the link status, 8 bytes), which must match this device's: the guest took
 * its MAC from it. A frame is sent or received within one call, so none is
 * half done when the VM is paused; frames that reached the TAP after the
 * snapshot are not replayed, and the statistics are the host's and stay. */
static int net_save(void *state, void *buf, size_t cap, size_t *len)
{
    struct net *n = state;
    return vmm__virtio_save_with(&n->t, buf, cap, len, n->config, CONFIG_SIZE, NULL);
}

static int net_load(void *state, const void *buf, size_t len)
{
    struct net *n = state;
    struct vmm__virtio_saved s;
    const uint8_t *extra;
    int rc = vmm__virtio_load_begin(&n->t, buf, len, CONFIG_SIZE, &s, &extra);
    if (rc < 0)
        return rc;
    if (memcmp(extra, n->config, CONFIG_SIZE)) {
        vmm_device_error(n->t.dev,
                         "the snapshot's device has MAC %02x:%02x:%02x:%02x:%02x:%02x, this one "
                         "%02x:%02x:%02x:%02x:%02x:%02x (or the link status differs)",
                         extra[0], extra[1], extra[2], extra[3], extra[4], extra[5], n->config[0],
                         n->config[1], n->config[2], n->config[3], n->config[4], n->config[5]);
        return VMM_EINVAL;
    }
    if (n->tap)
        rx_watch(n, false); /* vmm__virtio_resume() watches again if the queue is live */
    vmm__virtio_state_apply(&n->t, &s);
    vmm__virtio_resume(&n->t);
    return 0;
}

static const struct vmm__virtio_ops net_model = {
    .device_id = 1,
    .features = F_MAC | F_STATUS,
    .nqueues = 2,
    .queue_max = 256,
    .config_size = CONFIG_SIZE,
    .config_read = net_config_read,
    .notify = net_notify,
    .reset = net_reset,
};

static void net_destroy(void *model)
{
    struct net *n = model;
    vmm__io_free(n->io); /* joins the thread: nothing reads fd or the state after this */
    if (n->own_fd && n->fd >= 0)
        close(n->fd);
    vmm_device_log(n->t.dev, VMM_LOG_DEBUG,
                   "tx %llu frames (%llu dropped, %llu bad), rx %llu frames (%llu dropped)",
                   (unsigned long long)n->stats.tx_frames, (unsigned long long)n->stats.tx_dropped,
                   (unsigned long long)n->stats.tx_errors, (unsigned long long)n->stats.rx_frames,
                   (unsigned long long)n->stats.rx_dropped);
    free(n);
}

static const char *const net_keys[] = {VMM__VIRTIO_KEYS, "mac", "backend", "tap", "tap_fd", NULL};

static int net_create(vmm_device *dev, struct json_object *cfg, void **state)
{
    int rc = vmm__cfg_keys(dev, cfg, net_keys);
    if (rc < 0)
        return rc;
    struct vmm__virtio_place place;
    int tap_fd = -1;
    const char *tap = NULL;
    struct net *n = calloc(1, sizeof *n);
    if (!n)
        return VMM_ENOMEM;
    n->fd = -1;
    rc = vmm__virtio_cfg(dev, cfg, &place);
    if (rc >= 0)
        rc = vmm__net_cfg(dev, cfg, n, &tap_fd, &tap);
    if (rc >= 0 && n->tap && !vmm_device_checking(dev)) {
        if (tap) {
            rc = vmm__net_tap_open(dev, tap, &n->fd);
            n->own_fd = rc >= 0;
        } else if ((rc = vmm__net_tap_adopt(dev, tap_fd)) >= 0) {
            n->fd = tap_fd;
        }
        if (rc >= 0)
            rc = vmm__io_new(dev, tap_ready, n, &n->io);
        if (rc >= 0) {
            int w = vmm__io_add(n->io, n->fd, 0); /* watched once buffers are posted */
            rc = w < 0 ? w : 0;
            n->watch = w < 0 ? 0 : (unsigned int)w;
        }
    }
    if (rc >= 0)
        rc = vmm__virtio_init(&n->t, dev, &net_model, n, &place);
    if (rc >= 0 && n->io)
        rc = vmm__io_start(n->io);
    if (rc < 0) {
        vmm__io_free(n->io);
        if (n->own_fd)
            close(n->fd);
        free(n);
        return rc;
    }
    *state = n;
    return 0;
}

const vmm_device_ops vmm__virtio_net_ops = {
    .version = VMM_DEVICE_OPS_VERSION,
    .name = "virtio-net",
    .create = vmm__builtin_create,
    .read = vmm__virtio_dev_read,
    .write = vmm__virtio_dev_write,
    .reset = vmm__virtio_dev_reset,
    .save = net_save,
    .load = net_load,
    .destroy = net_destroy,
};

static const char *const net_fd_keys[] = {"tap_fd", NULL};

const struct vmm__device_type vmm__virtio_net_type = {
    .ops = &vmm__virtio_net_ops,
    .create = net_create,
    .fd_keys = net_fd_keys,
    .fd_hint = "use \"tap\"",
};

/* ---- the embedder's calls (include/libvmm/virtio.h) ---- */

static struct net *as_net(vmm_device *dev)
{
    return dev && vmm_device_type(dev) == &vmm__virtio_net_ops ? vmm_device_state(dev) : NULL;
}

int vmm_virtio_net_set_tx(vmm_device *dev, vmm_net_tx_fn fn, void *opaque)
{
    struct net *n = as_net(dev);
    if (!n)
        return vmm__err(VMM_EINVAL, "vmm_virtio_net_set_tx: not a virtio-net device");
    vmm__device_lock(dev);
    bool tap = n->tap;
    if (!tap) {
        n->tx_fn = fn;
        n->tx_opaque = opaque;
    }
    vmm__device_unlock(dev);
    if (tap)
        return vmm__err(VMM_ESTATE, "vmm_virtio_net_set_tx: device %s has the tap backend",
                        vmm_device_id(dev));
    return 0;
}

int vmm_virtio_net_receive(vmm_device *dev, const void *frame, size_t len)
{
    struct net *n = as_net(dev);
    if (!n || !frame)
        return vmm__err(VMM_EINVAL, "vmm_virtio_net_receive: %s",
                        n ? "frame is NULL" : "not a virtio-net device");
    if (len < ETH_MIN)
        return vmm__err(VMM_EINVAL,
                        "vmm_virtio_net_receive: a frame of %zu bytes is shorter "
                        "than an Ethernet header",
                        len);
    if (len > FRAME_MAX)
        return vmm__err(VMM_E2BIG,
                        "vmm_virtio_net_receive: a frame of %zu bytes is longer than "
                        "%u bytes",
                        len, FRAME_MAX);
    vmm__device_lock(dev);
    int rc;
    if (n->tap) {
        rc = VMM_ESTATE;
    } else if (!rx_live(n)) {
        rc = VMM_ESTATE;
        n->stats.rx_dropped++;
    } else if ((rc = rx_put(n, frame, len)) == 0) {
        n->stats.rx_frames++;
        vmm__virtio_used(&n->t);
    } else {
        rx_count_drop(n, rc, len);
    }
    vmm__device_unlock(dev);
    switch (rc) {
    case 0:
        return 0;
    case VMM_EAGAIN:
        return vmm__err(rc,
                        "vmm_virtio_net_receive: device %s: no receive buffer posted; "
                        "the frame was dropped",
                        vmm_device_id(dev));
    case VMM_E2BIG:
        return vmm__err(rc,
                        "vmm_virtio_net_receive: device %s: a frame of %zu bytes does not "
                        "fit the posted receive buffer; it was dropped",
                        vmm_device_id(dev), len);
    default:
        return vmm__err(rc, "vmm_virtio_net_receive: device %s: %s", vmm_device_id(dev),
                        n->tap ? "has the tap backend" : "the driver is not ready");
    }
}

int vmm_virtio_net_get_stats(vmm_device *dev, vmm_net_stats *stats)
{
    struct net *n = as_net(dev);
    if (!n || !stats)
        return vmm__err(VMM_EINVAL, "vmm_virtio_net_get_stats: %s",
                        n ? "stats is NULL" : "not a virtio-net device");
    vmm__device_lock(dev);
    *stats = n->stats;
    vmm__device_unlock(dev);
    return 0;
}
