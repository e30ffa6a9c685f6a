/* SPDX-License-Identifier: MIT */
/* virtio-vsock's private declarations, shared by the guest side
 * (virtio_vsock.c: queues, guest packets, the device model) and the host side
 * (virtio_vsock_host.c: connections, UNIX sockets, the I/O thread). */
#ifndef LIBVMM_DEVICES_VIRTIO_VSOCK_H
#define LIBVMM_DEVICES_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../virtio/virtio.h"
#include "../virtio/vsock_proto.h"

#define SHUT_BOTH (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

#define RXQ 0
#define TXQ 1
#define EVQ 2

#define BUF_ALLOC   (64u << 10) /* receive buffer the device advertises per connection */
#define CREDIT_STEP (BUF_ALLOC / 4)
#define MAX_PKT     (64u << 10) /* most payload in one packet, either way */
#define MAX_CONNS   32u
#define VS_LINE_MAX 32u        /* "CONNECT <port>\n" and "OK <port>\n" */
#define MAX_RST     64u        /* RSTs waiting for receive buffers */
#define PORT_FIRST  (1u << 30) /* host-side ports of host-initiated connections */
#define ACCEPTS     8u         /* connections accepted per wake-up */
#define READS       64u        /* packets read from one socket per wake-up */

enum state {
    C_FREE,
    C_LINE,      /* host connection: reading its CONNECT line */
    C_REQUESTED, /* host connection: VSOCK_OP_REQUEST for the guest, no answer yet */
    C_OPEN,      /* established */
    C_CLOSING,   /* the UNIX side is gone; the guest was told, waiting for its RST */
};

/* Control packets a connection owes the guest (sent as receive buffers come). */
enum { P_REQUEST = 1, P_RESPONSE = 2, P_SHUTDOWN = 4, P_CREDIT = 8 };

struct conn {
    enum state state;
    int fd;
    uint32_t local_port, peer_port; /* host side, guest side */
    unsigned int pend;              /* P_* */
    uint32_t shut_flags;            /* SHUTDOWN flags for the guest (cumulative) */
    uint32_t peer_shut;             /* the guest's SHUTDOWN flags */
    bool host_eof, wr_shut;
    /* Host to guest: the guest's credit (§5.10.6.3). */
    uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
    /* Guest to host: payload bytes taken, written to the socket, and the
     * written count last told the guest. */
    uint32_t rx_cnt, fwd_cnt, fwd_told;
    /* Bytes the socket would not take yet: out_ctl bytes of our own ("OK"
     * line) first, then payload; at most VS_LINE_MAX + BUF_ALLOC. */
    uint8_t *out;
    uint32_t out_len, out_ctl;
    char line[VS_LINE_MAX];
    unsigned int line_len;
};

struct vsock {
    struct vmm__virtio t; /* first: vmm__virtio_dev_read() and friends rely on it */
    uint64_t cid;
    char *path;
    int listen_fd;
    bool listen_paused; /* out of descriptors: wait until a connection closes */
    struct vmm__io *io;
    unsigned int slot0; /* I/O entry of the listener; connection i is slot0 + 1 + i */
    uint32_t next_port;
    unsigned int rr; /* where the next control packet search starts */
    bool need_used;
    struct conn c[MAX_CONNS];
    struct {
        uint32_t local, peer;
    } rst[MAX_RST];
    unsigned int rst_head, rst_n;
    bool event_pending; /* a TRANSPORT_RESET owed to the driver (after a restore) */
    bool rx_held;       /* a receive chain taken from the ring, not yet used */
    struct vmm__vq_chain rx;
    uint8_t bounce[MAX_PKT];
};

/* ---- virtio_vsock.c: the guest side ---- */
/* Take a receive chain to fill (true: v->rx is held). */
VMM__HIDDEN bool vmm__vsock_rx_get(struct vsock *v);
/* Fill the held receive chain with a packet and return it to the driver. */
VMM__HIDDEN int vmm__vsock_rx_put(struct vsock *v, const struct vsock_hdr *h, const void *data,
                                  uint32_t len);
/* A header of connection c, carrying its credit (which is then told). */
VMM__HIDDEN struct vsock_hdr vmm__vsock_conn_hdr(const struct vsock *v, struct conn *c,
                                                 uint16_t op);
/* Queue an RST for a flow the device keeps no state for. */
VMM__HIDDEN void vmm__vsock_queue_rst(struct vsock *v, uint32_t local, uint32_t peer);
/* Send waiting control packets while receive buffers last. */
VMM__HIDDEN void vmm__vsock_flush(struct vsock *v);

/* ---- virtio_vsock_host.c: connections and the host side ---- */
VMM__HIDDEN void vmm__vsock_conn_free(struct vsock *v, struct conn *c);
/* Drop a connection the guest knows of and tell it with an RST. */
VMM__HIDDEN void vmm__vsock_conn_reset(struct vsock *v, struct conn *c);
/* Send up to n bytes to the connection's socket without blocking: how many
 * went (0: the socket is full), or -1 once the connection is reset (an error,
 * or the peer gone). */
VMM__HIDDEN ssize_t vmm__vsock_send(struct vsock *v, struct conn *c, const void *p, size_t n);
/* A free connection (reclaiming one that only waits for the guest's RST), or NULL. */
VMM__HIDDEN struct conn *vmm__vsock_conn_new(struct vsock *v);
/* The connection of a (host port, guest port) flow, or NULL. */
VMM__HIDDEN struct conn *vmm__vsock_find(struct vsock *v, uint32_t local, uint32_t peer);
/* After the guest's data: credit updates, and its SHUTDOWN once all is written. */
VMM__HIDDEN void vmm__vsock_settle(struct vsock *v, struct conn *c);
/* Queue bytes for the socket (ctl: our own, not payload) and try to write.
 * <0 when the connection was reset. */
VMM__HIDDEN int vmm__vsock_put_out(struct vsock *v, struct conn *c, const void *p, uint32_t n,
                                   bool ctl);
/* After every event: control packets out, the used interrupt, the watch set. */
VMM__HIDDEN void vmm__vsock_finish(struct vsock *v);
/* The I/O thread's callback. */
VMM__HIDDEN void vmm__vsock_io_ready(void *model, unsigned int idx, short revents);
/* Listen on path (created here; VMM_EEXIST if something is there). */
VMM__HIDDEN int vmm__vsock_listen(vmm_device *dev, const char *path, int *out);
/* What vmm__vsock_listen() would refuse, checked without a socket. */
VMM__HIDDEN int vmm__vsock_check_path(vmm_device *dev, const char *path);

#endif
