/* SPDX-License-Identifier: MIT */
/* virtio-net's state, shared by the device model (virtio_net.c) and its
 * configuration and TAP set-up (virtio_net_cfg.c). */
#ifndef LIBVMM_DEVICES_VIRTIO_NET_H
#define LIBVMM_DEVICES_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "../virtio/virtio.h"

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

/* The keys other than the transport's: "backend", "mac", "tap", "tap_fd"
 * (virtio_net_cfg.c). Sets n->tap and n->config's MAC; *tap_fd and *tap
 * receive the TAP to adopt or open. */
VMM__HIDDEN int vmm__net_cfg(vmm_device *dev, struct json_object *cfg, struct net *n, int *tap_fd,
                             const char **tap);
/* Open and attach TAP interface name (non-blocking) into *out. */
VMM__HIDDEN int vmm__net_tap_open(vmm_device *dev, const char *name, int *out);
/* Check that fd is a TAP descriptor this device can use. */
VMM__HIDDEN int vmm__net_tap_adopt(vmm_device *dev, int fd);

#endif
