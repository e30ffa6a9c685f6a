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

#include "builtin.h"
#include "virtio_console.h"

/* ---- the device model ---- */

static int con_notify(void *model, struct vmm__virtio *t, unsigned int q)
{
    struct console *c = model;
    (void)t;
    if (q == TXQ)
        return vmm__con_tx_run(c);
    /* New receive buffers: watch in_fd again (the callback backend fills
     * them when the embedder has input). */
    vmm__con_rx_arm(c);
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
            vmm__con_drop(c, 1, "no output callback set");
        return;
    }
    if (c->out_fd < 0) {
        vmm__con_drop(c, 1, "no out_fd");
        return;
    }
    bool careful, guarded;
    vmm__con_out_kind(c->out_fd, &careful, &guarded);
    struct pipe_guard g = {.armed = false};
    if (guarded)
        vmm__con_guard_begin(&g);
    ssize_t k = vmm__con_out_write(c, &b, 1, careful);
    vmm__con_guard_end(&g);
    if (k != 1)
        vmm__con_drop(c, 1, "out_fd full or failed");
}

static void con_reset(void *model)
{
    struct console *c = model;
    /* Nothing from before the reset may be served after it: the held chain
     * goes, and the I/O thread stops watching (it checks under this lock). */
    c->tx_held = false;
    c->tx_resume = 0;
    vmm__con_watch_out(c, false);
    if (c->io && c->io_in >= 0)
        vmm__io_set(c->io, (unsigned int)c->io_in, c->in_fd, 0);
}

/* Saved state: the transport's, then how many bytes of the transmit chain
 * being written when the snapshot was taken had gone out (u64; 0 when none
 * was held back). That chain is saved as not yet taken, and the restored
 * device writes only the rest of it. Output already written stays written;
 * input the guest had not taken is the host descriptor's, not the
 * snapshot's. The window size is the host's and stays. */
static int con_save(void *state, void *buf, size_t cap, size_t *len)
{
    struct console *c = state;
    uint64_t sent = c->tx_held ? c->tx_off : c->tx_resume;
    uint16_t held[2] = {0, c->tx_held ? 1 : 0};
    return vmm__virtio_save_with(&c->t, buf, cap, len, &sent, sizeof sent, held);
}

static int con_load(void *state, const void *buf, size_t len)
{
    struct console *c = state;
    struct vmm__virtio_saved s;
    const uint8_t *extra;
    int rc = vmm__virtio_load_begin(&c->t, buf, len, 8, &s, &extra);
    if (rc < 0)
        return rc;
    con_reset(c); /* the held chain and the watches belong to the old state */
    vmm__virtio_state_apply(&c->t, &s);
    memcpy(&c->tx_resume, extra, 8);
    vmm__virtio_resume(&c->t);
    return 0;
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
    bool was_live = vmm__con_live(c, RXQ);
    int rc = vmm__virtio_dev_write(state, range, off, data, size);
    if (!was_live && vmm__con_live(c, RXQ))
        vmm__con_rx_arm(c);
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
    uint64_t cols = 80, rows = 25;
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
        rc = vmm__io_new(dev, vmm__con_on_ready, c, &c->io);
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
    .save = con_save,
    .load = con_load,
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
    if (!vmm__con_live(c, RXQ)) {
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
        int got = vmm__con_rx_pop(c, rx);
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
