/* SPDX-License-Identifier: MIT */
/* The list of built-in device types, and the create() their public ops
 * tables share: parse the configuration text, then the type's own create
 * from the parsed object (which the spec layer calls directly). */
#include <json-c/json.h>
#include <string.h>

#include "builtin.h"

const struct vmm__device_type *const vmm__builtin_types[] = {
    &vmm__serial_type,       &vmm__debug_exit_type,
    &vmm__virtio_rng_type,   &vmm__virtio_blk_type,
    &vmm__virtio_net_type,   &vmm__virtio_console_type,
    &vmm__virtio_vsock_type, NULL,
};

const struct vmm__device_type *vmm__builtin_type(const vmm_device_ops *ops)
{
    for (const struct vmm__device_type *const *t = vmm__builtin_types; ops && *t; t++)
        if ((*t)->ops == ops)
            return *t;
    return NULL;
}

const struct vmm__device_type *vmm__builtin_named(const char *name)
{
    for (const struct vmm__device_type *const *t = vmm__builtin_types; name && *t; t++)
        if (strcmp((*t)->ops->name, name) == 0)
            return *t;
    return NULL;
}

int vmm__builtin_create(vmm_device *dev, const char *config, void **state)
{
    const struct vmm__device_type *t = vmm__builtin_type(vmm_device_type(dev));
    if (!t)
        return VMM_EINVAL;
    struct json_object *cfg;
    int rc = vmm__cfg_parse_text(dev, config, &cfg);
    if (rc < 0)
        return rc;
    rc = t->create(dev, cfg, state);
    json_object_put(cfg);
    return rc;
}
