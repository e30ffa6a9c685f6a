/* SPDX-License-Identifier: MIT */
/* Shared by guest/virtio_vsock_drv.c and tests/integration/test_virtio_vsock_kvm.c:
 * where the vsock guest driver finds its devices, the ports it uses, and
 * where it leaves its results. */
#ifndef LIBVMM_GUEST_VIRTIO_VSOCK_DRV_H
#define LIBVMM_GUEST_VIRTIO_VSOCK_DRV_H

#include <stdint.h>

#define VS_EXIT_MMIO  0xd0000000u /* debug-exit register: the driver's result */
#define VS_MMIO       0xd0001000u /* virtio-vsock */
#define VS_CID        3u
#define VS_RINGS      0x100000u /* 0x10000 per queue: desc, avail at +0x1000, used at +0x2000 */
#define VS_RXBUF      0x140000u /* VS_QUEUE receive buffers of VS_RXBUF_SIZE */
#define VS_RXBUF_SIZE 0x1000u
#define VS_TXBUF      0x150000u
#define VS_IO         0x180000u /* struct vs_io */
#define VS_QUEUE      8u
#define VS_OUT_PORT   1234u /* the guest's port of its connection to the host */
#define VS_HOST_PORT  5000u /* the host program listening on <uds_path>_5000 */
#define VS_IN_PORT    6000u /* the guest's listening port for host connections */
#define VS_GUEST_MSG  "hello from the guest"
#define VS_HOST_MSG   "hello from the host"

/* Results; the driver's exit status is 0 when every step worked, else the
 * number of the step that failed. */
struct vs_io {
    uint64_t cid;       /* guest_cid as read from the config space */
    uint32_t host_port; /* source port of the host's REQUEST */
    uint32_t got_len;   /* bytes of VS_HOST_MSG received */
    uint32_t echoed;    /* bytes echoed on the host-initiated connection */
    uint32_t last_op;   /* op of the last packet received */
    char got[64];
};

#endif
