/* SPDX-License-Identifier: MIT */
/* virtio-vsock's wire format (virtio 1.2 §5.10): the packet header, its
 * operations, flags and fixed CIDs. Freestanding (stdint.h only): the
 * device, the test guest's driver and the unit tests all include it. */
#ifndef LIBVMM_VIRTIO_VSOCK_PROTO_H
#define LIBVMM_VIRTIO_VSOCK_PROTO_H

#include <stdint.h>

/* §5.10.6: every packet starts with this header, little-endian. */
struct vsock_hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
#define VSOCK_HDR_SIZE 44u
_Static_assert(sizeof(struct vsock_hdr) == VSOCK_HDR_SIZE, "virtio_vsock_hdr is 44 bytes");

enum {
    VSOCK_OP_INVALID = 0,
    VSOCK_OP_REQUEST = 1,
    VSOCK_OP_RESPONSE = 2,
    VSOCK_OP_RST = 3,
    VSOCK_OP_SHUTDOWN = 4,
    VSOCK_OP_RW = 5,
    VSOCK_OP_CREDIT_UPDATE = 6,
    VSOCK_OP_CREDIT_REQUEST = 7,
};
#define VSOCK_TYPE_STREAM   1
#define VSOCK_SHUTDOWN_RCV  1u          /* flags of OP_SHUTDOWN: the sender will receive no more */
#define VSOCK_SHUTDOWN_SEND 2u          /* the sender will send no more */
#define VSOCK_F_STREAM      (1ull << 0) /* §5.10.3 */
#define VSOCK_HOST_CID      2u
/* §5.10.6.6: the event queue's one event, struct virtio_vsock_event { le32 id; }:
 * the device was restored or migrated; the driver drops every connection and
 * reads guest_cid again. */
#define VSOCK_EVENT_TRANSPORT_RESET 0u
#define VSOCK_EVENT_SIZE            4u

#endif
