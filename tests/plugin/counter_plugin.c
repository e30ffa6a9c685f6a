/* SPDX-License-Identifier: MIT */
/* A device plugin for tests: registers "plugin-counter", which adds what the
 * guest writes at port 0x700 or MMIO 0xe0000000 and returns the sum on reads. */
#include <libvmm/sys/device.h>
#include <libvmm/vmm.h>
#include <stdlib.h>
#include <string.h>

struct counter {
    uint32_t sum;
};

static int create(vmm_device *dev, const char *config, void **state)
{
    (void)config;
    struct counter *c = calloc(1, sizeof *c);
    if (!c)
        return VMM_ENOMEM;
    int rc = vmm_device_claim(dev, VMM_SPACE_PIO, 0x700, 4);
    if (rc == 0)
        rc = vmm_device_claim(dev, VMM_SPACE_MMIO, 0xe0000000ull, 0x1000);
    if (rc < 0) {
        free(c);
        return rc;
    }
    *state = c;
    return 0;
}

static int rd(void *state, unsigned int range, uint64_t off, void *data, unsigned int size)
{
    (void)range;
    if (off != 0 || size != 4)
        return VMM_EINVAL;
    memcpy(data, &((struct counter *)state)->sum, 4);
    return 0;
}

static int wr(void *state, unsigned int range, uint64_t off, const void *data, unsigned int size)
{
    (void)range;
    if (off != 0 || size != 4)
        return VMM_EINVAL;
    uint32_t v;
    memcpy(&v, data, 4);
    ((struct counter *)state)->sum += v;
    return 0;
}

static const vmm_device_ops ops = {
    .version = VMM_DEVICE_OPS_VERSION,
    .name = "plugin-counter",
    .create = create,
    .read = rd,
    .write = wr,
    .destroy = free,
};

__attribute__((visibility("default"))) int vmm_plugin_init(unsigned int abi)
{
    if (abi != VMM_DEVICE_OPS_VERSION)
        return VMM_EVERSION;
    return vmm_device_register(&ops);
}
