/* SPDX-License-Identifier: MIT */
/* The device type registry, device instances, attaching them to VMs, and
 * reset, save and load (devhost.c serves the calls devices make). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        vmm__device_host_teardown(dev);
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
    vmm__device_host_teardown(dev);
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
    int rc = device_new(type, text, cfg, &vmm__vm_devhost, vm, id, &dev);
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

int vmm__device_save_locked(vmm_device *dev, void *buf, size_t cap, size_t *len)
{
    if (!dev->ops->save)
        return vmm__err(VMM_ENOSYS, "device %s cannot save its state", dev->id);
    int rc = dev->ops->save(dev->state, buf, cap, len);
    if (rc < 0 && vmm_error_last()->code != rc)
        vmm__err(rc, "device %s: save failed", dev->id);
    return rc;
}

int vmm_device_save(vmm_device *dev, void *buf, size_t cap, size_t *len)
{
    if (!dev || !len)
        return vmm__err(VMM_EINVAL, "vmm_device_save: NULL argument");
    pthread_mutex_lock(&dev->lock);
    int rc = vmm__device_save_locked(dev, buf, cap, len);
    pthread_mutex_unlock(&dev->lock);
    return rc;
}

int vmm__device_load_locked(vmm_device *dev, const void *buf, size_t len)
{
    if (!dev->ops->load)
        return vmm__err(VMM_ENOSYS, "device %s cannot load state", dev->id);
    dev->error[0] = 0;
    int rc = dev->ops->load(dev->state, buf, len);
    if (rc < 0)
        vmm__err(rc, "device %s: load: %s", dev->id, dev->error[0] ? dev->error : vmm_strerror(rc));
    return rc;
}

int vmm_device_load(vmm_device *dev, const void *buf, size_t len)
{
    if (!dev || (!buf && len))
        return vmm__err(VMM_EINVAL, "vmm_device_load: NULL argument");
    pthread_mutex_lock(&dev->lock);
    int rc = vmm__device_load_locked(dev, buf, len);
    pthread_mutex_unlock(&dev->lock);
    return rc;
}

void vmm__vm_devices_lock(vmm_vm *vm, bool lock)
{
    for (vmm_device *d = vm->devices; d; d = d->next) {
        if (lock)
            pthread_mutex_lock(&d->lock);
        else
            pthread_mutex_unlock(&d->lock);
    }
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
