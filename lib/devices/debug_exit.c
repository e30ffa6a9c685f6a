/* SPDX-License-Identifier: MIT */
/* debug-exit: a register whose write ends the run with the written value, the
 * way test guests and fuzz targets report a result. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"

struct debug_exit {
    vmm_device *dev;
    unsigned int size;
};

static int dx_read(void *state, unsigned int range, uint64_t off, void *data, unsigned int size)
{
    (void)state;
    (void)range;
    (void)off;
    memset(data, 0, size);
    return 0;
}

static int dx_write(void *state, unsigned int range, uint64_t off, const void *data,
                    unsigned int size)
{
    struct debug_exit *d = state;
    (void)range;
    (void)off;
    uint32_t v = 0;
    memcpy(&v, data, size < 4 ? size : 4);
    if (d->size < 4)
        v &= (1u << (8 * d->size)) - 1;
    vmm_device_stop(d->dev, (int)v);
    return 0;
}

static const char *const dx_keys[] = {"port", "mmio", "size", NULL};

static int dx_create(vmm_device *dev, struct json_object *cfg, void **state)
{
    int rc = vmm__cfg_keys(dev, cfg, dx_keys);
    if (rc < 0)
        return rc;
    uint64_t size, base;
    vmm_space space;
    rc = vmm__cfg_u64(dev, cfg, "size", 1, 4, 4, &size);
    if (rc >= 0 && size == 3) {
        vmm_device_error(dev, "config.size: must be 1, 2 or 4");
        rc = VMM_ECONFIG;
    }
    if (rc >= 0)
        rc = vmm__cfg_place(dev, cfg, 0xf4, size, &space, &base);
    if (rc < 0)
        return VMM_ECONFIG;
    struct debug_exit *d = calloc(1, sizeof *d);
    if (!d)
        return VMM_ENOMEM;
    d->dev = dev;
    d->size = (unsigned int)size;
    if ((rc = vmm_device_claim(dev, space, base, size)) < 0) {
        free(d);
        return rc;
    }
    *state = d;
    return 0;
}

static int dx_save(void *state, void *buf, size_t cap, size_t *len)
{
    (void)state;
    (void)buf;
    (void)cap;
    *len = 0; /* stateless */
    return 0;
}

static int dx_load(void *state, const void *buf, size_t len)
{
    (void)state;
    (void)buf;
    return len == 0 ? 0 : VMM_EINVAL;
}

const vmm_device_ops vmm__debug_exit_ops = {
    .version = VMM_DEVICE_OPS_VERSION,
    .name = "debug-exit",
    .create = vmm__builtin_create,
    .read = dx_read,
    .write = dx_write,
    .save = dx_save,
    .load = dx_load,
    .destroy = free,
};

const struct vmm__device_type vmm__debug_exit_type = {
    .ops = &vmm__debug_exit_ops,
    .create = dx_create,
};
