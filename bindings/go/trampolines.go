// SPDX-License-Identifier: MIT

package libvmm

/*
#include <stdlib.h>
#include <string.h>
#include <libvmm/vmm.h>
#include <libvmm/sys/device.h>

extern void goByteSink(uintptr_t h, uint8_t *buf, size_t n);
extern int64_t goHostFn(uintptr_t h, void *in, size_t in_len, void *out, size_t out_cap);
extern int goPolicy(uintptr_t h, vmm_sandbox_syscall *call);
extern int goDevCreate(vmm_device *dev, char *config, uintptr_t *state);
extern int goDevAccess(uintptr_t h, unsigned int rng, uint64_t off, void *data, unsigned int size,
                       int write);
extern void goDevReset(uintptr_t h);
extern int goDevSave(uintptr_t h, void *buf, size_t cap, size_t *n);
extern int goDevLoad(uintptr_t h, void *buf, size_t n);
extern void goDevDestroy(uintptr_t h);
extern void goLog(int level, char *component, char *msg);

static void gv_log(void *opaque, vmm_log_level level, const char *component, const char *message)
{
    (void)opaque;
    goLog((int)level, (char *)component, (char *)message);
}

void gv_log_set(int on, int min_level)
{
    vmm_log_set(on ? gv_log : NULL, NULL, (vmm_log_level)min_level);
}

static void gv_net_tx(void *opaque, const void *frame, size_t len)
{
    goByteSink((uintptr_t)opaque, (uint8_t *)frame, len);
}

int gv_net_set_tx(vmm_device *d, uintptr_t h)
{
    return vmm_virtio_net_set_tx(d, h ? gv_net_tx : NULL, (void *)h);
}

static int gv_dev_create(vmm_device *dev, const char *config, void **state)
{
    uintptr_t h = 0;
    int rc = goDevCreate(dev, (char *)config, &h);
    *state = (void *)h;
    return rc;
}

static int gv_dev_read(void *state, unsigned int rng, uint64_t off, void *data, unsigned int size)
{
    return goDevAccess((uintptr_t)state, rng, off, data, size, 0);
}

static int gv_dev_write(void *state, unsigned int rng, uint64_t off, const void *data,
                        unsigned int size)
{
    return goDevAccess((uintptr_t)state, rng, off, (void *)data, size, 1);
}

static void gv_dev_reset(void *state)
{
    goDevReset((uintptr_t)state);
}

static int gv_dev_save(void *state, void *buf, size_t cap, size_t *len)
{
    return goDevSave((uintptr_t)state, buf, cap, len);
}

static int gv_dev_load(void *state, const void *buf, size_t len)
{
    return goDevLoad((uintptr_t)state, (void *)buf, len);
}

static void gv_dev_destroy(void *state)
{
    goDevDestroy((uintptr_t)state);
}

void gv_device_error(vmm_device *dev, const char *msg)
{
    vmm_device_error(dev, "%s", msg);
}

// A device type whose callbacks are a Go type's; the table and its name
// stay allocated while the type may have devices (the process's life).
vmm_device_ops *gv_dev_ops(const char *name, int with_save)
{
    vmm_device_ops *o = calloc(1, sizeof *o);
    char *n = strdup(name);
    if (!o || !n) {
        free(o);
        free(n);
        return NULL;
    }
    o->version = VMM_DEVICE_OPS_VERSION;
    o->name = n;
    o->create = gv_dev_create;
    o->read = gv_dev_read;
    o->write = gv_dev_write;
    o->reset = gv_dev_reset;
    if (with_save) {
        o->save = gv_dev_save;
        o->load = gv_dev_load;
    }
    o->destroy = gv_dev_destroy;
    return o;
}

static int64_t gv_host_fn(void *opaque, const void *in, size_t in_len, void *out, size_t out_cap)
{
    return goHostFn((uintptr_t)opaque, (void *)in, in_len, out, out_cap);
}

static int gv_policy(void *opaque, vmm_sandbox *sb, vmm_sandbox_syscall *call)
{
    (void)sb;
    return goPolicy((uintptr_t)opaque, call);
}

int gv_sandbox_register(vmm_sandbox *sb, const char *name, uintptr_t h)
{
    return vmm_sandbox_register(sb, name, gv_host_fn, (void *)h);
}

int gv_sandbox_create(vmm_sandbox **out, unsigned int flags, uint64_t memory, uint64_t stack,
                      uint64_t budget_ns, uint64_t max_output, uintptr_t policy)
{
    vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
    o.flags = flags;
    if (memory)
        o.memory_size = memory;
    if (stack)
        o.stack_size = stack;
    o.time_budget_ns = budget_ns;
    if (max_output)
        o.max_output = max_output;
    if (policy) {
        o.syscall = gv_policy;
        o.syscall_opaque = (void *)policy;
    }
    return vmm_sandbox_create(out, &o);
}

static void gv_serial_out(void *opaque, const uint8_t *buf, size_t len)
{
    goByteSink((uintptr_t)opaque, (uint8_t *)buf, len);
}

static void gv_console_out(void *opaque, const void *buf, size_t len)
{
    goByteSink((uintptr_t)opaque, (uint8_t *)buf, len);
}

int gv_serial_set_output(vmm_device *d, uintptr_t h)
{
    return vmm_serial_set_output(d, h ? gv_serial_out : NULL, (void *)h);
}

int gv_console_set_output(vmm_device *d, uintptr_t h)
{
    return vmm_virtio_console_set_output(d, h ? gv_console_out : NULL, (void *)h);
}
*/
import "C"
