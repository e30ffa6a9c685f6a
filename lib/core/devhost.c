/* SPDX-License-Identifier: MIT */
/* The device host: what a device reaches outside itself. The calls of
 * sys/device.h and devhost.h (claims, interrupt lines, guest memory, logs,
 * errors), the irqfds and doorbells it drives for a device on the device's
 * host I/O thread, and the host a VM gives its devices. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

/* ---- eventfds the device host drives: irqfds and doorbells ---- */

static void efd_signal(int fd)
{
    uint64_t one = 1;
    /* A full counter still signals: nothing to do on EAGAIN. */
    while (write(fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

static void efd_drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) < 0 && errno == EINTR)
        ;
}

/* The device's host I/O thread, started at the first need. Device lock held. */
static int host_io(vmm_device *dev, struct vmm__io **out)
{
    if (!dev->hostio) {
        struct vmm__io *io;
        int rc = vmm__io_new(dev, NULL, NULL, &io);
        if (rc == 0 && (rc = vmm__io_start(io)) < 0)
            vmm__io_free(io);
        if (rc < 0)
            return vmm__err(rc, "device %s: cannot start its I/O thread", dev->id);
        dev->hostio = io;
    }
    *out = dev->hostio;
    return 0;
}

/* Stop the host I/O thread first (no callback runs afterwards), then undo
 * every registration and close the eventfds. Without the device lock. */
void vmm__device_host_teardown(vmm_device *dev)
{
    /* A backend thread of the device may still raise its line until the
     * type's destroy() stops it: from now on through KVM_IRQ_LINE. */
    vmm__device_lock(dev);
    dev->host_closed = true;
    vmm__device_unlock(dev);
    vmm__io_free(dev->hostio);
    dev->hostio = NULL;
    struct vmm__err_saved saved;
    vmm__err_save(&saved);
    for (unsigned int i = 0; i < dev->ndoorbells; i++) {
        struct vmm__doorbell *d = &dev->doorbell[i];
        if (d->on)
            dev->host->ioeventfd(dev->host_ctx, d->addr, d->value, d->fd, false);
        close(d->fd);
    }
    for (unsigned int i = 0; i < dev->nirqfds; i++) {
        struct vmm__irqfd *b = &dev->irqfd[i];
        dev->host->irqfd(dev->host_ctx, b->line, b->fd, b->resamplefd, false);
        close(b->fd);
        close(b->resamplefd);
    }
    vmm__err_restore(&saved);
    dev->ndoorbells = dev->nirqfds = 0;
}

/* The guest's EOI de-asserted the line: assert it again while the device
 * still asks for it (the level semantics of vmm_device_set_irq). */
static void resampled(void *model, unsigned int idx, short revents)
{
    struct vmm__irqfd *b = model;
    (void)idx;
    (void)revents;
    efd_drain(b->resamplefd);
    b->asserted = b->level;
    if (b->level)
        efd_signal(b->fd);
}

/* The irqfd that drives line, bound at the first assertion; NULL: use
 * KVM_IRQ_LINE. Device lock held. */
static struct vmm__irqfd *irqfd_for(vmm_device *dev, unsigned int line, bool bind)
{
    for (unsigned int i = 0; i < dev->nirqfds; i++)
        if (dev->irqfd[i].line == line)
            return &dev->irqfd[i];
    if (!bind || !dev->irqfd_wanted || dev->host_closed || (dev->irqfd_refused & (1u << line)) ||
        !dev->host->irqfd || dev->nirqfds == VMM__DEVICE_MAX_IRQFDS)
        return NULL;
    struct vmm__err_saved saved;
    vmm__err_save(&saved);
    struct vmm__irqfd *b = &dev->irqfd[dev->nirqfds];
    *b = (struct vmm__irqfd){.line = line};
    b->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    b->resamplefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct vmm__io *io = NULL;
    int watch = -1, rc = VMM_EIO;
    if (b->fd >= 0 && b->resamplefd >= 0 && host_io(dev, &io) == 0 &&
        (watch = vmm__io_add_fn(io, b->resamplefd, POLLIN, resampled, b)) >= 0)
        rc = dev->host->irqfd(dev->host_ctx, line, b->fd, b->resamplefd, true);
    if (rc == 0) {
        vmm__err_restore(&saved);
        dev->nirqfds++;
        return b;
    }
    vmm_device_log(dev, VMM_LOG_DEBUG, "interrupt line %u: no irqfd (%s); KVM_IRQ_LINE instead",
                   line, rc == VMM_EIO ? "no eventfd or I/O thread" : vmm_error_last()->message);
    vmm__err_restore(&saved);
    if (watch >= 0)
        vmm__io_set(io, (unsigned int)watch, -1, 0);
    if (b->fd >= 0)
        close(b->fd);
    if (b->resamplefd >= 0)
        close(b->resamplefd);
    dev->irqfd_refused |= 1u << line;
    return NULL;
}

void vmm__device_use_irqfd(vmm_device *dev, bool on)
{
    dev->irqfd_wanted = on;
}

static void rung(void *model, unsigned int idx, short revents)
{
    struct vmm__doorbell *d = model;
    (void)idx;
    (void)revents;
    efd_drain(d->fd);
    if (d->on && d->fn(d->ctx, d->value))
        efd_signal(d->fd); /* more to do: after the other ready entries */
}

int vmm__device_doorbell(vmm_device *dev, uint64_t addr, uint32_t value, vmm__doorbell_fn fn,
                         void *ctx, bool on)
{
    struct vmm__doorbell *d = NULL;
    for (unsigned int i = 0; i < dev->ndoorbells; i++)
        if (dev->doorbell[i].addr == addr && dev->doorbell[i].value == value)
            d = &dev->doorbell[i];
    if (!on) {
        if (d && d->on) {
            d->on = false;
            vmm__io_set(dev->hostio, (unsigned int)d->watch, d->fd, 0);
            return dev->host->ioeventfd(dev->host_ctx, addr, value, d->fd, false);
        }
        return 0;
    }
    if (d && d->on)
        return 0;
    if (!dev->host || !dev->host->ioeventfd || dev->host_closed)
        return vmm__err(VMM_ENOTSUP, "device %s: no ioeventfds on this host", dev->id);
    if (!d) {
        if (dev->ndoorbells == VMM__DEVICE_MAX_DOORBELLS)
            return vmm__err(VMM_E2BIG, "device %s: more than %d doorbells", dev->id,
                            VMM__DEVICE_MAX_DOORBELLS);
        struct vmm__io *io;
        int rc = host_io(dev, &io);
        if (rc < 0)
            return rc;
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
            return vmm__err(VMM_EIO, "device %s: eventfd: %s", dev->id, strerror(errno));
        d = &dev->doorbell[dev->ndoorbells];
        *d = (struct vmm__doorbell){.addr = addr, .value = value, .fd = fd};
        if ((d->watch = vmm__io_add_fn(io, fd, 0, rung, d)) < 0) {
            close(fd);
            return vmm__err(d->watch, "device %s: its I/O thread watches too much", dev->id);
        }
        dev->ndoorbells++;
    }
    /* A signal left from an earlier registration is stale. */
    efd_drain(d->fd);
    int rc = dev->host->ioeventfd(dev->host_ctx, addr, value, d->fd, true);
    if (rc < 0)
        return rc;
    d->fn = fn;
    d->ctx = ctx;
    d->on = true;
    vmm__io_set(dev->hostio, (unsigned int)d->watch, d->fd, POLLIN);
    return 0;
}

/* The host a VM gives its devices. */
static int vm_mem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    return vmm__mem_access(ctx, gpa, buf, len, false, true);
}

static int vm_mem_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
    return vmm__mem_access(ctx, gpa, (void *)buf, len, true, true);
}

static int vm_set_irq(void *ctx, unsigned int line, int level)
{
    vmm_vm *vm = ctx;
    if (!(vm->flags & VMM_VM_IRQCHIP))
        return vmm__err(VMM_ENOTSUP, "the VM has no in-kernel irqchip (VMM_VM_IRQCHIP)");
    return vm->hv->irq_line(vm->hvm, line, level);
}

static int vm_claim(void *ctx, vmm_device *dev, vmm_space space, uint64_t base, uint64_t len,
                    unsigned int index)
{
    vmm_vm *vm = ctx;
    if (space == VMM_SPACE_PIO)
        return vmm__bus_add(&vm->pio, base, len, dev, index);
    pthread_rwlock_rdlock(&vm->mem_lock);
    bool ram = vmm__mem_overlaps(vm, base, len);
    pthread_rwlock_unlock(&vm->mem_lock);
    if (ram)
        return vmm__err(VMM_EEXIST, "MMIO range 0x%llx+0x%llx overlaps guest RAM",
                        (unsigned long long)base, (unsigned long long)len);
    return vmm__bus_add(&vm->mmio, base, len, dev, index);
}

static void vm_release(void *ctx, vmm_device *dev)
{
    vmm_vm *vm = ctx;
    vmm__bus_remove_device(&vm->pio, dev);
    vmm__bus_remove_device(&vm->mmio, dev);
}

/* Any line, shared or not, may be driven by irqfds: KVM keeps one level per
 * line and source and ORs them, every resampling irqfd of a line has the one
 * source "irqfd resampler" that the EOI de-asserts before it signals all of
 * their resamplefds, and KVM_IRQ_LINE is another source. So devices sharing a
 * line through irqfds each re-assert after an EOI while they still ask, and a
 * KVM_IRQ_LINE device on the same line is unaffected by them. */
static int vm_irqfd(void *ctx, unsigned int line, int fd, int resamplefd, bool assign)
{
    vmm_vm *vm = ctx;
    if (assign && !(vm->flags & VMM_VM_IRQCHIP))
        return vmm__err(VMM_ENOTSUP, "the VM has no in-kernel irqchip (VMM_VM_IRQCHIP)");
    if (assign && !vm->cap_irqfd)
        return vmm__err(VMM_ENOTSUP, "KVM lacks KVM_CAP_IRQFD or KVM_CAP_IRQFD_RESAMPLE");
    return vm->hv->irqfd(vm->hvm, line, fd, resamplefd, assign);
}

static int vm_ioeventfd(void *ctx, uint64_t addr, uint32_t value, int fd, bool assign)
{
    vmm_vm *vm = ctx;
    if (assign && !vm->cap_ioeventfd)
        return vmm__err(VMM_ENOTSUP, "KVM lacks KVM_CAP_IOEVENTFD");
    return vm->hv->ioeventfd(vm->hvm, addr, 4, value, fd, assign);
}

const struct vmm__devhost vmm__vm_devhost = {
    .mem_read = vm_mem_read,
    .mem_write = vm_mem_write,
    .set_irq = vm_set_irq,
    .claim = vm_claim,
    .release = vm_release,
    .irqfd = vm_irqfd,
    .ioeventfd = vm_ioeventfd,
};

/* ---- calls made by devices ---- */

int vmm_device_claim(vmm_device *dev, vmm_space space, uint64_t base, uint64_t len)
{
    if (!dev || (space != VMM_SPACE_PIO && space != VMM_SPACE_MMIO))
        return vmm__err(VMM_EINVAL, "vmm_device_claim: bad argument");
    if (len == 0 || base + len - 1 < base)
        return vmm__err(VMM_EINVAL, "device %s: range 0x%llx+0x%llx is empty or wraps", dev->id,
                        (unsigned long long)base, (unsigned long long)len);
    if (space == VMM_SPACE_PIO && (base > 0xffff || len > 0x10000 - base))
        return vmm__err(VMM_EINVAL, "device %s: ports 0x%llx+0x%llx beyond 0xffff", dev->id,
                        (unsigned long long)base, (unsigned long long)len);
    if (dev->nranges == VMM__DEVICE_MAX_RANGES)
        return vmm__err(VMM_E2BIG, "device %s: more than %d ranges", dev->id,
                        VMM__DEVICE_MAX_RANGES);
    unsigned int index = dev->nranges;
    if (dev->host && dev->host->claim) {
        int rc = dev->host->claim(dev->host_ctx, dev, space, base, len, index);
        if (rc < 0) {
            vmm__err_prefix("device %s", dev->id);
            return rc;
        }
    }
    dev->ranges[index].space = space;
    dev->ranges[index].base = base;
    dev->ranges[index].len = len;
    dev->nranges++;
    return 0;
}

int vmm_device_set_irq(vmm_device *dev, unsigned int line, int level)
{
    if (!dev)
        return vmm__err(VMM_EINVAL, "vmm_device_set_irq: dev is NULL");
    if (line > 23)
        return vmm__err(VMM_ERANGE, "device %s: interrupt line %u out of range", dev->id, line);
    if (!dev->host || !dev->host->set_irq)
        return vmm__err(VMM_ENOTSUP, "device %s: no interrupt controller", dev->id);
    struct vmm__irqfd *b = irqfd_for(dev, line, level != 0);
    if (b) {
        /* De-assertion waits for the guest's EOI (see resampled()). */
        b->level = level != 0;
        if (b->level && !b->asserted) {
            b->asserted = true;
            efd_signal(b->fd);
        }
        return 0;
    }
    return dev->host->set_irq(dev->host_ctx, line, level);
}

int vmm_device_mem_read(vmm_device *dev, uint64_t gpa, void *buf, size_t len)
{
    if (!dev || !dev->host || !dev->host->mem_read)
        return vmm__err(VMM_EFAULT, "vmm_device_mem_read: no guest memory");
    return dev->host->mem_read(dev->host_ctx, gpa, buf, len);
}

int vmm_device_mem_write(vmm_device *dev, uint64_t gpa, const void *buf, size_t len)
{
    if (!dev || !dev->host || !dev->host->mem_write)
        return vmm__err(VMM_EFAULT, "vmm_device_mem_write: no guest memory");
    return dev->host->mem_write(dev->host_ctx, gpa, buf, len);
}

void vmm_device_log(vmm_device *dev, vmm_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmm__logv(level, dev ? dev->id : "device", fmt, ap);
    va_end(ap);
}

void vmm_device_log_limited(vmm_device *dev, vmm_log_level level, const char *fmt, ...)
{
    if (!dev || !vmm__log_enabled(level))
        return;
    uint64_t suppressed;
    if (!vmm__ratelimit_ok(&dev->rl, &suppressed))
        return;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (suppressed)
        vmm__log(level, dev->id, "%s (%llu similar messages suppressed)", msg,
                 (unsigned long long)suppressed);
    else
        vmm__log(level, dev->id, "%s", msg);
}

void vmm_device_error(vmm_device *dev, const char *fmt, ...)
{
    if (!dev)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dev->error, sizeof dev->error, fmt, ap);
    va_end(ap);
}
