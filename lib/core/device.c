/* SPDX-License-Identifier: MIT */
/* Device type registry, device instances, and the calls devices make. */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

/* ---- registry ---- */

struct type_entry {
    const vmm_device_ops *ops;
    bool builtin;
    struct type_entry *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct type_entry *types;
static bool builtins_done;

static bool valid_name(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return n >= 1 && n <= 31;
}

static struct type_entry *find_locked(const char *name)
{
    for (struct type_entry *t = types; t; t = t->next)
        if (strcmp(t->ops->name, name) == 0)
            return t;
    return NULL;
}

static int add_locked(const vmm_device_ops *ops, bool builtin)
{
    if (find_locked(ops->name))
        return vmm__err(VMM_EEXIST, "device type \"%s\" is already registered", ops->name);
    struct type_entry *t = malloc(sizeof *t);
    if (!t)
        return vmm__err(VMM_ENOMEM, "device type registry: out of memory");
    *t = (struct type_entry){ops, builtin, types};
    types = t;
    return 0;
}

/* Built-ins are added on first use rather than from constructors, so that the
 * library has no start-up side effects. Caller holds registry_lock. */
static void ensure_builtins_locked(void)
{
    if (builtins_done)
        return;
    builtins_done = true;
    for (const struct vmm__device_type *const *t = vmm__builtin_types; *t; t++)
        add_locked((*t)->ops, true);
}

int vmm_device_register(const vmm_device_ops *ops)
{
    if (!ops)
        return vmm__err(VMM_EINVAL, "vmm_device_register: ops is NULL");
    if (ops->version != VMM_DEVICE_OPS_VERSION)
        return vmm__err(VMM_EVERSION, "vmm_device_register: ops version %u unknown (expected %u)",
                        ops->version, VMM_DEVICE_OPS_VERSION);
    if (!ops->name || !valid_name(ops->name))
        return vmm__err(VMM_EINVAL, "vmm_device_register: name must be 1-31 of [a-z0-9_-]");
    if (!ops->create || !ops->read || !ops->write)
        return vmm__err(VMM_EINVAL, "vmm_device_register: \"%s\" lacks create, read or write",
                        ops->name);
    pthread_mutex_lock(&registry_lock);
    ensure_builtins_locked();
    int rc = add_locked(ops, false);
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

int vmm_device_unregister(const char *name)
{
    if (!name)
        return vmm__err(VMM_EINVAL, "vmm_device_unregister: name is NULL");
    pthread_mutex_lock(&registry_lock);
    ensure_builtins_locked();
    int rc = 0;
    struct type_entry **pp = &types;
    while (*pp && strcmp((*pp)->ops->name, name) != 0)
        pp = &(*pp)->next;
    if (!*pp) {
        rc = vmm__err(VMM_ENOENT, "device type \"%s\" is not registered", name);
    } else if ((*pp)->builtin) {
        rc = vmm__err(VMM_EPERM, "device type \"%s\" is built in", name);
    } else {
        struct type_entry *t = *pp;
        *pp = t->next;
        free(t);
    }
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

const vmm_device_ops *vmm_device_find_type(const char *name)
{
    if (!name)
        return NULL;
    pthread_mutex_lock(&registry_lock);
    ensure_builtins_locked();
    struct type_entry *t = find_locked(name);
    const vmm_device_ops *ops = t ? t->ops : NULL;
    pthread_mutex_unlock(&registry_lock);
    return ops;
}

/* ---- instances ---- */

/* Every type accepts "id": take it from the config before create() runs, so
 * embedder types need not handle it. */
static void object_id(struct json_object *o, char *id, size_t cap)
{
    struct json_object *v;
    if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "id", &v) &&
        json_object_is_type(v, json_type_string)) {
        size_t n = (size_t)json_object_get_string_len(v);
        const char *s = json_object_get_string(v);
        if (n > 0 && n < cap && strlen(s) == n)
            memcpy(id, s, n + 1);
    }
}

/* The same from text; a config that is not valid JSON is left to create() to
 * refuse. */
static void config_id(const char *json, char *id, size_t cap)
{
    if (!json || !*json)
        return;
    struct json_tokener *tok = json_tokener_new_ex(32);
    if (!tok)
        return;
    struct json_object *o = json_tokener_parse_ex(tok, json, (int)strnlen(json, 65536) + 1);
    json_tokener_free(tok);
    object_id(o, id, cap);
    json_object_put(o);
}

/* Why the last create() on this thread failed, as the device said it (for the
 * spec layer, which reports it under a JSON path). */
static _Thread_local char last_create_error[sizeof(((vmm_device *)0)->error)];

const char *vmm__device_last_error(void)
{
    return last_create_error;
}

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
static void host_teardown(vmm_device *dev)
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

/* A device from its config as text (cfg NULL) or as a parsed object: a
 * built-in type's create gets the object, another type the object's text. */
static int device_new(const char *type, const char *text, struct json_object *cfg,
                      const struct vmm__devhost *host, void *host_ctx, const char *default_id,
                      vmm_device **out)
{
    *out = NULL;
    const vmm_device_ops *ops = vmm_device_find_type(type);
    if (!ops)
        return vmm__err(VMM_ENOENT, "no device type \"%s\"", type);
    const struct vmm__device_type *builtin = cfg ? vmm__builtin_type(ops) : NULL;
    if (cfg && !builtin && !(text = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN)))
        return vmm__err(VMM_ENOMEM, "device %s: out of memory", type);
    vmm_device *dev = calloc(1, sizeof *dev);
    if (!dev)
        return vmm__err(VMM_ENOMEM, "device %s: out of memory", type);
    dev->ops = ops;
    dev->host = host;
    dev->host_ctx = host_ctx;
    pthread_mutex_init(&dev->lock, NULL);
    snprintf(dev->id, sizeof dev->id, "%s", default_id ? default_id : ops->name);
    if (cfg)
        object_id(cfg, dev->id, sizeof dev->id);
    else
        config_id(text, dev->id, sizeof dev->id);
    /* Whether create() recorded its own message: compare the last error. */
    struct vmm__err_saved before;
    vmm__err_save(&before);
    last_create_error[0] = 0;
    int rc = builtin ? builtin->create(dev, cfg, &dev->state) : ops->create(dev, text, &dev->state);
    if (rc < 0) {
        memcpy(last_create_error, dev->error, sizeof last_create_error);
        bool own = vmm__err_changed(&before);
        host_teardown(dev);
        if (host && host->release)
            host->release(host_ctx, dev);
        if (dev->error[0])
            vmm__err(rc, "device %s: %s", dev->id, dev->error);
        else if (!own)
            vmm__err(rc, "device %s: create failed: %s", dev->id, vmm_strerror(rc));
        pthread_mutex_destroy(&dev->lock);
        free(dev);
        return rc;
    }
    *out = dev;
    return 0;
}

int vmm__device_new(const char *type, const char *config_json, const struct vmm__devhost *host,
                    void *host_ctx, const char *default_id, vmm_device **out)
{
    return device_new(type, config_json, NULL, host, host_ctx, default_id, out);
}

int vmm__device_new_obj(const char *type, struct json_object *cfg, const struct vmm__devhost *host,
                        void *host_ctx, const char *default_id, vmm_device **out)
{
    return device_new(type, NULL, cfg, host, host_ctx, default_id, out);
}

int vmm__device_range(const vmm_device *dev, unsigned int i, vmm_space *space, uint64_t *base,
                      uint64_t *len)
{
    if (!dev || i >= dev->nranges)
        return VMM_ENOENT;
    *space = dev->ranges[i].space;
    *base = dev->ranges[i].base;
    *len = dev->ranges[i].len;
    return 0;
}

int vmm_device_checking(const vmm_device *dev)
{
    return dev && dev->host && dev->host->check_only;
}

void vmm__device_free(vmm_device *dev)
{
    if (!dev)
        return;
    host_teardown(dev);
    if (dev->ops->destroy)
        dev->ops->destroy(dev->state);
    pthread_mutex_destroy(&dev->lock);
    free(dev);
}

int vmm__device_access(vmm_device *dev, unsigned int range, uint64_t offset, void *data,
                       unsigned int size, bool write)
{
    pthread_mutex_lock(&dev->lock);
    int rc = write ? dev->ops->write(dev->state, range, offset, data, size)
                   : dev->ops->read(dev->state, range, offset, data, size);
    if (rc < 0) {
        if (!write)
            memset(data, 0xff, size);
        /* Under the device lock: the rate limiter is per device. */
        vmm_device_log_limited(
            dev, VMM_LOG_WARN, "%s of %u bytes at range %u offset 0x%llx failed: %s",
            write ? "write" : "read", size, range, (unsigned long long)offset, vmm_strerror(rc));
    }
    pthread_mutex_unlock(&dev->lock);
    return rc;
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
    return vmm__hv_irq_line(vm->vm_fd, line, level);
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
    return vmm__hv_irqfd(vm->vm_fd, line, fd, resamplefd, assign);
}

static int vm_ioeventfd(void *ctx, uint64_t addr, uint32_t value, int fd, bool assign)
{
    vmm_vm *vm = ctx;
    if (assign && !vm->cap_ioeventfd)
        return vmm__err(VMM_ENOTSUP, "KVM lacks KVM_CAP_IOEVENTFD");
    return vmm__hv_ioeventfd(vm->vm_fd, addr, 4, value, fd, assign);
}

static const struct vmm__devhost vm_host = {
    .mem_read = vm_mem_read,
    .mem_write = vm_mem_write,
    .set_irq = vm_set_irq,
    .claim = vm_claim,
    .release = vm_release,
    .irqfd = vm_irqfd,
    .ioeventfd = vm_ioeventfd,
};

static int attach(vmm_vm *vm, const char *type, const char *text, struct json_object *cfg,
                  vmm_device **out)
{
    if (out)
        *out = NULL;
    if (!vm || !type)
        return vmm__err(VMM_EINVAL, "vmm_device_attach: NULL argument");
    if (vmm__vm_busy(vm))
        return vmm__err(VMM_EBUSY, "vmm_device_attach: a vCPU of the VM is running");
    char id[32];
    snprintf(id, sizeof id, "%s%u", type, vm->ndevices);
    vmm_device *dev;
    int rc = device_new(type, text, cfg, &vm_host, vm, id, &dev);
    if (rc < 0)
        return rc;
    dev->next = vm->devices;
    vm->devices = dev;
    vm->ndevices++;
    if (out)
        *out = dev;
    return 0;
}

int vmm_device_attach(vmm_device **out, vmm_vm *vm, const char *type, const char *config_json)
{
    return attach(vm, type, config_json, NULL, out);
}

int vmm__device_attach_obj(vmm_vm *vm, const char *type, struct json_object *cfg, vmm_device **out)
{
    return attach(vm, type, NULL, cfg, out);
}

int vmm_device_reset(vmm_device *dev)
{
    if (!dev)
        return vmm__err(VMM_EINVAL, "vmm_device_reset: dev is NULL");
    pthread_mutex_lock(&dev->lock);
    if (dev->ops->reset)
        dev->ops->reset(dev->state);
    pthread_mutex_unlock(&dev->lock);
    return 0;
}

int vmm_device_save(vmm_device *dev, void *buf, size_t cap, size_t *len)
{
    if (!dev || !len)
        return vmm__err(VMM_EINVAL, "vmm_device_save: NULL argument");
    if (!dev->ops->save)
        return vmm__err(VMM_ENOSYS, "device %s cannot save its state", dev->id);
    pthread_mutex_lock(&dev->lock);
    int rc = dev->ops->save(dev->state, buf, cap, len);
    pthread_mutex_unlock(&dev->lock);
    if (rc < 0 && vmm_error_last()->code != rc)
        vmm__err(rc, "device %s: save failed", dev->id);
    return rc;
}

int vmm_device_load(vmm_device *dev, const void *buf, size_t len)
{
    if (!dev || (!buf && len))
        return vmm__err(VMM_EINVAL, "vmm_device_load: NULL argument");
    if (!dev->ops->load)
        return vmm__err(VMM_ENOSYS, "device %s cannot load state", dev->id);
    dev->error[0] = 0;
    pthread_mutex_lock(&dev->lock);
    int rc = dev->ops->load(dev->state, buf, len);
    pthread_mutex_unlock(&dev->lock);
    if (rc < 0)
        vmm__err(rc, "device %s: load: %s", dev->id, dev->error[0] ? dev->error : vmm_strerror(rc));
    return rc;
}

const char *vmm_device_id(const vmm_device *dev)
{
    return dev ? dev->id : NULL;
}

const vmm_device_ops *vmm_device_type(const vmm_device *dev)
{
    return dev ? dev->ops : NULL;
}

void *vmm_device_state(const vmm_device *dev)
{
    return dev ? dev->state : NULL;
}

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
