/* SPDX-License-Identifier: MIT */
/* virtio-vsock (virtio 1.2 §5.10), stream sockets, with the host side as UNIX
 * sockets ("hybrid vsock"): a host program connects to uds_path and writes
 * "CONNECT <port>\n" to reach a guest port; a guest connecting to host port P
 * reaches the program listening on "<uds_path>_<P>". Guest packets are served
 * on the vCPU thread that notified; the device's I/O thread accepts host
 * connections and moves host bytes into the guest's receive buffers, only
 * while the guest has credit and buffers posted. Everything the guest sends is
 * checked: addresses, lengths against the chain and a packet cap, credit
 * (bytes held for a slow UNIX peer never exceed the buffer the device
 * advertised), and the number of connections is capped. */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../virtio/virtio.h"

/* §5.10.6 */
enum {
    OP_INVALID = 0,
    OP_REQUEST = 1,
    OP_RESPONSE = 2,
    OP_RST = 3,
    OP_SHUTDOWN = 4,
    OP_RW = 5,
    OP_CREDIT_UPDATE = 6,
    OP_CREDIT_REQUEST = 7,
};
#define TYPE_STREAM 1
#define SHUT_RCV    1u /* the sender will receive no more */
#define SHUT_SEND   2u /* the sender will send no more */
#define SHUT_BOTH   (SHUT_RCV | SHUT_SEND)
#define HOST_CID    2u
#define F_STREAM    (1ull << 0) /* §5.10.3 */

#define RXQ 0
#define TXQ 1

#define HDR         44u
#define BUF_ALLOC   (64u << 10) /* receive buffer the device advertises per connection */
#define CREDIT_STEP (BUF_ALLOC / 4)
#define MAX_PKT     (64u << 10) /* most payload in one packet, either way */
#define MAX_CONNS   32u
#define LINE_MAX    32u        /* "CONNECT <port>\n" and "OK <port>\n" */
#define MAX_RST     64u        /* RSTs waiting for receive buffers */
#define PORT_FIRST  (1u << 30) /* host-side ports of host-initiated connections */
#define ACCEPTS     8u         /* connections accepted per wake-up */
#define READS       64u        /* packets read from one socket per wake-up */

struct hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct hdr) == HDR, "virtio_vsock_hdr is 44 bytes");

enum state {
    C_FREE,
    C_LINE,      /* host connection: reading its CONNECT line */
    C_REQUESTED, /* host connection: OP_REQUEST for the guest, no answer yet */
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
     * line) first, then payload; at most LINE_MAX + BUF_ALLOC. */
    uint8_t *out;
    uint32_t out_len, out_ctl;
    char line[LINE_MAX];
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
    bool rx_held; /* a receive chain taken from the ring, not yet used */
    struct vmm__vq_chain rx;
    uint8_t bounce[MAX_PKT];
};

/* ---- the guest side: receive buffers and packets ---- */

static bool live(const struct vsock *v)
{
    return (v->t.status & VMM__VIRTIO_S_DRIVER_OK) && !v->t.broken && v->t.q[RXQ].ready;
}

/* A receive chain to fill: true with v->rx held. */
static bool rx_get(struct vsock *v)
{
    if (!live(v)) {
        v->rx_held = false;
        return false;
    }
    if (v->rx_held)
        return true;
    const char *why;
    int got = vmm__vq_pop(&v->t.q[RXQ], v->t.dev, vmm__virtio_has(&v->t, VMM__VIRTIO_F_INDIRECT),
                          &v->rx, &why);
    if (got < 0) {
        vmm__virtio_fail(&v->t, why);
        return false;
    }
    if (got == 0)
        return false;
    if (v->rx.readable || v->rx.writable <= HDR) {
        vmm__virtio_fail(&v->t, v->rx.readable ? "device-readable buffer on the rx queue"
                                               : "rx buffer too small for a header and data");
        return false;
    }
    v->rx_held = true;
    return true;
}

/* Fill the held receive chain with a packet and return it to the driver. */
static int rx_put(struct vsock *v, const struct hdr *h, const void *data, uint32_t len)
{
    v->rx_held = false;
    if (vmm__vq_write(v->t.dev, &v->rx, 0, h, HDR) < 0 ||
        (len && vmm__vq_write(v->t.dev, &v->rx, HDR, data, len) < 0)) {
        vmm__virtio_fail(&v->t, "rx buffer outside RAM");
        return VMM_EFAULT;
    }
    if (vmm__vq_push(&v->t.q[RXQ], v->t.dev, v->rx.head, HDR + len) < 0) {
        vmm__virtio_fail(&v->t, "used ring unwritable");
        return VMM_EFAULT;
    }
    v->need_used = true;
    return 0;
}

static struct hdr hdr_for(const struct vsock *v, uint32_t local, uint32_t peer, uint16_t op)
{
    return (struct hdr){.src_cid = HOST_CID,
                        .dst_cid = v->cid,
                        .src_port = local,
                        .dst_port = peer,
                        .type = TYPE_STREAM,
                        .op = op};
}

/* A packet of connection c: its credit goes along (§5.10.6.3). */
static struct hdr conn_hdr(const struct vsock *v, struct conn *c, uint16_t op)
{
    struct hdr h = hdr_for(v, c->local_port, c->peer_port, op);
    h.buf_alloc = BUF_ALLOC;
    h.fwd_cnt = c->fwd_cnt;
    c->fwd_told = c->fwd_cnt;
    c->pend &= ~(unsigned int)P_CREDIT;
    return h;
}

/* An RST for a flow the device keeps no state for; dropped (and logged) when
 * MAX_RST are already waiting: the guest is not taking its buffers back. */
static void queue_rst(struct vsock *v, uint32_t local, uint32_t peer)
{
    if (v->rst_n == MAX_RST) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_WARN, "too many resets waiting; one dropped");
        return;
    }
    unsigned int i = (v->rst_head + v->rst_n++) % MAX_RST;
    v->rst[i].local = local;
    v->rst[i].peer = peer;
}

/* Send waiting control packets while receive buffers last: resets first,
 * then each connection's in turn. */
static void flush(struct vsock *v)
{
    while (rx_get(v)) {
        struct hdr h;
        if (v->rst_n) {
            h = hdr_for(v, v->rst[v->rst_head].local, v->rst[v->rst_head].peer, OP_RST);
            v->rst_head = (v->rst_head + 1) % MAX_RST;
            v->rst_n--;
        } else {
            struct conn *c = NULL;
            for (unsigned int k = 0; k < MAX_CONNS && !c; k++) {
                struct conn *x = &v->c[(v->rr + k) % MAX_CONNS];
                if (x->state != C_FREE && x->state != C_LINE && x->pend)
                    c = x;
            }
            if (!c)
                return;
            v->rr = (unsigned int)(c - v->c + 1) % MAX_CONNS;
            if (c->pend & P_REQUEST) {
                c->pend &= ~(unsigned int)P_REQUEST;
                h = conn_hdr(v, c, OP_REQUEST);
            } else if (c->pend & P_RESPONSE) {
                c->pend &= ~(unsigned int)P_RESPONSE;
                h = conn_hdr(v, c, OP_RESPONSE);
            } else if (c->pend & P_SHUTDOWN) {
                c->pend &= ~(unsigned int)P_SHUTDOWN;
                h = conn_hdr(v, c, OP_SHUTDOWN);
                h.flags = c->shut_flags;
            } else {
                h = conn_hdr(v, c, OP_CREDIT_UPDATE);
            }
        }
        if (rx_put(v, &h, NULL, 0) < 0)
            return;
    }
}

/* ---- connections ---- */

static unsigned int slot(const struct vsock *v, const struct conn *c)
{
    return v->slot0 + 1 + (unsigned int)(c - v->c);
}

static uint32_t credit(const struct conn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* Close the UNIX side (the connection's state stays). */
static void close_host(struct vsock *v, struct conn *c)
{
    if (c->fd >= 0) {
        vmm__io_set(v->io, slot(v, c), -1, 0);
        close(c->fd);
        c->fd = -1;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_ctl = 0;
}

static void conn_free(struct vsock *v, struct conn *c)
{
    close_host(v, c);
    memset(c, 0, sizeof *c);
    c->fd = -1;
    v->listen_paused = false; /* a descriptor is free again */
}

/* Drop a connection the guest knows of and tell it with an RST. */
static void conn_reset(struct vsock *v, struct conn *c)
{
    if (c->state != C_LINE && !(c->state == C_REQUESTED && (c->pend & P_REQUEST)))
        queue_rst(v, c->local_port, c->peer_port);
    conn_free(v, c);
}

/* The UNIX side went away entirely: tell the guest neither direction carries
 * more (§5.10.6.5) and wait for its RST. */
static void host_gone(struct vsock *v, struct conn *c)
{
    close_host(v, c);
    c->state = C_CLOSING;
    c->shut_flags |= SHUT_BOTH;
    c->pend |= P_SHUTDOWN;
}

/* A free connection; when none is, one waiting for the guest's RST after a
 * clean close is reset and reused. NULL when all are busy. */
static struct conn *conn_new(struct vsock *v)
{
    struct conn *closing = NULL;
    for (unsigned int i = 0; i < MAX_CONNS; i++) {
        if (v->c[i].state == C_FREE)
            return &v->c[i];
        if (v->c[i].state == C_CLOSING && !closing)
            closing = &v->c[i];
    }
    if (closing)
        conn_reset(v, closing);
    return closing;
}

static struct conn *find(struct vsock *v, uint32_t local, uint32_t peer)
{
    for (unsigned int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &v->c[i];
        if (c->state > C_LINE && c->local_port == local && c->peer_port == peer)
            return c;
    }
    return NULL;
}

/* After the guest's data or a drain: tell the guest about freed buffer
 * space, and act on its SHUTDOWN once everything it sent was written. */
static void settle(struct vsock *v, struct conn *c)
{
    if (c->state != C_OPEN)
        return;
    /* Keep what the guest does not know of below CREDIT_STEP. */
    if (c->fwd_cnt - c->fwd_told >= CREDIT_STEP)
        c->pend |= P_CREDIT;
    if (c->out_len)
        return;
    if ((c->peer_shut & SHUT_BOTH) == SHUT_BOTH) {
        /* A clean close (§5.10.6.5): the guest waits for our RST. */
        conn_reset(v, c);
        return;
    }
    if ((c->peer_shut & SHUT_SEND) && !c->wr_shut) {
        shutdown(c->fd, SHUT_WR);
        c->wr_shut = true;
    }
}

/* Write held bytes to the socket. <0 when the connection was reset. */
static int drain(struct vsock *v, struct conn *c)
{
    bool backlog = c->out_len > 0;
    while (c->out_len) {
        ssize_t k = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (k <= 0) {
            conn_reset(v, c);
            return -1;
        }
        uint32_t n = (uint32_t)k, ctl = n < c->out_ctl ? n : c->out_ctl;
        c->out_ctl -= ctl;
        c->fwd_cnt += n - ctl;
        memmove(c->out, c->out + n, c->out_len - n);
        c->out_len -= n;
    }
    /* The guest may be waiting for the space this freed. */
    if (backlog && !c->out_len && c->fwd_cnt != c->fwd_told)
        c->pend |= P_CREDIT;
    settle(v, c);
    return 0;
}

/* Queue bytes for the socket (after what is held), then try to write. */
static int put_out(struct vsock *v, struct conn *c, const void *p, uint32_t n, bool ctl)
{
    if (!c->out && !(c->out = malloc(LINE_MAX + BUF_ALLOC))) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_ERROR, "out of memory; connection reset");
        conn_reset(v, c);
        return -1;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    if (ctl)
        c->out_ctl += n;
    return drain(v, c);
}

/* ---- guest packets (tx queue, vCPU thread) ---- */

/* The guest asks for host port h->dst_port: connect to "<uds_path>_<port>". */
static void guest_connect(struct vsock *v, const struct hdr *h)
{
    struct conn *c = find(v, h->dst_port, h->src_port);
    if (c) { /* a second REQUEST on a live flow */
        conn_reset(v, c);
        return;
    }
    if (!(c = conn_new(v))) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_WARN,
                               "guest connection to port %u refused: %u open", h->dst_port,
                               MAX_CONNS);
        queue_rst(v, h->dst_port, h->src_port);
        return;
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s_%u", v->path, h->dst_port);
    /* A UNIX connect does not wait: it succeeds or fails now (EAGAIN when
     * the listener's backlog is full). */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_DEBUG, "guest connection to %s: %s", a.sun_path,
                               strerror(errno));
        if (fd >= 0)
            close(fd);
        queue_rst(v, h->dst_port, h->src_port);
        return;
    }
    *c = (struct conn){.state = C_OPEN,
                       .fd = fd,
                       .local_port = h->dst_port,
                       .peer_port = h->src_port,
                       .pend = P_RESPONSE,
                       .peer_buf_alloc = h->buf_alloc,
                       .peer_fwd_cnt = h->fwd_cnt};
}

/* OP_RW: the payload goes to the socket, what it does not take now is held
 * (the guest's credit bounds it). <0: the payload is not in RAM. */
static int guest_data(struct vsock *v, struct conn *c, const struct vmm__vq_chain *ch, uint32_t len)
{
    if (c->state != C_OPEN || (c->peer_shut & SHUT_SEND)) {
        conn_reset(v, c);
        return 0;
    }
    if (len == 0)
        return 0;
    if (len > BUF_ALLOC - (c->rx_cnt - c->fwd_cnt)) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_WARN,
                               "guest port %u sent beyond its credit; connection reset",
                               c->peer_port);
        conn_reset(v, c);
        return 0;
    }
    if (vmm__vq_read(v->t.dev, ch, HDR, v->bounce, len) < 0)
        return VMM_EFAULT;
    c->rx_cnt += len;
    uint32_t off = 0;
    while (!c->out_len && off < len) {
        ssize_t k = send(c->fd, v->bounce + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (k <= 0) {
            conn_reset(v, c);
            return 0;
        }
        off += (uint32_t)k;
        c->fwd_cnt += (uint32_t)k;
    }
    if (off < len)
        put_out(v, c, v->bounce + off, len - off, false);
    else
        settle(v, c);
    return 0;
}

/* A bad packet: reset its flow. */
static void refuse(struct vsock *v, const struct hdr *h, const char *why)
{
    vmm_device_log_limited(v->t.dev, VMM_LOG_WARN, "packet %u -> %u (op %u): %s; reset",
                           h->src_port, h->dst_port, h->op, why);
    struct conn *c = find(v, h->dst_port, h->src_port);
    if (c)
        conn_reset(v, c);
    else if (h->op != OP_RST)
        queue_rst(v, h->dst_port, h->src_port);
}

static int packet(struct vsock *v, const struct vmm__vq_chain *ch, const struct hdr *h)
{
    /* §5.10.6.2: the guest's packets come from guest_cid; this device is
     * only the host's (CID 2) end. Anything else has no flow to reset. */
    if (h->src_cid != v->cid || h->dst_cid != HOST_CID) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_WARN,
                               "packet from cid %llu to cid %llu dropped (guest is %llu)",
                               (unsigned long long)h->src_cid, (unsigned long long)h->dst_cid,
                               (unsigned long long)v->cid);
        return 0;
    }
    if (h->len > MAX_PKT || h->len > ch->readable - HDR) {
        refuse(v, h, "length beyond the buffer or the packet limit");
        return 0;
    }
    if (h->type != TYPE_STREAM) { /* §5.10.6.4: RST for an unknown type */
        refuse(v, h, "not a stream packet");
        return 0;
    }
    if (h->op == OP_REQUEST) {
        guest_connect(v, h);
        return 0;
    }
    struct conn *c = find(v, h->dst_port, h->src_port);
    if (!c) {
        if (h->op != OP_RST)
            queue_rst(v, h->dst_port, h->src_port);
        return 0;
    }
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    switch (h->op) {
    case OP_RESPONSE: {
        if (c->state != C_REQUESTED || (c->pend & P_REQUEST)) {
            refuse(v, h, "unexpected response");
            break;
        }
        c->state = C_OPEN;
        char ok[LINE_MAX];
        int n = snprintf(ok, sizeof ok, "OK %u\n", c->local_port);
        put_out(v, c, ok, (uint32_t)n, true);
        break;
    }
    case OP_RST:
        conn_free(v, c);
        break;
    case OP_SHUTDOWN:
        if (c->state == C_CLOSING) { /* both sides are done: the clean close's RST */
            conn_reset(v, c);
            break;
        }
        if (c->state != C_OPEN) {
            refuse(v, h, "shutdown before the connection was open");
            break;
        }
        if ((h->flags & SHUT_RCV) && !(c->peer_shut & SHUT_RCV))
            shutdown(c->fd, SHUT_RD); /* the UNIX peer's writes now fail */
        c->peer_shut |= h->flags & SHUT_BOTH;
        settle(v, c);
        break;
    case OP_RW:
        return guest_data(v, c, ch, h->len);
    case OP_CREDIT_UPDATE: /* the credit was taken above */
        break;
    case OP_CREDIT_REQUEST:
        c->pend |= P_CREDIT;
        break;
    default:
        refuse(v, h, "unknown operation");
        break;
    }
    return 0;
}

static int64_t tx_serve(void *model, const struct vmm__vq_chain *ch, const char **why)
{
    struct vsock *v = model;
    struct hdr h;
    if (ch->writable) {
        *why = "device-writable buffer on the tx queue";
        return VMM_EINVAL;
    }
    if (ch->readable < HDR) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_WARN, "tx packet shorter than its header dropped");
        return 0;
    }
    if (vmm__vq_read(v->t.dev, ch, 0, &h, HDR) < 0 || packet(v, ch, &h) < 0) {
        *why = "tx buffer outside RAM";
        return VMM_EFAULT;
    }
    return 0;
}

/* ---- the host side (I/O thread) ---- */

/* "CONNECT <port>\n": the port, or -1. */
static int64_t parse_connect(const char *s, size_t n)
{
    static const char verb[] = "CONNECT ";
    if (n < sizeof verb + 1 || memcmp(s, verb, sizeof verb - 1) || s[n - 1] != '\n')
        return -1;
    uint64_t port = 0;
    size_t i = sizeof verb - 1, digits = 0;
    for (; i < n - 1; i++, digits++) {
        if (s[i] < '0' || s[i] > '9' || digits == 10)
            return -1;
        port = port * 10 + (uint64_t)(s[i] - '0');
    }
    return digits && port <= UINT32_MAX ? (int64_t)port : -1;
}

/* A host-side port no connection to peer uses. */
static uint32_t pick_port(struct vsock *v, uint32_t peer)
{
    for (;;) {
        uint32_t p = v->next_port;
        v->next_port = p == UINT32_MAX - 1 ? PORT_FIRST : p + 1;
        if (!find(v, p, peer))
            return p;
    }
}

/* Read the CONNECT line, never past its newline: what follows is stream data. */
static void read_line(struct vsock *v, struct conn *c)
{
    char buf[LINE_MAX];
    ssize_t k = recv(c->fd, buf, LINE_MAX - c->line_len, MSG_PEEK | MSG_DONTWAIT);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (k <= 0) {
        conn_free(v, c);
        return;
    }
    const char *nl = memchr(buf, '\n', (size_t)k);
    size_t take = nl ? (size_t)(nl - buf) + 1 : (size_t)k;
    if (recv(c->fd, c->line + c->line_len, take, MSG_DONTWAIT) != (ssize_t)take) {
        conn_free(v, c);
        return;
    }
    c->line_len += (unsigned int)take;
    if (!nl) {
        if (c->line_len == LINE_MAX) {
            vmm_device_log_limited(v->t.dev, VMM_LOG_WARN, "over-long CONNECT line; closed");
            conn_free(v, c);
        }
        return;
    }
    int64_t port = parse_connect(c->line, c->line_len);
    if (port < 0) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_WARN, "malformed CONNECT line; closed");
        conn_free(v, c);
        return;
    }
    c->peer_port = (uint32_t)port;
    c->local_port = pick_port(v, c->peer_port);
    c->state = C_REQUESTED;
    c->pend = P_REQUEST;
}

static void on_listen(struct vsock *v)
{
    for (unsigned int n = 0; n < ACCEPTS; n++) {
        int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* Out of descriptors: stop listening until one is freed
                 * rather than spin on a listener that stays readable. */
                vmm_device_log_limited(v->t.dev, VMM_LOG_WARN, "accept: %s", strerror(errno));
                v->listen_paused = true;
            }
            return;
        }
        struct conn *c = conn_new(v);
        if (!c) {
            vmm_device_log_limited(v->t.dev, VMM_LOG_WARN,
                                   "host connection refused: %u connections open", MAX_CONNS);
            close(fd);
            continue;
        }
        c->state = C_LINE;
        c->fd = fd;
    }
}

/* Host bytes into the guest's receive buffers, within its credit. */
static void to_guest(struct vsock *v, struct conn *c)
{
    for (unsigned int n = 0; n < READS; n++) {
        uint32_t want = credit(c);
        if (!want || !rx_get(v))
            return;
        uint32_t room = v->rx.writable - HDR;
        want = want < room ? want : room;
        want = want < MAX_PKT ? want : MAX_PKT;
        ssize_t k = recv(c->fd, v->bounce, want, MSG_DONTWAIT);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (k < 0) {
            conn_reset(v, c);
            return;
        }
        if (k == 0) { /* the UNIX peer sends no more; it may still read */
            c->host_eof = true;
            c->shut_flags |= SHUT_SEND;
            c->pend |= P_SHUTDOWN;
            return;
        }
        struct hdr h = conn_hdr(v, c, OP_RW);
        h.len = (uint32_t)k;
        if (rx_put(v, &h, v->bounce, (uint32_t)k) < 0)
            return;
        c->tx_cnt += (uint32_t)k;
    }
}

static void on_conn(struct vsock *v, struct conn *c, short rev)
{
    if (c->state == C_LINE) {
        read_line(v, c);
    } else if (c->state == C_REQUESTED) {
        if (rev & (POLLHUP | POLLERR)) /* gave up before the guest answered */
            conn_reset(v, c);
    } else if (c->state == C_OPEN) {
        if (rev & POLLERR) {
            conn_reset(v, c);
            return;
        }
        if ((rev & (POLLOUT | POLLHUP)) && c->out_len && drain(v, c) < 0)
            return;
        if ((rev & POLLIN) && c->state == C_OPEN)
            to_guest(v, c);
        /* Fully closed, with nothing left to read or write. */
        if ((rev & POLLHUP) && c->state == C_OPEN && !c->out_len &&
            (c->host_eof || (c->peer_shut & SHUT_RCV)))
            host_gone(v, c);
    }
}

/* What the I/O thread waits for on each descriptor. */
static void watch(struct vsock *v)
{
    vmm__io_set(v->io, v->slot0, v->listen_fd, v->listen_paused ? 0 : POLLIN);
    bool rx_ok = rx_get(v);
    for (unsigned int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &v->c[i];
        short ev = 0;
        if (c->state == C_LINE) {
            ev = POLLIN;
        } else if (c->state == C_REQUESTED) {
            ev = POLLPRI; /* never ready on a UNIX socket: hang-ups only */
        } else if (c->state == C_OPEN) {
            bool rd = !c->host_eof && !(c->peer_shut & SHUT_RCV);
            if (rd && rx_ok && credit(c) && !(c->pend & P_RESPONSE))
                ev |= POLLIN;
            if (c->out_len)
                ev |= POLLOUT;
            /* Done reading: still notice the peer closing. While reading,
             * the hang-up waits until the data before it was read. */
            if (!ev && !rd)
                ev = POLLPRI;
        }
        if (c->fd >= 0)
            vmm__io_set(v->io, slot(v, c), c->fd, ev);
    }
}

/* After every event: control packets out, interrupt, new watch set. */
static void finish(struct vsock *v)
{
    flush(v);
    watch(v);
    if (v->need_used) {
        v->need_used = false;
        vmm__virtio_used(&v->t);
    }
}

static void io_ready(void *model, unsigned int idx, short revents)
{
    struct vsock *v = model;
    if (idx == v->slot0)
        on_listen(v);
    else if (idx > v->slot0 && idx - v->slot0 - 1 < MAX_CONNS)
        on_conn(v, &v->c[idx - v->slot0 - 1], revents);
    finish(v);
}

/* ---- device model ---- */

static int vsock_notify(void *model, struct vmm__virtio *t, unsigned int q)
{
    struct vsock *v = model;
    int rc = 0;
    if (q == TXQ)
        rc = vmm__virtio_serve(t, q, tx_serve);
    /* rx: new buffers for waiting packets and readers; event queue: unused. */
    finish(v);
    return rc;
}

static void vsock_config_read(void *model, uint32_t off, void *data, unsigned int size)
{
    memcpy(data, (const uint8_t *)&((struct vsock *)model)->cid + off, size);
}

static void vsock_reset(void *model)
{
    struct vsock *v = model;
    for (unsigned int i = 0; i < MAX_CONNS; i++)
        conn_free(v, &v->c[i]);
    v->rst_n = v->rst_head = 0;
    v->rx_held = false;
    v->need_used = false;
    /* The rings are being torn down: no watch() (it would take a chain). */
    vmm__io_set(v->io, v->slot0, v->listen_fd, POLLIN);
}

static void vsock_destroy(void *model)
{
    struct vsock *v = model;
    vmm__io_free(v->io); /* the thread is gone: nothing else touches v */
    for (unsigned int i = 0; i < MAX_CONNS; i++) {
        if (v->c[i].fd >= 0)
            close(v->c[i].fd);
        free(v->c[i].out);
    }
    if (v->listen_fd >= 0) {
        close(v->listen_fd);
        unlink(v->path);
    }
    free(v->path);
    free(v);
}

static const struct vmm__virtio_ops vsock_model = {
    .device_id = 19,
    .features = F_STREAM,
    .nqueues = 3,
    .queue_max = 256,
    .config_size = 8,
    .config_read = vsock_config_read,
    .notify = vsock_notify,
    .reset = vsock_reset,
};

static const char *const vsock_keys[] = {"mmio", "irq", "guest_cid", "uds_path", NULL};

/* Listen on path; VMM_EEXIST if something is there already. */
static int listen_on(vmm_device *dev, const char *path, int *out)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        vmm_device_error(dev, "config.uds_path: socket: %s", strerror(errno));
        return VMM_EIO;
    }
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = errno;
        close(fd);
        vmm_device_error(dev, "config.uds_path: %s: %s%s", path, strerror(e),
                         e == EADDRINUSE ? " (remove the stale socket first)" : "");
        return e == EADDRINUSE ? VMM_EEXIST : e == ENOENT ? VMM_ENOENT : VMM_EIO;
    }
    if (listen(fd, 16) < 0) {
        vmm_device_error(dev, "config.uds_path: listen: %s", strerror(errno));
        close(fd);
        unlink(path);
        return VMM_EIO;
    }
    *out = fd;
    return 0;
}

static int vsock_create(vmm_device *dev, const char *config, void **state)
{
    struct json_object *cfg, *p;
    int rc = vmm__cfg_parse(dev, config, vsock_keys, &cfg);
    if (rc < 0)
        return rc;
    uint64_t base, cid = 0;
    int irq;
    const char *path = NULL;
    rc = vmm__virtio_cfg(dev, cfg, &base, &irq);
    if (rc >= 0) {
        /* §5.10.4: 0, 1, 2 and 0xffffffff are reserved; the upper half is zero. */
        int got = vmm__cfg_u64(dev, cfg, "guest_cid", 3, 0xfffffffeu, 0, &cid);
        if (got == 0)
            vmm_device_error(dev, "config.guest_cid: required (3 .. 4294967294)");
        if (got <= 0)
            rc = VMM_ECONFIG;
    }
    /* "<uds_path>_<port>" must fit a socket address. */
    const size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1 - 11;
    if (rc >= 0) {
        if (!json_object_object_get_ex(cfg, "uds_path", &p) ||
            !json_object_is_type(p, json_type_string) || !*json_object_get_string(p)) {
            vmm_device_error(dev, "config.uds_path: required (a UNIX socket path to create)");
            rc = VMM_ECONFIG;
        } else if (strlen(path = json_object_get_string(p)) > max) {
            vmm_device_error(dev, "config.uds_path: longer than %zu bytes", max);
            rc = VMM_ECONFIG;
        }
    }
    struct vsock *v = NULL;
    if (rc >= 0 && (!(v = calloc(1, sizeof *v)) || !(v->path = strdup(path)))) {
        free(v);
        v = NULL;
        rc = VMM_ENOMEM;
    }
    vmm__cfg_free(cfg);
    if (rc < 0)
        return rc;
    v->cid = cid;
    v->listen_fd = -1;
    v->next_port = PORT_FIRST;
    for (unsigned int i = 0; i < MAX_CONNS; i++)
        v->c[i].fd = -1;
    if ((rc = vmm__virtio_init(&v->t, dev, &vsock_model, v, base, irq)) < 0 ||
        (rc = listen_on(dev, v->path, &v->listen_fd)) < 0 ||
        (rc = vmm__io_new(dev, io_ready, v, &v->io)) < 0)
        goto fail;
    int s = vmm__io_add(v->io, v->listen_fd, POLLIN);
    for (unsigned int i = 0; s >= 0 && i < MAX_CONNS; i++)
        if (vmm__io_add(v->io, -1, 0) < 0)
            s = VMM_E2BIG;
    if (s < 0) {
        vmm_device_error(dev, "I/O thread: too many descriptors");
        rc = VMM_E2BIG;
        goto fail;
    }
    v->slot0 = (unsigned int)s;
    if ((rc = vmm__io_start(v->io)) < 0)
        goto fail;
    *state = v;
    return 0;
fail:
    vsock_destroy(v);
    return rc;
}

const vmm_device_ops vmm__virtio_vsock_ops = {
    .version = VMM_DEVICE_OPS_VERSION,
    .name = "virtio-vsock",
    .create = vsock_create,
    .read = vmm__virtio_dev_read,
    .write = vmm__virtio_dev_write,
    .reset = vmm__virtio_dev_reset,
    .destroy = vsock_destroy,
};
