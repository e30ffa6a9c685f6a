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

#include "../virtio/virtio.h"
#include "builtin.h"

enum { F_MAC = 1u << 5, F_STATUS = 1u << 16 };
enum { RXQ = 0, TXQ = 1 };

#define HDR_LEN          12u    /* struct virtio_net_hdr with num_buffers (VERSION_1) */
#define ETH_MIN          14u    /* an Ethernet header */
#define FRAME_MAX        65550u /* an Ethernet header + 64 KiB */
#define CONFIG_SIZE      8u     /* mac[6], status */
#define HDR_F_NEEDS_CSUM 1u
#define S_LINK_UP        1u

struct net {
    struct vmm__virtio t; /* first: vmm__virtio_dev_read() and friends rely on it */
    bool tap;             /* the TAP backend; else the embedder's callbacks */
    int fd;               /* the TAP descriptor, non-blocking */
    bool own_fd;          /* opened here ("tap"), closed at destroy; not "tap_fd" */
    struct vmm__io *io;   /* TAP: reads fd while receive buffers are posted */
    unsigned int watch;   /* fd's entry in io */
    vmm_net_tx_fn tx_fn;
    void *tx_opaque;
    vmm_net_stats stats;
    uint8_t config[CONFIG_SIZE];
    uint8_t buf[FRAME_MAX + 1]; /* one frame; +1 shows a TAP frame too long */
};

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

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* "52:54:00:12:34:56": 0, or -1. */
static int parse_mac(const char *s, uint8_t mac[6])
{
    if (strlen(s) != 17)
        return -1;
    for (int i = 0; i < 6; i++) {
        int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
            return -1;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* The default MAC: locally administered, unicast, the rest from an FNV-1a
 * hash of the device's id, so the same id always gets the same address. */
static void default_mac(const char *id, uint8_t mac[6])
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = id; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    mac[0] = 0x02;
    for (int i = 1; i < 6; i++)
        mac[i] = (uint8_t)(h >> (8 * (i - 1)));
}

/* Linux's rule for interface names (dev_valid_name): 1..IFNAMSIZ-1 bytes,
 * not "." or "..", no '/', ':' or white space. */
static bool valid_ifname(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (; *s; s++)
        if (*s == '/' || *s == ':' || *s <= ' ' || *s == 0x7f)
            return false;
    return true;
}

static int errno_code(int e)
{
    return e == EPERM || e == EACCES ? VMM_EPERM
           : e == ENOENT             ? VMM_ENOENT
           : e == EBUSY              ? VMM_EBUSY
                                     : VMM_EIO;
}

/* Open /dev/net/tun and attach it to TAP interface name (created if absent
 * and the process may). */
static int tap_open(vmm_device *dev, const char *name, int *out)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        vmm_device_error(dev, "config.tap: cannot open /dev/net/tun for \"%s\": %s", name,
                         strerror(e));
        return errno_code(e);
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    memcpy(ifr.ifr_name, name, strlen(name)); /* valid_ifname(): < IFNAMSIZ, NUL-padded */
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        vmm_device_error(dev, "config.tap: cannot attach TAP interface \"%s\": %s%s", name,
                         strerror(e),
                         e == EPERM ? " (needs CAP_NET_ADMIN, or `ip tuntap add ... user`)" : "");
        return errno_code(e);
    }
    *out = fd;
    return 0;
}

/* An embedder's TAP descriptor: it must be a TAP without packet information
 * or virtio-net headers (frames are plain Ethernet). Made non-blocking. */
static int tap_adopt(vmm_device *dev, int fd)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
        vmm_device_error(dev, "config.tap_fd: %d is not a TAP descriptor: %s", fd, strerror(errno));
        return VMM_ECONFIG;
    }
    if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN | IFF_NO_PI | IFF_VNET_HDR)) != (IFF_TAP | IFF_NO_PI)) {
        vmm_device_error(dev,
                         "config.tap_fd: %d must be a TAP opened with IFF_NO_PI and "
                         "without IFF_VNET_HDR",
                         fd);
        return VMM_ECONFIG;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        vmm_device_error(dev, "config.tap_fd: %d: %s", fd, strerror(errno));
        return VMM_EIO;
    }
    return 0;
}

static int get_string(vmm_device *dev, struct json_object *cfg, const char *key, const char **out)
{
    struct json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(cfg, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_string)) {
        vmm_device_error(dev, "config.%s: must be a string", key);
        return VMM_ECONFIG;
    }
    *out = json_object_get_string(v);
    return 1;
}

static const char *const net_keys[] = {VMM__VIRTIO_KEYS, "mac", "backend", "tap", "tap_fd", NULL};

/* The keys other than the transport's: backend, MAC, TAP. */
static int net_cfg(vmm_device *dev, struct json_object *cfg, struct net *n, int *tap_fd,
                   const char **tap)
{
    const char *backend, *mac;
    uint64_t fdv;
    int rc, has_fd;
    if ((rc = get_string(dev, cfg, "backend", &backend)) < 0 ||
        (rc = get_string(dev, cfg, "mac", &mac)) < 0 || (rc = get_string(dev, cfg, "tap", tap)) < 0)
        return rc;
    if ((has_fd = vmm__cfg_u64(dev, cfg, "tap_fd", 0, INT_MAX, 0, &fdv)) < 0)
        return VMM_ECONFIG;
    *tap_fd = has_fd ? (int)fdv : -1;
    if (backend && strcmp(backend, "tap") && strcmp(backend, "callback")) {
        vmm_device_error(dev, "config.backend: \"%s\" is not a backend (\"tap\" or \"callback\")",
                         backend);
        return VMM_ECONFIG;
    }
    /* Default: the TAP backend when a TAP is named, else the callbacks. */
    n->tap = backend ? !strcmp(backend, "tap") : (*tap || has_fd);
    if (n->tap && !*tap && !has_fd) {
        vmm_device_error(dev, "config.tap: required with backend \"tap\" (an interface name)");
        return VMM_ECONFIG;
    }
    if (n->tap && *tap && has_fd) {
        vmm_device_error(dev, "config.tap_fd: give \"tap\" or \"tap_fd\", not both");
        return VMM_ECONFIG;
    }
    if (!n->tap && (*tap || has_fd)) {
        vmm_device_error(dev, "config.%s: only with backend \"tap\"", *tap ? "tap" : "tap_fd");
        return VMM_ECONFIG;
    }
    if (*tap && !valid_ifname(*tap)) {
        vmm_device_error(dev,
                         "config.tap: \"%s\" is not an interface name (1-%d bytes, no '/', "
                         "':' or spaces)",
                         *tap, IFNAMSIZ - 1);
        return VMM_ECONFIG;
    }
    if (mac) {
        if (parse_mac(mac, n->config) < 0 || (n->config[0] & 1)) {
            vmm_device_error(dev,
                             "config.mac: \"%s\" is not a unicast MAC address like "
                             "\"52:54:00:12:34:56\"",
                             mac);
            return VMM_ECONFIG;
        }
    } else {
        default_mac(vmm_device_id(dev), n->config);
    }
    n->config[6] = S_LINK_UP; /* status, little-endian: the link is always up */
    n->config[7] = 0;
    return 0;
}

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
        rc = net_cfg(dev, cfg, n, &tap_fd, &tap);
    if (rc >= 0 && n->tap && !vmm_device_checking(dev)) {
        if (tap) {
            rc = tap_open(dev, tap, &n->fd);
            n->own_fd = rc >= 0;
        } else if ((rc = tap_adopt(dev, tap_fd)) >= 0) {
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
