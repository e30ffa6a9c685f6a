/* SPDX-License-Identifier: MIT */
/* virtio-console (virtio 1.2 §5.3) with one port (no MULTIPORT): queue 0
 * receiveq (host to guest), queue 1 transmitq. The port talks to the embedder
 * (callbacks, the default) or to host file descriptors (stdio, or fds the
 * embedder owns). Output is written on the vCPU thread that notified; when a
 * descriptor cannot take more, the chain being written stays with the device
 * (the driver sees back-pressure) and the device's I/O thread resumes when the
 * descriptor is writable. Input from a descriptor is read by the I/O thread,
 * which watches it only while the driver has receive buffers posted. */
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

#include "../virtio/virtio.h"
#include "builtin.h"

enum { F_SIZE = 1u << 0, F_EMERG_WRITE = 1u << 2 };
enum { RXQ = 0, TXQ = 1 };
enum backend { B_CALLBACK, B_STDIO, B_FD };

#define CONFIG_SIZE 12u /* cols u16, rows u16, max_nr_ports u32, emerg_wr u32 */
#define EMERG_WR    8u
#define BOUNCE      (64u << 10)

struct console {
    struct vmm__virtio t; /* first: vmm__virtio_dev_read() and friends rely on it */
    enum backend backend;
    int in_fd, out_fd; /* -1: none; the embedder's (or 0/1), never closed here */
    uint16_t cols, rows;
    vmm_console_output_fn out_fn;
    void *out_opaque;
    /* The I/O thread (stdio and fd backends) and its entries (-1: none). */
    struct vmm__io *io;
    int io_in, io_out;
    bool in_done; /* in_fd reached EOF or failed: no longer watched */
    /* A transmit chain whose bytes out_fd has not all taken yet, and the
     * queue it came from (a re-programmed queue makes it stale). */
    bool tx_held;
    uint64_t tx_off;
    struct vmm__vq tx_q;
    struct vmm__vq_chain tx_chain;
    struct vmm__vq_chain rx_chain; /* the receive chain being filled (device lock) */
    uint64_t dropped;              /* output bytes nobody took */
    uint8_t buf[BOUNCE];
};

static bool live(const struct console *c, unsigned int q)
{
    return (c->t.status & VMM__VIRTIO_S_DRIVER_OK) && !c->t.broken && c->t.q[q].ready;
}

static void drop(struct console *c, uint64_t n, const char *why)
{
    c->dropped += n;
    vmm_device_log_limited(c->t.dev, VMM_LOG_DEBUG, "%llu output bytes dropped (%s); %llu in all",
                           (unsigned long long)n, why, (unsigned long long)c->dropped);
}

static bool nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

/* ---- output ---- */

/* Keep a write to a pipe whose reader is gone from raising SIGPIPE in the
 * embedder's process: block it around the writes, then take one our writes
 * left pending (and only ours: one that was pending before stays). */
struct pipe_guard {
    sigset_t old;
    bool armed, was_pending;
};

static void guard_begin(struct pipe_guard *g)
{
    sigset_t s, pend;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    g->armed = pthread_sigmask(SIG_BLOCK, &s, &g->old) == 0;
    g->was_pending = sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE) == 1;
}

static void guard_end(struct pipe_guard *g)
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
static ssize_t out_write(struct console *c, const uint8_t *p, size_t n, bool careful)
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
static void out_kind(int fd, bool *careful, bool *guard)
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
                drop(c, n, "no output callback set");
            c->tx_off += n;
            continue;
        }
        if (c->out_fd < 0) {
            drop(c, n, "no out_fd");
            c->tx_off += n;
            continue;
        }
        ssize_t k = out_write(c, c->buf, n, careful);
        if (k < 0) {
            /* A sink that fails (a closed pipe, a full disk) must not wedge the
             * guest: the rest of this chain is dropped. */
            vmm_device_log_limited(c->t.dev, VMM_LOG_WARN, "out_fd: %s; output dropped",
                                   strerror(errno));
            drop(c, ch->readable - c->tx_off, "out_fd failed");
            c->tx_off = ch->readable;
            break;
        }
        c->tx_off += (uint64_t)k;
        if ((size_t)k < n)
            return 0;
    }
    return 1;
}

static void watch_out(struct console *c, bool on)
{
    if (c->io && c->io_out >= 0)
        vmm__io_set(c->io, (unsigned int)c->io_out, c->out_fd, on ? POLLOUT : 0);
}

/* Serve the transmitq: finish the held chain, then take new ones, at most
 * the queue size per call. Runs on the notifying vCPU thread or, after
 * back-pressure, on the I/O thread; always with the device lock held. */
static int tx_run(struct console *c)
{
    struct vmm__vq *vq = &c->t.q[TXQ];
    if (c->tx_held && (!vq->ready || vq->num != c->tx_q.num || vq->desc != c->tx_q.desc ||
                       vq->avail != c->tx_q.avail || vq->used != c->tx_q.used))
        c->tx_held = false; /* the queue was re-programmed under the held chain */
    if (!live(c, TXQ)) {
        watch_out(c, false);
        return 0;
    }
    bool careful = false, guarded = false;
    if (c->backend != B_CALLBACK && c->out_fd >= 0)
        out_kind(c->out_fd, &careful, &guarded);
    struct pipe_guard g = {.armed = false};
    if (guarded)
        guard_begin(&g);
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
            c->tx_off = 0;
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
    guard_end(&g);
    if (rc < 0)
        c->tx_held = false;
    /* Only a descriptor backend can resume later; the callback backend is
     * served again at the next notification, as vmm__virtio_serve does. */
    watch_out(c, more && rc >= 0);
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
static void rx_arm(struct console *c)
{
    if (!c->io || c->io_in < 0)
        return;
    bool on = !c->in_done && live(c, RXQ) && rx_posted(c);
    vmm__io_set(c->io, (unsigned int)c->io_in, c->in_fd, on ? POLLIN : 0);
}

/* Take the next receive chain: 1, 0 when none is posted, <0 after a
 * violation (the device is then in NEEDS_RESET). */
static int rx_pop(struct console *c, struct vmm__vq_chain *ch)
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
    for (unsigned int n = 0; !c->in_done && live(c, RXQ) && n < c->t.q[RXQ].num; n++) {
        int got = rx_pop(c, rx);
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
    rx_arm(c);
}

/* The I/O thread's call, device lock held. */
static void on_ready(void *model, unsigned int idx, short revents)
{
    struct console *c = model;
    if (c->io_in >= 0 && idx == (unsigned int)c->io_in)
        rx_from_fd(c, revents);
    else if (c->io_out >= 0 && idx == (unsigned int)c->io_out)
        (void)tx_run(c);
}

/* ---- the device model ---- */

static int con_notify(void *model, struct vmm__virtio *t, unsigned int q)
{
    struct console *c = model;
    (void)t;
    if (q == TXQ)
        return tx_run(c);
    /* New receive buffers: watch in_fd again (the callback backend fills
     * them when the embedder has input). */
    rx_arm(c);
    return 0;
}

static void con_config_read(void *model, uint32_t off, void *data, unsigned int size)
{
    struct console *c = model;
    uint8_t cfg[CONFIG_SIZE] = {0};
    memcpy(cfg, &c->cols, 2);
    memcpy(cfg + 2, &c->rows, 2);
    /* max_nr_ports (MULTIPORT only) and emerg_wr (write-only) read as 0. */
    memcpy(data, cfg + off, size);
}

/* §5.3.4: a driver write to emerg_wr outputs its low byte at once, even
 * before the device is set up; what the sink cannot take now is dropped. */
static void con_config_write(void *model, uint32_t off, const void *data, unsigned int size)
{
    struct console *c = model;
    (void)size;
    if (off != EMERG_WR)
        return;
    uint8_t b = *(const uint8_t *)data;
    if (c->backend == B_CALLBACK) {
        if (c->out_fn)
            c->out_fn(c->out_opaque, &b, 1);
        else
            drop(c, 1, "no output callback set");
        return;
    }
    if (c->out_fd < 0) {
        drop(c, 1, "no out_fd");
        return;
    }
    bool careful, guarded;
    out_kind(c->out_fd, &careful, &guarded);
    struct pipe_guard g = {.armed = false};
    if (guarded)
        guard_begin(&g);
    ssize_t k = out_write(c, &b, 1, careful);
    guard_end(&g);
    if (k != 1)
        drop(c, 1, "out_fd full or failed");
}

static void con_reset(void *model)
{
    struct console *c = model;
    /* Nothing from before the reset may be served after it: the held chain
     * goes, and the I/O thread stops watching (it checks under this lock). */
    c->tx_held = false;
    watch_out(c, false);
    if (c->io && c->io_in >= 0)
        vmm__io_set(c->io, (unsigned int)c->io_in, c->in_fd, 0);
}

static const struct vmm__virtio_ops con_model = {
    .device_id = 3,
    .features = F_SIZE | F_EMERG_WRITE,
    .nqueues = 2,
    .queue_max = 256,
    .config_size = CONFIG_SIZE,
    .config_read = con_config_read,
    .config_write = con_config_write,
    .notify = con_notify,
    .reset = con_reset,
};

/* Register writes go to the transport; when they make the receiveq live
 * (DRIVER_OK after the driver posted buffers, whose notification came too
 * early to count), in_fd is watched from then on. */
static int con_write(void *state, unsigned int range, uint64_t off, const void *data,
                     unsigned int size)
{
    struct console *c = state;
    bool was_live = live(c, RXQ);
    int rc = vmm__virtio_dev_write(state, range, off, data, size);
    if (!was_live && live(c, RXQ))
        rx_arm(c);
    return rc;
}

static void con_destroy(void *model)
{
    struct console *c = model;
    vmm__io_free(c->io); /* joins the thread: nothing runs on c afterwards */
    free(c);
}

static const char *const con_keys[] = {VMM__VIRTIO_KEYS, "backend", "out_fd", "in_fd",
                                       "cols",           "rows",    NULL};

/* An fd key: -1 when absent, else an open descriptor. */
static int cfg_fd(vmm_device *dev, struct json_object *cfg, const char *key, int *fd)
{
    uint64_t v;
    int rc = vmm__cfg_u64(dev, cfg, key, 0, INT32_MAX, 0, &v);
    if (rc < 0)
        return VMM_ECONFIG;
    *fd = rc == 1 ? (int)v : -1;
    if (*fd >= 0 && fcntl(*fd, F_GETFD) < 0) {
        vmm_device_error(dev, "config.%s: %d is not an open file descriptor", key, *fd);
        return VMM_ECONFIG;
    }
    return 0;
}

static int con_parse(vmm_device *dev, struct json_object *cfg, struct console *c,
                     struct vmm__virtio_place *place)
{
    struct json_object *v;
    int rc = vmm__cfg_keys(dev, cfg, con_keys);
    if (rc < 0)
        return rc;
    uint64_t cols, rows;
    rc = vmm__virtio_cfg(dev, cfg, place);
    if (rc >= 0 && (vmm__cfg_u64(dev, cfg, "cols", 1, UINT16_MAX, 80, &cols) < 0 ||
                    vmm__cfg_u64(dev, cfg, "rows", 1, UINT16_MAX, 25, &rows) < 0))
        rc = VMM_ECONFIG;
    c->backend = B_CALLBACK;
    if (rc >= 0 && json_object_object_get_ex(cfg, "backend", &v)) {
        const char *b = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
        if (!strcmp(b, "callback"))
            c->backend = B_CALLBACK;
        else if (!strcmp(b, "stdio"))
            c->backend = B_STDIO;
        else if (!strcmp(b, "fd"))
            c->backend = B_FD;
        else
            rc = VMM_ECONFIG,
            vmm_device_error(dev, "config.backend: must be \"callback\", \"stdio\" or \"fd\"");
    }
    if (rc >= 0 && (rc = cfg_fd(dev, cfg, "out_fd", &c->out_fd)) >= 0)
        rc = cfg_fd(dev, cfg, "in_fd", &c->in_fd);
    if (rc >= 0 && c->backend != B_FD && (c->out_fd >= 0 || c->in_fd >= 0))
        rc = VMM_ECONFIG, vmm_device_error(dev, "config.%s: only with \"backend\": \"fd\"",
                                           c->out_fd >= 0 ? "out_fd" : "in_fd");
    if (rc >= 0 && c->backend == B_FD && c->out_fd < 0 && c->in_fd < 0)
        rc = VMM_ECONFIG, vmm_device_error(dev, "config: backend \"fd\" needs out_fd or in_fd");
    if (c->backend == B_STDIO) {
        c->in_fd = STDIN_FILENO;
        c->out_fd = STDOUT_FILENO;
    }
    c->cols = (uint16_t)cols;
    c->rows = (uint16_t)rows;
    return rc;
}

static int con_create(vmm_device *dev, struct json_object *cfg, void **state)
{
    struct console *c = calloc(1, sizeof *c);
    if (!c)
        return VMM_ENOMEM;
    c->in_fd = c->out_fd = c->io_in = c->io_out = -1;
    struct vmm__virtio_place place;
    int rc = con_parse(dev, cfg, c, &place);
    if (rc >= 0)
        rc = vmm__virtio_init(&c->t, dev, &con_model, c, &place);
    if (rc >= 0 && c->backend != B_CALLBACK && !vmm_device_checking(dev)) {
        /* Both entries are known from the start and watched only on demand. */
        rc = vmm__io_new(dev, on_ready, c, &c->io);
        if (rc >= 0 && c->in_fd >= 0)
            rc = c->io_in = vmm__io_add(c->io, c->in_fd, 0);
        if (rc >= 0 && c->out_fd >= 0)
            rc = c->io_out = vmm__io_add(c->io, c->out_fd, 0);
        if (rc >= 0)
            rc = vmm__io_start(c->io);
    }
    if (rc < 0) {
        con_destroy(c);
        return rc;
    }
    *state = c;
    return 0;
}

const vmm_device_ops vmm__virtio_console_ops = {
    .version = VMM_DEVICE_OPS_VERSION,
    .name = "virtio-console",
    .create = vmm__builtin_create,
    .read = vmm__virtio_dev_read,
    .write = con_write,
    .reset = vmm__virtio_dev_reset,
    .destroy = con_destroy,
};

const struct vmm__device_type vmm__virtio_console_type = {
    .ops = &vmm__virtio_console_ops,
    .create = con_create,
};

/* ---- the embedder's calls (include/libvmm/virtio.h) ---- */

static struct console *as_console(vmm_device *dev)
{
    return dev && vmm_device_type(dev) == &vmm__virtio_console_ops ? vmm_device_state(dev) : NULL;
}

int vmm_virtio_console_set_output(vmm_device *dev, vmm_console_output_fn fn, void *opaque)
{
    struct console *c = as_console(dev);
    if (!c)
        return vmm__err(VMM_EINVAL, "vmm_virtio_console_set_output: not a virtio-console device");
    if (c->backend != B_CALLBACK)
        return vmm__err(VMM_ESTATE,
                        "vmm_virtio_console_set_output: device %s has a file descriptor "
                        "backend, not \"callback\"",
                        vmm_device_id(dev));
    vmm__device_lock(dev);
    c->out_fn = fn;
    c->out_opaque = opaque;
    vmm__device_unlock(dev);
    return 0;
}

int vmm_virtio_console_input(vmm_device *dev, const void *data, size_t len, size_t *accepted)
{
    if (accepted)
        *accepted = 0;
    struct console *c = as_console(dev);
    if (!c || (!data && len))
        return vmm__err(VMM_EINVAL,
                        "vmm_virtio_console_input: not a virtio-console device, or data NULL");
    if (c->backend != B_CALLBACK)
        return vmm__err(VMM_ESTATE,
                        "vmm_virtio_console_input: device %s has a file descriptor backend, "
                        "not \"callback\"",
                        vmm_device_id(dev));
    vmm__device_lock(dev);
    if (!live(c, RXQ)) {
        vmm__device_unlock(dev);
        return vmm__err(VMM_ESTATE,
                        "vmm_virtio_console_input: the driver of %s is not ready (no DRIVER_OK, "
                        "receiveq not ready, or the device needs a reset)",
                        vmm_device_id(dev));
    }
    const uint8_t *p = data;
    size_t done = 0;
    bool used = false;
    int rc = 0;
    struct vmm__vq_chain *rx = &c->rx_chain;
    for (unsigned int n = 0; done < len && n < c->t.q[RXQ].num; n++) {
        int got = rx_pop(c, rx);
        if (got < 0)
            rc = VMM_ESTATE;
        if (got <= 0)
            break;
        size_t k = len - done < rx->writable ? len - done : rx->writable;
        if (vmm__vq_write(dev, rx, 0, p + done, k) < 0) {
            vmm__virtio_fail(&c->t, "receive buffer outside RAM");
            rc = VMM_ESTATE;
            break;
        }
        if (vmm__vq_push(&c->t.q[RXQ], dev, rx->head, (uint32_t)k) < 0) {
            vmm__virtio_fail(&c->t, "used ring unwritable");
            rc = VMM_ESTATE;
            break;
        }
        done += k;
        used = true;
    }
    if (used)
        vmm__virtio_used(&c->t);
    vmm__device_unlock(dev);
    if (accepted)
        *accepted = done;
    if (rc < 0)
        return vmm__err(rc,
                        "vmm_virtio_console_input: the driver of %s broke the protocol; the "
                        "device needs a reset",
                        vmm_device_id(dev));
    return 0;
}
