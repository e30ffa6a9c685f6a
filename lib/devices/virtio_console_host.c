/* SPDX-License-Identifier: MIT */
/* virtio-console's host side: output written to out_fd without blocking the
 * vCPU (back-pressure to the driver when it is full, resumed by the I/O
 * thread), input read from in_fd into the receiveq, and the I/O thread's
 * callback. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio_console.h"

static bool nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

/* ---- output ---- */

void vmm__con_guard_begin(struct pipe_guard *g)
{
    sigset_t s, pend;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    g->armed = pthread_sigmask(SIG_BLOCK, &s, &g->old) == 0;
    g->was_pending = sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE) == 1;
}

void vmm__con_guard_end(struct pipe_guard *g)
{
    if (!g->armed)
        return;
    sigset_t s, pend;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    if (!g->was_pending && sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE) == 1) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&s, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Write up to n bytes to out_fd without blocking on a full pipe: the bytes
 * taken (fewer when it is full now), or -1 (errno set) when it failed. A
 * blocking pipe gets at most PIPE_BUF bytes per write and only after poll()
 * says it has room, which a pipe honours without blocking. */
ssize_t vmm__con_out_write(struct console *c, const uint8_t *p, size_t n, bool careful)
{
    size_t done = 0;
    while (done < n) {
        size_t want = n - done;
        if (careful) {
            struct pollfd pf = {c->out_fd, POLLOUT, 0};
            int r = poll(&pf, 1, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r == 0)
                break;
            if (r < 0 || !(pf.revents & POLLOUT)) {
                errno = r < 0 ? errno : EPIPE;
                return done ? (ssize_t)done : -1;
            }
            want = want < PIPE_BUF ? want : PIPE_BUF;
        }
        ssize_t k = write(c->out_fd, p + done, want);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (k <= 0) {
            if (k == 0)
                errno = EIO;
            return done ? (ssize_t)done : -1;
        }
        done += (size_t)k;
    }
    return (ssize_t)done;
}

/* How to write to out_fd: *careful for a blocking pipe or FIFO (poll first,
 * PIPE_BUF bytes at a time), *guard for a pipe or socket (SIGPIPE). */
void vmm__con_out_kind(int fd, bool *careful, bool *guard)
{
    struct stat st;
    bool ok = fstat(fd, &st) == 0;
    *careful = ok && S_ISFIFO(st.st_mode) && !nonblocking(fd);
    *guard = ok && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

/* Output the held chain's bytes from tx_off on: 1 when all went (or were
 * dropped), 0 when out_fd is full, VMM_EFAULT when a buffer is not RAM. */
static int tx_chain_out(struct console *c, bool careful)
{
    const struct vmm__vq_chain *ch = &c->tx_chain;
    while (c->tx_off < ch->readable) {
        size_t n = ch->readable - c->tx_off < BOUNCE ? (size_t)(ch->readable - c->tx_off) : BOUNCE;
        if (vmm__vq_read(c->t.dev, ch, c->tx_off, c->buf, n) < 0)
            return VMM_EFAULT;
        if (c->backend == B_CALLBACK) {
            if (c->out_fn)
                c->out_fn(c->out_opaque, c->buf, n);
            else
                vmm__con_drop(c, n, "no output callback set");
            c->tx_off += n;
            continue;
        }
        if (c->out_fd < 0) {
            vmm__con_drop(c, n, "no out_fd");
            c->tx_off += n;
            continue;
        }
        ssize_t k = vmm__con_out_write(c, c->buf, n, careful);
        if (k < 0) {
            /* A sink that fails (a closed pipe, a full disk) must not wedge the
             * guest: the rest of this chain is dropped. */
            vmm_device_log_limited(c->t.dev, VMM_LOG_WARN, "out_fd: %s; output dropped",
                                   strerror(errno));
            vmm__con_drop(c, ch->readable - c->tx_off, "out_fd failed");
            c->tx_off = ch->readable;
            break;
        }
        c->tx_off += (uint64_t)k;
        if ((size_t)k < n)
            return 0;
    }
    return 1;
}

void vmm__con_watch_out(struct console *c, bool on)
{
    if (c->io && c->io_out >= 0)
        vmm__io_set(c->io, (unsigned int)c->io_out, c->out_fd, on ? POLLOUT : 0);
}

/* Serve the transmitq: finish the held chain, then take new ones, at most
 * the queue size per call. Runs on the notifying vCPU thread or, after
 * back-pressure, on the I/O thread; always with the device lock held. */
int vmm__con_tx_run(struct console *c)
{
    struct vmm__vq *vq = &c->t.q[TXQ];
    if (c->tx_held && (!vq->ready || vq->num != c->tx_q.num || vq->desc != c->tx_q.desc ||
                       vq->avail != c->tx_q.avail || vq->used != c->tx_q.used))
        c->tx_held = false; /* the queue was re-programmed under the held chain */
    if (!vmm__con_live(c, TXQ)) {
        vmm__con_watch_out(c, false);
        return 0;
    }
    bool careful = false, guarded = false;
    if (c->backend != B_CALLBACK && c->out_fd >= 0)
        vmm__con_out_kind(c->out_fd, &careful, &guarded);
    struct pipe_guard g = {.armed = false};
    if (guarded)
        vmm__con_guard_begin(&g);
    const char *why = NULL;
    bool used = false, more = false;
    int rc = 0;
    for (unsigned int n = 0;; n++) {
        if (!c->tx_held) {
            if (n == vq->num) {
                more = true; /* bounded: the rest on the next round */
                break;
            }
            int got = vmm__vq_pop(vq, c->t.dev, vmm__virtio_has(&c->t, VMM__VIRTIO_F_INDIRECT),
                                  &c->tx_chain, &why);
            if (got <= 0) {
                rc = got;
                break;
            }
            if (c->tx_chain.writable) {
                why = "device-writable buffer on the transmitq";
                rc = VMM_EINVAL;
                break;
            }
            c->tx_held = true;
            c->tx_off = c->tx_resume < c->tx_chain.readable ? c->tx_resume : c->tx_chain.readable;
            c->tx_resume = 0;
            c->tx_q = *vq;
        }
        int out = tx_chain_out(c, careful);
        if (out == 0) {
            more = true; /* out_fd is full: wait for POLLOUT */
            break;
        }
        if (out < 0) {
            why = "transmit buffer outside RAM";
            rc = out;
            break;
        }
        c->tx_held = false;
        if ((rc = vmm__vq_push(vq, c->t.dev, c->tx_chain.head, 0)) < 0) {
            why = "used ring unwritable";
            break;
        }
        used = true;
    }
    vmm__con_guard_end(&g);
    if (rc < 0)
        c->tx_held = false;
    /* Only a descriptor backend can resume later; the callback backend is
     * served again at the next notification, as vmm__virtio_serve does. */
    vmm__con_watch_out(c, more && rc >= 0);
    if (used)
        vmm__virtio_used(&c->t);
    if (rc < 0)
        vmm__virtio_fail(&c->t, why ? why : "bad transmit chain");
    return rc;
}

/* ---- input ---- */

static bool rx_posted(struct console *c)
{
    const struct vmm__vq *vq = &c->t.q[RXQ];
    uint16_t idx;
    return vmm_device_mem_read(c->t.dev, vq->avail + 2, &idx, 2) == 0 && idx != vq->last_avail;
}

/* Watch in_fd exactly while it can be served: not at EOF, the driver live and
 * receive buffers posted. */
void vmm__con_rx_arm(struct console *c)
{
    if (!c->io || c->io_in < 0)
        return;
    bool on = !c->in_done && vmm__con_live(c, RXQ) && rx_posted(c);
    vmm__io_set(c->io, (unsigned int)c->io_in, c->in_fd, on ? POLLIN : 0);
}

/* Take the next receive chain: 1, 0 when none is posted, <0 after a
 * violation (the device is then in NEEDS_RESET). */
int vmm__con_rx_pop(struct console *c, struct vmm__vq_chain *ch)
{
    const char *why = NULL;
    int got = vmm__vq_pop(&c->t.q[RXQ], c->t.dev, vmm__virtio_has(&c->t, VMM__VIRTIO_F_INDIRECT),
                          ch, &why);
    if (got > 0 && (ch->readable || !ch->writable)) {
        why = ch->readable ? "device-readable buffer on the receiveq"
                           : "receive chain without a writable byte";
        got = VMM_EINVAL;
    }
    if (got < 0)
        vmm__virtio_fail(&c->t, why ? why : "bad receive chain");
    return got;
}

/* Give a chain back to the available ring (nothing was written into it). */
static void rx_unpop(struct console *c)
{
    c->t.q[RXQ].last_avail--;
}

/* How many bytes to read from in_fd into want bytes of buffers without
 * blocking: 0 when none are there now (or the report was stale). A blocking
 * descriptor is read only as far as FIONREAD says; readable with nothing to
 * read is EOF, and a read then returns 0 at once. */
static size_t rx_readable(int fd, size_t want, bool nb)
{
    if (nb)
        return want;
    int avail = 0;
    if (ioctl(fd, FIONREAD, &avail) < 0)
        return want; /* no count (some devices): trust poll() */
    if (avail > 0)
        return (size_t)avail < want ? (size_t)avail : want;
    struct pollfd pf = {fd, POLLIN, 0};
    return poll(&pf, 1, 0) == 1 && (pf.revents & (POLLIN | POLLHUP)) ? want : 0;
}

static void rx_from_fd(struct console *c, short revents)
{
    if (revents & POLLNVAL) {
        vmm_device_log_limited(c->t.dev, VMM_LOG_WARN, "in_fd %d is not open; input stopped",
                               c->in_fd);
        c->in_done = true;
    }
    bool nb = nonblocking(c->in_fd), used = false;
    struct vmm__vq_chain *rx = &c->rx_chain;
    for (unsigned int n = 0; !c->in_done && vmm__con_live(c, RXQ) && n < c->t.q[RXQ].num; n++) {
        int got = vmm__con_rx_pop(c, rx);
        if (got <= 0)
            break;
        size_t want = rx->writable < BOUNCE ? rx->writable : BOUNCE;
        want = rx_readable(c->in_fd, want, nb);
        if (want == 0) {
            rx_unpop(c);
            break;
        }
        ssize_t k;
        do
            k = read(c->in_fd, c->buf, want);
        while (k < 0 && errno == EINTR);
        if (k <= 0) {
            rx_unpop(c);
            if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (k < 0)
                vmm_device_log_limited(c->t.dev, VMM_LOG_WARN, "in_fd: %s; input stopped",
                                       strerror(errno));
            else
                vmm_device_log(c->t.dev, VMM_LOG_DEBUG, "in_fd: end of file; input stopped");
            c->in_done = true;
            break;
        }
        if (vmm__vq_write(c->t.dev, rx, 0, c->buf, (size_t)k) < 0) {
            vmm__virtio_fail(&c->t, "receive buffer outside RAM");
            break;
        }
        if (vmm__vq_push(&c->t.q[RXQ], c->t.dev, rx->head, (uint32_t)k) < 0) {
            vmm__virtio_fail(&c->t, "used ring unwritable");
            break;
        }
        used = true;
    }
    if (used)
        vmm__virtio_used(&c->t);
    vmm__con_rx_arm(c);
}

/* The I/O thread's call, device lock held. */
void vmm__con_on_ready(void *model, unsigned int idx, short revents)
{
    struct console *c = model;
    if (c->io_in >= 0 && idx == (unsigned int)c->io_in)
        rx_from_fd(c, revents);
    else if (c->io_out >= 0 && idx == (unsigned int)c->io_out)
        (void)vmm__con_tx_run(c);
}
