/* SPDX-License-Identifier: MIT */
/* virtio-rng (virtio 1.2 §5.4): fills the driver's buffers with bytes from the
 * host's getrandom(), at most max_bytes per request. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../virtio/virtio.h"
#include "builtin.h"

struct rng {
    struct vmm__virtio t; /* first: vmm__virtio_dev_read() and friends rely on it */
    uint64_t max_bytes;
};

static int64_t rng_serve(void *model, const struct vmm__vq_chain *c, const char **why)
{
    struct rng *r = model;
    uint8_t buf[4096];
    if (c->readable) {
        *why = "device-readable buffer in a virtio-rng request";
        return VMM_EINVAL;
    }
    uint64_t want = c->writable < r->max_bytes ? c->writable : r->max_bytes;
    uint64_t done = 0;
    while (done < want) {
        size_t chunk = want - done < sizeof buf ? (size_t)(want - done) : sizeof buf;
        /* Never block the vCPU: before the host's pool is ready the request
         * gets what there is (possibly nothing). */
        ssize_t k = getrandom(buf, chunk, GRND_NONBLOCK);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0 || vmm__vq_write(r->t.dev, c, done, buf, (size_t)k) < 0)
            break; /* a buffer outside RAM: return what was written */
        done += (uint64_t)k;
    }
    return (int64_t)done;
}

static int rng_notify(void *model, struct vmm__virtio *t, unsigned int q)
{
    (void)model;
    return vmm__virtio_serve(t, q, rng_serve);
}

static const struct vmm__virtio_ops rng_model = {
    .device_id = 4,
    .features = 0,
    .nqueues = 1,
    .queue_max = 256,
    .config_size = 0,
    .notify = rng_notify,
};

static const char *const rng_keys[] = {VMM__VIRTIO_KEYS, "max_bytes", NULL};

static int rng_create(vmm_device *dev, struct json_object *cfg, void **state)
{
    int rc = vmm__cfg_keys(dev, cfg, rng_keys);
    if (rc < 0)
        return rc;
    struct vmm__virtio_place place;
    uint64_t max;
    rc = vmm__virtio_cfg(dev, cfg, &place);
    if (rc >= 0 && vmm__cfg_u64(dev, cfg, "max_bytes", 1, 1u << 20, 65536, &max) < 0)
        rc = VMM_ECONFIG;
    if (rc < 0)
        return rc;
    struct rng *r = calloc(1, sizeof *r);
    if (!r)
        return VMM_ENOMEM;
    r->max_bytes = max;
    if ((rc = vmm__virtio_init(&r->t, dev, &rng_model, r, &place)) < 0) {
        free(r);
        return rc;
    }
    *state = r;
    return 0;
}

const vmm_device_ops vmm__virtio_rng_ops = {
    .version = VMM_DEVICE_OPS_VERSION,
    .name = "virtio-rng",
    .create = vmm__builtin_create,
    .read = vmm__virtio_dev_read,
    .write = vmm__virtio_dev_write,
    .reset = vmm__virtio_dev_reset,
    .save = vmm__virtio_dev_save, /* no state beyond the transport's */
    .load = vmm__virtio_dev_load,
    .destroy = free,
};

const struct vmm__device_type vmm__virtio_rng_type = {
    .ops = &vmm__virtio_rng_ops,
    .create = rng_create,
};
