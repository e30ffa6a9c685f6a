/* SPDX-License-Identifier: MIT */
/* JSON VM spec: checking a parsed spec's devices without a VM, device
 * plugins, and building the VM a spec describes. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "spec_internal.h"
#include "../boot/elf.h"

/* ---- plugins ---- */

static pthread_mutex_t plugin_lock = PTHREAD_MUTEX_INITIALIZER;
static char **plugins_loaded;
static size_t nplugins;

int vmm_plugin_load(const char *path)
{
    if (!path)
        return vmm__err(VMM_EINVAL, "vmm_plugin_load: path is NULL");
    char real[PATH_MAX];
    if (!realpath(path, real))
        return vmm__err(VMM_ENOENT, "plugin %s: %s", path, strerror(errno));
    pthread_mutex_lock(&plugin_lock);
    int rc = 0;
    for (size_t i = 0; i < nplugins; i++)
        if (strcmp(plugins_loaded[i], real) == 0)
            goto out;
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        rc = vmm__err(VMM_ENOENT, "plugin %s: %s", path, e ? e : "cannot load");
        goto out;
    }
    int (*init)(unsigned int);
    *(void **)&init = dlsym(h, "vmm_plugin_init");
    if (!init) {
        dlclose(h);
        rc = vmm__err(VMM_EINVAL, "plugin %s: no vmm_plugin_init function", path);
        goto out;
    }
    struct vmm__err_saved before;
    vmm__err_save(&before);
    rc = init(VMM_DEVICE_OPS_VERSION);
    if (rc < 0) {
        /* Types it registered may be in use by now: keep the object loaded. */
        if (!vmm__err_changed(&before))
            vmm__err(rc, "plugin %s: vmm_plugin_init failed: %s", path, vmm_strerror(rc));
        else
            vmm__err_prefix("plugin %s", path);
        goto out;
    }
    char **n = realloc(plugins_loaded, (nplugins + 1) * sizeof *n);
    char *copy = strdup(real);
    if (!n || !copy) {
        free(copy);
        if (n)
            plugins_loaded = n;
        rc = vmm__err(VMM_ENOMEM, "plugin %s: out of memory", path);
        goto out;
    }
    plugins_loaded = n;
    plugins_loaded[nplugins++] = copy;
out:
    pthread_mutex_unlock(&plugin_lock);
    return rc;
}

/* ---- devices, checked without a VM ---- */

/* Report a device's failure under its JSON path: a config problem the device
 * described ("config.port: why", "config: why") becomes "devices[i].port: why"
 * or "devices[i]: why"; anything else keeps libvmm's message, without the
 * "device <id>: " prefix it carries. */
static int device_error(size_t i, const char *id, int rc)
{
    const char *raw = vmm__device_last_error();
    char msg[512];
    if (strncmp(raw, "config.", 7) == 0) {
        snprintf(msg, sizeof msg, "devices[%zu].%s", i, raw + 7);
    } else if (strncmp(raw, "config: ", 8) == 0) {
        snprintf(msg, sizeof msg, "devices[%zu]: %s", i, raw + 8);
    } else {
        const char *m = vmm_error_last()->message;
        char prefix[48];
        int n = snprintf(prefix, sizeof prefix, "device %s: ", id);
        if (n > 0 && (size_t)n < sizeof prefix && strncmp(m, prefix, (size_t)n) == 0)
            m += n;
        snprintf(msg, sizeof msg, "devices[%zu]: %s", i, m);
    }
    return vmm__err(rc == VMM_ENOMEM ? rc : VMM_ECONFIG, "%s", msg);
}

/* The id a device gets: the spec's, else the default vmm_device_attach gives
 * the i-th device ("<type><i>"). */
static void device_id(const struct spec_device *d, size_t i, char *id, size_t cap)
{
    if (d->id)
        snprintf(id, cap, "%s", d->id);
    else
        snprintf(id, cap, "%s%zu", d->type, i);
}

struct check_host {
    struct vmm__bus pio, mmio;
    const struct spec *s;
};

static int check_claim(void *ctx, vmm_device *dev, vmm_space space, uint64_t base, uint64_t len,
                       unsigned int index)
{
    struct check_host *h = ctx;
    if (space == VMM_SPACE_MMIO) {
        if (vmm__ranges_overlap(base, len, 0, h->s->mem_size))
            return vmm__err(VMM_EEXIST, "MMIO range 0x%llx+0x%llx overlaps guest RAM",
                            (unsigned long long)base, (unsigned long long)len);
        for (size_t k = 0; k < h->s->nfiles; k++)
            if (vmm__ranges_overlap(base, len, h->s->files[k].address, h->s->files[k].size))
                return vmm__err(VMM_EEXIST, "MMIO range 0x%llx+0x%llx overlaps memory.files[%zu]",
                                (unsigned long long)base, (unsigned long long)len, k);
    }
    return vmm__bus_add(space == VMM_SPACE_PIO ? &h->pio : &h->mmio, base, len, dev, index);
}

/* Devices made here only check their configuration (vmm_device_checking()). */
static const struct vmm__devhost check_devhost = {.claim = check_claim, .check_only = true};

/* The i-th device's type is registered: its plugin is loaded first. */
static int device_type_ready(const struct spec *s, size_t i)
{
    const struct spec_device *d = &s->devices[i];
    if (d->plugin && vmm_plugin_load(d->plugin) < 0)
        return vmm__err(VMM_ECONFIG, "devices[%zu].plugin: %s", i, vmm_error_last()->message);
    if (!vmm_device_find_type(d->type))
        return vmm__err(VMM_ECONFIG, "devices[%zu].type: unknown device type \"%s\"", i, d->type);
    return 0;
}

/* Each device created on a host of its own that only records the claims:
 * configurations, ranges and overlaps are checked, no host resource opened. */
static int check_devices(const struct spec *s)
{
    struct check_host h = {{0}, {0}, s};
    vmm_device *made[SPEC_MAX_DEVICES];
    size_t nmade = 0;
    int rc = 0;
    for (size_t i = 0; i < s->ndevices && rc == 0; i++) {
        const struct spec_device *d = &s->devices[i];
        if ((rc = device_type_ready(s, i)) < 0)
            break;
        char id[32];
        device_id(d, i, id, sizeof id);
        rc = vmm__device_new_obj(d->type, d->config, &check_devhost, &h, id, &made[nmade]);
        if (rc < 0)
            rc = device_error(i, id, rc);
        else
            nmade++;
    }
    for (size_t i = 0; i < nmade; i++)
        vmm__device_free(made[i]);
    vmm__bus_free(&h.pio);
    vmm__bus_free(&h.mmio);
    return rc;
}

int vmm_spec_check(const char *json, size_t len, const char *base_dir)
{
    struct spec s;
    int rc = vmm__spec_parse(json, len, base_dir, &s);
    if (rc == 0)
        rc = check_devices(&s);
    vmm__spec_free(&s);
    return rc;
}

/* ---- building ---- */

/* Attach every device once, in spec order; *console receives the one
 * marked "console". */
static int attach_devices(vmm_vm *vm, const struct spec *s, vmm_device **console)
{
    for (size_t i = 0; i < s->ndevices; i++) {
        const struct spec_device *d = &s->devices[i];
        vmm_device *dev;
        int rc = device_type_ready(s, i);
        if (rc < 0)
            return rc;
        if ((rc = vmm__device_attach_obj(vm, d->type, d->config, &dev)) < 0) {
            char id[32];
            device_id(d, i, id, sizeof id);
            return device_error(i, id, rc);
        }
        if (d->console)
            *console = dev;
    }
    return 0;
}

/* Create the vCPUs and, unless Linux boots (vmm_boot_linux sets them up),
 * put each in the spec's mode at entry. */
static int create_vcpus(vmm_vm *vm, const struct spec *s, uint64_t entry)
{
    for (unsigned int i = 0; i < s->vcpus; i++) {
        vmm_vcpu *v;
        int rc = vmm_vcpu_create(&v, vm, i);
        if (rc < 0) {
            vmm__err_prefix("vcpus");
            return rc;
        }
        if (s->boot == BOOT_LINUX)
            continue;
        vmm_x86_setup_options xo = VMM_X86_SETUP_OPTIONS_INIT;
        xo.mode = s->mode;
        xo.cpl = s->cpl;
        xo.entry = entry;
        xo.stack = s->stack;
        if ((rc = vmm_x86_setup(v, &xo)) < 0) {
            /* Only the entry (from the ELF header or cpu.entry) can be wrong here:
             * everything else was checked while parsing. */
            if (rc == VMM_EINVAL || rc == VMM_EFAULT)
                return vmm__err(VMM_ECONFIG, "%s: %s", s->has_entry ? "cpu.entry" : "boot.path",
                                vmm_error_last()->message);
            vmm__err_prefix("cpu");
            return rc;
        }
    }
    return 0;
}

static int build(const struct spec *s, vmm_vm **out, vmm_spec_info *info)
{
    vmm_vm_options vo = VMM_VM_OPTIONS_INIT;
    vo.flags = s->boot == BOOT_LINUX ? VMM_VM_PIT : s->irqchip ? VMM_VM_IRQCHIP : 0;
    vmm_vm *vm = NULL;
    int rc = vmm_vm_create(&vm, &vo);
    if (rc < 0)
        return rc;
    vmm_device *console = NULL;
    if ((rc = vmm_vm_set_sched(vm, &s->sched)) < 0) {
        vmm__err_prefix("cpu");
        goto fail;
    }
    if ((rc = vmm_mem_map(vm, 0, s->mem_size, NULL, s->hugepages ? VMM_MEM_HUGEPAGES : 0)) < 0) {
        vmm__err_prefix("memory");
        goto fail;
    }
    for (size_t i = 0; i < s->nfiles; i++)
        if ((rc = vmm_mem_map_file(vm, s->files[i].address, s->files[i].path, NULL)) < 0) {
            vmm__err_prefix("memory.files[%zu]", i);
            goto fail;
        }
    if ((rc = attach_devices(vm, s, &console)) < 0)
        goto fail;
    uint64_t entry = s->boot == BOOT_FLAT ? s->boot_address : 0;
    if (s->boot == BOOT_FLAT && (rc = vmm_boot_flat(vm, s->boot_path, s->boot_address, NULL)) < 0) {
        vmm__err_prefix("boot.path");
        goto fail;
    }
    if (s->boot == BOOT_ELF && (rc = vmm_boot_elf(vm, s->boot_path, &entry)) < 0) {
        rc = vmm__err(VMM_ECONFIG, "boot.path: %s", vmm_error_last()->message);
        goto fail;
    }
    if (s->has_entry)
        entry = s->entry;
    if ((rc = create_vcpus(vm, s, entry)) < 0)
        goto fail;
    if (s->boot == BOOT_LINUX) {
        vmm_linux_boot lb = VMM_LINUX_BOOT_INIT;
        lb.kernel = s->boot_path;
        lb.initrd = s->initrd_path;
        lb.cmdline = s->cmdline;
        lb.cpuid = s->cpuid;
        if ((rc = vmm_boot_linux(vm, &lb)) < 0) {
            rc = vmm__err(rc == VMM_ENOMEM ? rc : VMM_ECONFIG, "boot: %s",
                          vmm_error_last()->message);
            goto fail;
        }
        vmm_regs r;
        if ((rc = vmm_vcpu_get_regs(vmm_vm_vcpu(vm, 0), &r)) < 0)
            goto fail;
        entry = r.rip;
    }
    if (info) {
        memset(info, 0, sizeof *info);
        snprintf(info->name, sizeof info->name, "%s", s->name);
        memcpy(info->uuid, s->uuid, sizeof info->uuid);
        info->vcpus = s->vcpus;
        info->time_budget_ns = s->time_budget_ns;
        info->console = console;
        info->entry = entry;
    }
    *out = vm;
    return 0;
fail:
    vmm_vm_destroy(vm);
    return rc;
}

int vmm_vm_create_from_spec(vmm_vm **out, const char *json, size_t len, const char *base_dir,
                            vmm_spec_info *info)
{
    if (!out)
        return vmm__err(VMM_EINVAL, "vmm_vm_create_from_spec: out is NULL");
    *out = NULL;
    struct spec s;
    int rc = vmm__spec_parse(json, len, base_dir, &s);
    if (rc == 0)
        rc = build(&s, out, info); /* each device is created once, in the VM */
    vmm__spec_free(&s);
    return rc;
}

int vmm_vm_create_from_spec_file(vmm_vm **out, const char *path, vmm_spec_info *info)
{
    if (!out || !path)
        return vmm__err(VMM_EINVAL, "vmm_vm_create_from_spec_file: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return vmm__err(e == ENOENT ? VMM_ENOENT : VMM_EIO, "%s: %s", path, strerror(e));
    }
    char *buf = malloc(SPEC_MAX_LEN + 1);
    if (!buf) {
        close(fd);
        return vmm__err(VMM_ENOMEM, "%s: out of memory", path);
    }
    size_t len = 0;
    ssize_t n = 0;
    while (len <= SPEC_MAX_LEN &&
           ((n = read(fd, buf + len, SPEC_MAX_LEN + 1 - len)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0)
            len += (size_t)n;
    int e = errno;
    close(fd);
    int rc;
    if (n < 0) {
        rc = vmm__err(VMM_EIO, "%s: %s", path, strerror(e));
    } else if (len > SPEC_MAX_LEN) {
        rc = vmm__err(VMM_ECONFIG, "%s: larger than %u bytes", path, SPEC_MAX_LEN);
    } else {
        char *dir = strdup(path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash)
            slash[slash == dir ? 1 : 0] = 0; /* "/x.json" lives in "/" */
        rc = dir ? vmm_vm_create_from_spec(out, buf, len, slash ? dir : NULL, info)
                 : vmm__err(VMM_ENOMEM, "%s: out of memory", path);
        free(dir);
    }
    free(buf);
    return rc;
}
