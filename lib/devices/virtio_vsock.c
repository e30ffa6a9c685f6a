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

#include "builtin.h"
#include "virtio_vsock.h"

/* ---- the guest side: receive buffers and packets ---- */

static bool live(const struct vsock *v)
{
    return (v->t.status & VMM__VIRTIO_S_DRIVER_OK) && !v->t.broken && v->t.q[RXQ].ready;
}

/* A receive chain to fill: true with v->rx held. */
bool vmm__vsock_rx_get(struct vsock *v)
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
    if (v->rx.readable || v->rx.writable <= VSOCK_HDR_SIZE) {
        vmm__virtio_fail(&v->t, v->rx.readable ? "device-readable buffer on the rx queue"
                                               : "rx buffer too small for a header and data");
        return false;
    }
    v->rx_held = true;
    return true;
}

/* Fill the held receive chain with a packet and return it to the driver. */
int vmm__vsock_rx_put(struct vsock *v, const struct vsock_hdr *h, const void *data, uint32_t len)
{
    v->rx_held = false;
    if (vmm__vq_write(v->t.dev, &v->rx, 0, h, VSOCK_HDR_SIZE) < 0 ||
        (len && vmm__vq_write(v->t.dev, &v->rx, VSOCK_HDR_SIZE, data, len) < 0)) {
        vmm__virtio_fail(&v->t, "rx buffer outside RAM");
        return VMM_EFAULT;
    }
    if (vmm__vq_push(&v->t.q[RXQ], v->t.dev, v->rx.head, VSOCK_HDR_SIZE + len) < 0) {
        vmm__virtio_fail(&v->t, "used ring unwritable");
        return VMM_EFAULT;
    }
    v->need_used = true;
    return 0;
}

static struct vsock_hdr hdr_for(const struct vsock *v, uint32_t local, uint32_t peer, uint16_t op)
{
    return (struct vsock_hdr){.src_cid = VSOCK_HOST_CID,
                              .dst_cid = v->cid,
                              .src_port = local,
                              .dst_port = peer,
                              .type = VSOCK_TYPE_STREAM,
                              .op = op};
}

/* A packet of connection c: its credit goes along (§5.10.6.3). */
struct vsock_hdr vmm__vsock_conn_hdr(const struct vsock *v, struct conn *c, uint16_t op)
{
    struct vsock_hdr h = hdr_for(v, c->local_port, c->peer_port, op);
    h.buf_alloc = BUF_ALLOC;
    h.fwd_cnt = c->fwd_cnt;
    c->fwd_told = c->fwd_cnt;
    c->pend &= ~(unsigned int)P_CREDIT;
    return h;
}

/* An RST for a flow the device keeps no state for; dropped (and logged) when
 * MAX_RST are already waiting: the guest is not taking its buffers back. */
void vmm__vsock_queue_rst(struct vsock *v, uint32_t local, uint32_t peer)
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
void vmm__vsock_flush(struct vsock *v)
{
    while (vmm__vsock_rx_get(v)) {
        struct vsock_hdr h;
        if (v->rst_n) {
            h = hdr_for(v, v->rst[v->rst_head].local, v->rst[v->rst_head].peer, VSOCK_OP_RST);
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
                h = vmm__vsock_conn_hdr(v, c, VSOCK_OP_REQUEST);
            } else if (c->pend & P_RESPONSE) {
                c->pend &= ~(unsigned int)P_RESPONSE;
                h = vmm__vsock_conn_hdr(v, c, VSOCK_OP_RESPONSE);
            } else if (c->pend & P_SHUTDOWN) {
                c->pend &= ~(unsigned int)P_SHUTDOWN;
                h = vmm__vsock_conn_hdr(v, c, VSOCK_OP_SHUTDOWN);
                h.flags = c->shut_flags;
            } else {
                h = vmm__vsock_conn_hdr(v, c, VSOCK_OP_CREDIT_UPDATE);
            }
        }
        if (vmm__vsock_rx_put(v, &h, NULL, 0) < 0)
            return;
    }
}

/* ---- guest packets (tx queue, vCPU thread) ---- */

/* The guest asks for host port h->dst_port: connect to "<uds_path>_<port>". */
static void guest_connect(struct vsock *v, const struct vsock_hdr *h)
{
    struct conn *c = vmm__vsock_find(v, h->dst_port, h->src_port);
    if (c) { /* a second REQUEST on a live flow */
        vmm__vsock_conn_reset(v, c);
        return;
    }
    if (!(c = vmm__vsock_conn_new(v))) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_WARN,
                               "guest connection to port %u refused: %u open", h->dst_port,
                               MAX_CONNS);
        vmm__vsock_queue_rst(v, h->dst_port, h->src_port);
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
        vmm__vsock_queue_rst(v, h->dst_port, h->src_port);
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

/* VSOCK_OP_RW: the payload goes to the socket, what it does not take now is held
 * (the guest's credit bounds it). <0: the payload is not in RAM. */
static int guest_data(struct vsock *v, struct conn *c, const struct vmm__vq_chain *ch, uint32_t len)
{
    if (c->state != C_OPEN || (c->peer_shut & VSOCK_SHUTDOWN_SEND)) {
        vmm__vsock_conn_reset(v, c);
        return 0;
    }
    if (len == 0)
        return 0;
    if (len > BUF_ALLOC - (c->rx_cnt - c->fwd_cnt)) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_WARN,
                               "guest port %u sent beyond its credit; connection reset",
                               c->peer_port);
        vmm__vsock_conn_reset(v, c);
        return 0;
    }
    if (vmm__vq_read(v->t.dev, ch, VSOCK_HDR_SIZE, v->bounce, len) < 0)
        return VMM_EFAULT;
    c->rx_cnt += len;
    uint32_t off = 0;
    while (!c->out_len && off < len) {
        ssize_t k = vmm__vsock_send(v, c, v->bounce + off, len - off);
        if (k < 0)
            return 0;
        if (k == 0)
            break;
        off += (uint32_t)k;
        c->fwd_cnt += (uint32_t)k;
    }
    if (off < len)
        vmm__vsock_put_out(v, c, v->bounce + off, len - off, false);
    else
        vmm__vsock_settle(v, c);
    return 0;
}

/* A bad packet: reset its flow. */
static void refuse(struct vsock *v, const struct vsock_hdr *h, const char *why)
{
    vmm_device_log_limited(v->t.dev, VMM_LOG_WARN, "packet %u -> %u (op %u): %s; reset",
                           h->src_port, h->dst_port, h->op, why);
    struct conn *c = vmm__vsock_find(v, h->dst_port, h->src_port);
    if (c)
        vmm__vsock_conn_reset(v, c);
    else if (h->op != VSOCK_OP_RST)
        vmm__vsock_queue_rst(v, h->dst_port, h->src_port);
}

static int packet(struct vsock *v, const struct vmm__vq_chain *ch, const struct vsock_hdr *h)
{
    /* §5.10.6.2: the guest's packets come from guest_cid; this device is
     * only the host's (CID 2) end. Anything else has no flow to reset. */
    if (h->src_cid != v->cid || h->dst_cid != VSOCK_HOST_CID) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_WARN,
                               "packet from cid %llu to cid %llu dropped (guest is %llu)",
                               (unsigned long long)h->src_cid, (unsigned long long)h->dst_cid,
                               (unsigned long long)v->cid);
        return 0;
    }
    if (h->len > MAX_PKT || h->len > ch->readable - VSOCK_HDR_SIZE) {
        refuse(v, h, "length beyond the buffer or the packet limit");
        return 0;
    }
    if (h->type != VSOCK_TYPE_STREAM) { /* §5.10.6.4: RST for an unknown type */
        refuse(v, h, "not a stream packet");
        return 0;
    }
    if (h->op == VSOCK_OP_REQUEST) {
        guest_connect(v, h);
        return 0;
    }
    struct conn *c = vmm__vsock_find(v, h->dst_port, h->src_port);
    if (!c) {
        if (h->op != VSOCK_OP_RST)
            vmm__vsock_queue_rst(v, h->dst_port, h->src_port);
        return 0;
    }
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    switch (h->op) {
    case VSOCK_OP_RESPONSE: {
        if (c->state != C_REQUESTED || (c->pend & P_REQUEST)) {
            refuse(v, h, "unexpected response");
            break;
        }
        c->state = C_OPEN;
        char ok[VS_LINE_MAX];
        int n = snprintf(ok, sizeof ok, "OK %u\n", c->local_port);
        vmm__vsock_put_out(v, c, ok, (uint32_t)n, true);
        break;
    }
    case VSOCK_OP_RST:
        vmm__vsock_conn_free(v, c);
        break;
    case VSOCK_OP_SHUTDOWN:
        if (c->state == C_CLOSING) { /* both sides are done: the clean close's RST */
            vmm__vsock_conn_reset(v, c);
            break;
        }
        if (c->state != C_OPEN) {
            refuse(v, h, "shutdown before the connection was open");
            break;
        }
        if ((h->flags & VSOCK_SHUTDOWN_RCV) && !(c->peer_shut & VSOCK_SHUTDOWN_RCV))
            shutdown(c->fd, SHUT_RD); /* the UNIX peer's writes now fail */
        c->peer_shut |= h->flags & SHUT_BOTH;
        vmm__vsock_settle(v, c);
        break;
    case VSOCK_OP_RW:
        return guest_data(v, c, ch, h->len);
    case VSOCK_OP_CREDIT_UPDATE: /* the credit was taken above */
        break;
    case VSOCK_OP_CREDIT_REQUEST:
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
    struct vsock_hdr h;
    if (ch->writable) {
        *why = "device-writable buffer on the tx queue";
        return VMM_EINVAL;
    }
    if (ch->readable < VSOCK_HDR_SIZE) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_WARN, "tx packet shorter than its header dropped");
        return 0;
    }
    if (vmm__vq_read(v->t.dev, ch, 0, &h, VSOCK_HDR_SIZE) < 0 || packet(v, ch, &h) < 0) {
        *why = "tx buffer outside RAM";
        return VMM_EFAULT;
    }
    return 0;
}

/* ---- device model ---- */

/* Send the TRANSPORT_RESET owed since a restore, once the driver has posted
 * an event buffer. <0: the driver broke the protocol. */
static int send_event(struct vsock *v)
{
    struct vmm__vq *q = &v->t.q[EVQ];
    if (!v->event_pending || !(v->t.status & VMM__VIRTIO_S_DRIVER_OK) || v->t.broken || !q->ready)
        return 0;
    struct vmm__vq_chain ch;
    const char *why = NULL;
    int got = vmm__vq_pop(q, v->t.dev, vmm__virtio_has(&v->t, VMM__VIRTIO_F_INDIRECT), &ch, &why);
    if (got == 0)
        return 0;
    const uint32_t id = VSOCK_EVENT_TRANSPORT_RESET;
    if (got > 0 && (ch.readable || ch.writable < VSOCK_EVENT_SIZE))
        got = VMM_EINVAL, why = "event buffer not 4 device-writable bytes";
    else if (got > 0 && vmm__vq_write(v->t.dev, &ch, 0, &id, VSOCK_EVENT_SIZE) < 0)
        got = VMM_EFAULT, why = "event buffer outside RAM";
    else if (got > 0 && vmm__vq_push(q, v->t.dev, ch.head, VSOCK_EVENT_SIZE) < 0)
        got = VMM_EFAULT, why = "used ring unwritable";
    if (got < 0) {
        vmm__virtio_fail(&v->t, why ? why : "bad event buffer");
        return got;
    }
    v->event_pending = false;
    vmm__virtio_used(&v->t);
    return 0;
}

static int vsock_notify(void *model, struct vmm__virtio *t, unsigned int q)
{
    struct vsock *v = model;
    int rc = 0;
    v->listen_paused = false; /* retry an accept that ran out of descriptors */
    if (q == TXQ)
        rc = vmm__virtio_serve(t, q, tx_serve);
    else if (q == EVQ)
        rc = send_event(v);
    /* rx: new buffers for waiting packets and readers. */
    vmm__vsock_finish(v);
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
        vmm__vsock_conn_free(v, &v->c[i]);
    v->rst_n = v->rst_head = 0;
    v->rx_held = false;
    v->need_used = false;
    v->event_pending = false;
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

/* ---- snapshots ----
 * Saved state: the transport's, then the flows the guest knew of (u32
 * count, then host port and guest port of each, u32 each) and the RSTs still
 * owed (the same). Connections are not carried across a restore: their UNIX
 * sockets are the host's and their byte streams have moved on since. A
 * restore closes every connection's socket (its host peer sees the end of
 * the stream), owes the guest an RST for each flow it knew of at the
 * snapshot, and a TRANSPORT_RESET event (§5.10.6.6) on the event queue, after
 * which a driver drops all its connections. The listening socket stays. */
#define FLOWS_MAX (MAX_CONNS + MAX_RST)

/* The flows the guest knows of: those an RST would be sent for. */
static bool guest_knows(const struct conn *c)
{
    return c->state != C_FREE && c->state != C_LINE &&
           !(c->state == C_REQUESTED && (c->pend & P_REQUEST));
}

static int vsock_save(void *state, void *buf, size_t cap, size_t *len)
{
    struct vsock *v = state;
    uint32_t flows[2 * MAX_CONNS + 1], rsts[2 * MAX_RST + 1];
    uint32_t nf = 0;
    for (unsigned int i = 0; i < MAX_CONNS; i++)
        if (guest_knows(&v->c[i])) {
            flows[1 + 2 * nf] = v->c[i].local_port;
            flows[2 + 2 * nf++] = v->c[i].peer_port;
        }
    flows[0] = nf;
    rsts[0] = v->rst_n;
    for (unsigned int i = 0; i < v->rst_n; i++) {
        rsts[1 + 2 * i] = v->rst[(v->rst_head + i) % MAX_RST].local;
        rsts[2 + 2 * i] = v->rst[(v->rst_head + i) % MAX_RST].peer;
    }
    size_t fl = 4 * (1 + 2 * (size_t)nf), rl = 4 * (1 + 2 * (size_t)v->rst_n);
    uint8_t extra[sizeof flows + sizeof rsts];
    memcpy(extra, flows, fl);
    memcpy(extra + fl, rsts, rl);
    uint16_t held[3] = {v->rx_held ? 1 : 0, 0, 0};
    return vmm__virtio_save_with(&v->t, buf, cap, len, extra, fl + rl, held);
}

/* The saved flows and RSTs at p (n bytes), checked: how many pairs in all
 * (into pairs[], 2 u32 each), or <0. */
static int load_flows(struct vsock *v, const uint8_t *p, size_t n, uint32_t *pairs)
{
    uint32_t total = 0;
    for (int part = 0; part < 2; part++) {
        uint32_t k, max = part ? MAX_RST : MAX_CONNS;
        if (n < 4 || (memcpy(&k, p, 4), k > max) || n - 4 < 8ull * k) {
            vmm_device_error(v->t.dev, "saved state: bad %s list", part ? "RST" : "flow");
            return VMM_EINVAL;
        }
        memcpy(pairs + 2 * total, p + 4, 8ull * k);
        total += k;
        p += 4 + 8ull * k;
        n -= 4 + 8ull * k;
    }
    if (n) {
        vmm_device_error(v->t.dev, "saved state: %zu bytes after the RST list", n);
        return VMM_EINVAL;
    }
    return (int)total;
}

static int vsock_load(void *state, const void *buf, size_t len)
{
    struct vsock *v = state;
    struct vmm__virtio_saved s;
    int n = vmm__virtio_state_check(&v->t, buf, len, &s);
    if (n < 0)
        return n;
    uint32_t pairs[2 * FLOWS_MAX];
    int np = load_flows(v, (const uint8_t *)buf + n, len - (size_t)n, pairs);
    if (np < 0)
        return np;
    vsock_reset(v); /* every connection of now goes, without an RST: see above */
    vmm__virtio_state_apply(&v->t, &s);
    for (int i = 0; i < np; i++)
        vmm__vsock_queue_rst(v, pairs[2 * i], pairs[2 * i + 1]);
    v->event_pending = true;
    vmm__virtio_resume(&v->t);
    vmm__vsock_finish(v); /* the listener's watch, whether or not a queue is live */
    return 0;
}

static const struct vmm__virtio_ops vsock_model = {
    .device_id = 19,
    .features = VSOCK_F_STREAM,
    .nqueues = 3,
    .queue_max = 256,
    .config_size = 8,
    .config_read = vsock_config_read,
    .notify = vsock_notify,
    .reset = vsock_reset,
};

static const char *const vsock_keys[] = {VMM__VIRTIO_KEYS, "guest_cid", "uds_path", NULL};

static int vsock_create(vmm_device *dev, struct json_object *cfg, void **state)
{
    struct json_object *p;
    int rc = vmm__cfg_keys(dev, cfg, vsock_keys);
    if (rc < 0)
        return rc;
    struct vmm__virtio_place place;
    uint64_t cid = 0;
    const char *path = NULL;
    rc = vmm__virtio_cfg(dev, cfg, &place);
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
    if (rc < 0)
        return rc;
    v->cid = cid;
    v->listen_fd = -1;
    v->next_port = PORT_FIRST;
    for (unsigned int i = 0; i < MAX_CONNS; i++)
        v->c[i].fd = -1;
    if ((rc = vmm__virtio_init(&v->t, dev, &vsock_model, v, &place)) < 0)
        goto fail;
    if (vmm_device_checking(dev)) { /* no socket, no thread */
        if ((rc = vmm__vsock_check_path(dev, v->path)) < 0)
            goto fail;
        *state = v;
        return 0;
    }
    if ((rc = vmm__vsock_listen(dev, v->path, &v->listen_fd)) < 0 ||
        (rc = vmm__io_new(dev, vmm__vsock_io_ready, v, &v->io)) < 0)
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
    .create = vmm__builtin_create,
    .read = vmm__virtio_dev_read,
    .write = vmm__virtio_dev_write,
    .reset = vmm__virtio_dev_reset,
    .save = vsock_save,
    .load = vsock_load,
    .destroy = vsock_destroy,
};

static const char *const vsock_path_keys[] = {"uds_path", NULL};

const struct vmm__device_type vmm__virtio_vsock_type = {
    .ops = &vmm__virtio_vsock_ops,
    .create = vsock_create,
    .path_keys = vsock_path_keys,
};
