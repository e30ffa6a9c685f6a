/* SPDX-License-Identifier: MIT */
/* virtio-vsock, the host side: connections and their UNIX sockets. The
 * device's I/O thread accepts host programs on uds_path and reads their
 * CONNECT lines, moves host bytes into the guest's receive buffers within the
 * guest's credit, and writes out what the guest sent that a socket did not
 * take at once (at most the buffer the device advertised). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "virtio_vsock.h"

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

void vmm__vsock_conn_free(struct vsock *v, struct conn *c)
{
    close_host(v, c);
    memset(c, 0, sizeof *c);
    c->fd = -1;
    v->listen_paused = false; /* a descriptor is free again */
}

/* Drop a connection the guest knows of and tell it with an RST. */
void vmm__vsock_conn_reset(struct vsock *v, struct conn *c)
{
    if (c->state != C_LINE && !(c->state == C_REQUESTED && (c->pend & P_REQUEST)))
        vmm__vsock_queue_rst(v, c->local_port, c->peer_port);
    vmm__vsock_conn_free(v, c);
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
struct conn *vmm__vsock_conn_new(struct vsock *v)
{
    struct conn *closing = NULL;
    for (unsigned int i = 0; i < MAX_CONNS; i++) {
        if (v->c[i].state == C_FREE)
            return &v->c[i];
        if (v->c[i].state == C_CLOSING && !closing)
            closing = &v->c[i];
    }
    if (closing)
        vmm__vsock_conn_reset(v, closing);
    return closing;
}

struct conn *vmm__vsock_find(struct vsock *v, uint32_t local, uint32_t peer)
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
void vmm__vsock_settle(struct vsock *v, struct conn *c)
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
        vmm__vsock_conn_reset(v, c);
        return;
    }
    if ((c->peer_shut & VSOCK_SHUTDOWN_SEND) && !c->wr_shut) {
        shutdown(c->fd, SHUT_WR);
        c->wr_shut = true;
    }
}

ssize_t vmm__vsock_send(struct vsock *v, struct conn *c, const void *p, size_t n)
{
    for (;;) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0)
            return k;
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        vmm__vsock_conn_reset(v, c);
        return -1;
    }
}

/* Write held bytes to the socket. <0 when the connection was reset. */
static int drain(struct vsock *v, struct conn *c)
{
    bool backlog = c->out_len > 0;
    while (c->out_len) {
        ssize_t k = vmm__vsock_send(v, c, c->out, c->out_len);
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        uint32_t n = (uint32_t)k, ctl = n < c->out_ctl ? n : c->out_ctl;
        c->out_ctl -= ctl;
        c->fwd_cnt += n - ctl;
        memmove(c->out, c->out + n, c->out_len - n);
        c->out_len -= n;
    }
    /* The guest may be waiting for the space this freed. */
    if (backlog && !c->out_len && c->fwd_cnt != c->fwd_told)
        c->pend |= P_CREDIT;
    vmm__vsock_settle(v, c);
    return 0;
}

/* Queue bytes for the socket (after what is held), then try to write. */
int vmm__vsock_put_out(struct vsock *v, struct conn *c, const void *p, uint32_t n, bool ctl)
{
    if (!c->out && !(c->out = malloc(VS_LINE_MAX + BUF_ALLOC))) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_ERROR, "out of memory; connection reset");
        vmm__vsock_conn_reset(v, c);
        return -1;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    if (ctl)
        c->out_ctl += n;
    return drain(v, c);
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
        if (!vmm__vsock_find(v, p, peer))
            return p;
    }
}

/* Read the CONNECT line, never past its newline: what follows is stream data. */
static void read_line(struct vsock *v, struct conn *c)
{
    char buf[VS_LINE_MAX];
    ssize_t k = recv(c->fd, buf, VS_LINE_MAX - c->line_len, MSG_PEEK | MSG_DONTWAIT);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (k <= 0) {
        vmm__vsock_conn_free(v, c);
        return;
    }
    const char *nl = memchr(buf, '\n', (size_t)k);
    size_t take = nl ? (size_t)(nl - buf) + 1 : (size_t)k;
    if (recv(c->fd, c->line + c->line_len, take, MSG_DONTWAIT) != (ssize_t)take) {
        vmm__vsock_conn_free(v, c);
        return;
    }
    c->line_len += (unsigned int)take;
    if (!nl) {
        if (c->line_len == VS_LINE_MAX) {
            vmm_device_log_limited(v->t.dev, VMM_LOG_WARN, "over-long CONNECT line; closed");
            vmm__vsock_conn_free(v, c);
        }
        return;
    }
    int64_t port = parse_connect(c->line, c->line_len);
    if (port < 0) {
        vmm_device_log_limited(v->t.dev, VMM_LOG_WARN, "malformed CONNECT line; closed");
        vmm__vsock_conn_free(v, c);
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
        struct conn *c = vmm__vsock_conn_new(v);
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
        if (!want || !vmm__vsock_rx_get(v))
            return;
        uint32_t room = v->rx.writable - VSOCK_HDR_SIZE;
        want = want < room ? want : room;
        want = want < MAX_PKT ? want : MAX_PKT;
        ssize_t k = recv(c->fd, v->bounce, want, MSG_DONTWAIT);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (k < 0) {
            vmm__vsock_conn_reset(v, c);
            return;
        }
        if (k == 0) { /* the UNIX peer sends no more; it may still read */
            c->host_eof = true;
            c->shut_flags |= VSOCK_SHUTDOWN_SEND;
            c->pend |= P_SHUTDOWN;
            return;
        }
        struct vsock_hdr h = vmm__vsock_conn_hdr(v, c, VSOCK_OP_RW);
        h.len = (uint32_t)k;
        if (vmm__vsock_rx_put(v, &h, v->bounce, (uint32_t)k) < 0)
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
            vmm__vsock_conn_reset(v, c);
    } else if (c->state == C_OPEN) {
        if (rev & POLLERR) {
            vmm__vsock_conn_reset(v, c);
            return;
        }
        if ((rev & (POLLOUT | POLLHUP)) && c->out_len && drain(v, c) < 0)
            return;
        if ((rev & POLLIN) && c->state == C_OPEN)
            to_guest(v, c);
        /* Fully closed, with nothing left to read or write. */
        if ((rev & POLLHUP) && c->state == C_OPEN && !c->out_len &&
            (c->host_eof || (c->peer_shut & VSOCK_SHUTDOWN_RCV)))
            host_gone(v, c);
    }
}

/* What the I/O thread waits for on each descriptor. */
static void watch(struct vsock *v)
{
    vmm__io_set(v->io, v->slot0, v->listen_fd, v->listen_paused ? 0 : POLLIN);
    bool rx_ok = vmm__vsock_rx_get(v);
    for (unsigned int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &v->c[i];
        short ev = 0;
        if (c->state == C_LINE) {
            ev = POLLIN;
        } else if (c->state == C_REQUESTED) {
            ev = POLLPRI; /* never ready on a UNIX socket: hang-ups only */
        } else if (c->state == C_OPEN) {
            bool rd = !c->host_eof && !(c->peer_shut & VSOCK_SHUTDOWN_RCV);
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
void vmm__vsock_finish(struct vsock *v)
{
    vmm__vsock_flush(v);
    watch(v);
    if (v->need_used) {
        v->need_used = false;
        vmm__virtio_used(&v->t);
    }
}

void vmm__vsock_io_ready(void *model, unsigned int idx, short revents)
{
    struct vsock *v = model;
    if (idx == v->slot0)
        on_listen(v);
    else if (idx > v->slot0 && idx - v->slot0 - 1 < MAX_CONNS)
        on_conn(v, &v->c[idx - v->slot0 - 1], revents);
    vmm__vsock_finish(v);
}

/* What vmm__vsock_listen() would refuse, without a socket: something at
 * path already, or no directory for it. */
int vmm__vsock_check_path(vmm_device *dev, const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        vmm_device_error(dev, "config.uds_path: %s: %s (remove the stale socket first)", path,
                         strerror(EADDRINUSE));
        return VMM_EEXIST;
    }
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0; /* the current directory */
    slash[slash == dir ? 1 : 0] = 0;
    int e = stat(dir, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (e) {
        vmm_device_error(dev, "config.uds_path: %s: %s", path, strerror(e));
        return e == ENOENT ? VMM_ENOENT : VMM_EIO;
    }
    return 0;
}

/* Listen on path; VMM_EEXIST if something is there already. */
int vmm__vsock_listen(vmm_device *dev, const char *path, int *out)
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
