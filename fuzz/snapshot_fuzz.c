/* SPDX-License-Identifier: MIT */
/* libFuzzer target: vmm_snapshot_load_buffer() over arbitrary bytes (see
 * fuzz/CMakeLists.txt), and the device states of a file that loads into
 * devices of their types. Seeds in fuzz/corpus/snapshot/ come from
 * `test_snapshot_file --write-seeds DIR`. Almost every mutation breaks the
 * checksum, which would stop the loader at its first check, so each input is
 * loaded twice: as it is, and with its checksum made right, which takes the
 * mutation into the structural checks behind it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/vmm.h>

#include "core/internal.h"
#include "snapshot/snapshot_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the device states of a file that loads ----
 * Each device section of a built-in type that needs no host resource is
 * loaded into a device of that type over a fake host with 64 KiB of RAM:
 * the state checks meet the file's bytes too. */
static uint8_t ram[0x10000];

static int ram_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    (void)ctx;
    if (gpa > sizeof ram || len > sizeof ram - gpa)
        return VMM_EFAULT;
    memcpy(buf, ram + gpa, len);
    return 0;
}

static int ram_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
    (void)ctx;
    if (gpa > sizeof ram || len > sizeof ram - gpa)
        return VMM_EFAULT;
    memcpy(ram + gpa, buf, len);
    return 0;
}

static int set_irq(void *ctx, unsigned int line, int level)
{
    (void)ctx, (void)line, (void)level;
    return 0;
}

static int claim(void *ctx, vmm_device *dev, vmm_space space, uint64_t base, uint64_t len,
                 unsigned int index)
{
    (void)ctx, (void)dev, (void)space, (void)base, (void)len, (void)index;
    return 0;
}

static void release(void *ctx, vmm_device *dev)
{
    (void)ctx, (void)dev;
}

static const struct vmm__devhost host = {.mem_read = ram_read,
                                         .mem_write = ram_write,
                                         .set_irq = set_irq,
                                         .claim = claim,
                                         .release = release};

static const struct {
    const char *type, *config;
} types[] = {
    {"serial", NULL},
    {"debug-exit", NULL},
    {"virtio-rng", "{\"mmio\": 3489660928, \"irq\": 5}"},
    {"virtio-net", "{\"mmio\": 3489660928, \"mac\": \"52:54:00:12:34:56\"}"},
    {"virtio-console", "{\"mmio\": 3489660928}"},
};

static void load_devices(const vmm_snapshot *s)
{
    for (size_t i = 0; i < s->ndevices; i++) {
        for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
            if (strcmp(s->devices[i].type, types[k].type) != 0)
                continue;
            vmm_device *d;
            memset(ram, 0, sizeof ram);
            if (vmm__device_new(types[k].type, types[k].config, &host, NULL, NULL, &d) != 0)
                abort();
            int rc = vmm_device_load(d, s->devices[i].data, s->devices[i].len);
            if (rc != 0 && rc != VMM_EINVAL)
                abort();
            uint32_t v;
            (void)vmm__device_access(d, 0, 0x70, &v, 4, false);
            vmm__device_free(d);
        }
    }
}

static void load(const uint8_t *data, size_t size)
{
    vmm_snapshot *s = NULL;
    int rc = vmm_snapshot_load_buffer(data, size, &s);
    /* snapshot.h: 0, VMM_EINVAL or VMM_EVERSION; out of memory is the only
     * other excuse. A refusal leaves nothing behind. */
    if (rc == 0) {
        if (!s || vmm_snapshot_memory_size(s) == 0)
            abort();
        load_devices(s);
        vmm_snapshot_free(s);
    } else if ((rc != VMM_EINVAL && rc != VMM_EVERSION && rc != VMM_ENOMEM) || s) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load(data, size);
    if (size < 72)
        return 0;
    uint8_t *copy = malloc(size); /* exactly size bytes: ASan sees any overread */
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    uint32_t c = vmm__crc32c(0, copy, size - 8);
    for (int i = 0; i < 4; i++)
        copy[size - 8 + i] = (uint8_t)(c >> (8 * i));
    load(copy, size);
    free(copy);
    return 0;
}
