/* SPDX-License-Identifier: MIT */
/* The KVM backend, the parts not tied to x86: /dev/kvm and capabilities,
 * host information, VMs and their memory slots, interrupt lines, irqfds and
 * ioeventfds, and the backend's ops table (hv.h). With kvm_vcpu.c,
 * kvm_x86_64.c and kvm_x86_64_state.c, the only code that issues KVM ioctls. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/util.h"
#include "kvm.h"

int vmm__kvm_fail(const char *what)
{
    int e = errno;
    return vmm__err(VMM_EKVM, "%s: %s", what, strerror(e));
}

int vmm__kvm_get_list(int fd, unsigned long req, const char *what, size_t hdr, size_t entry,
                      uint32_t cap, uint32_t max, void **out, uint32_t *n)
{
    for (; cap <= max; cap *= 2) {
        uint8_t *buf = calloc(1, hdr + (size_t)cap * entry);
        if (!buf)
            return vmm__err(VMM_ENOMEM, "%s: out of memory", what);
        memcpy(buf, &cap, sizeof cap);
        if (ioctl(fd, req, buf) == 0) {
            uint32_t got;
            memcpy(&got, buf, sizeof got);
            void *copy = got <= cap ? malloc(got ? (size_t)got * entry : 1) : NULL;
            if (copy)
                memcpy(copy, buf + hdr, (size_t)got * entry);
            free(buf);
            if (!copy)
                return got <= cap
                           ? vmm__err(VMM_ENOMEM, "%s: out of memory", what)
                           : vmm__err(VMM_EKVM, "%s: %u entries in room for %u", what, got, cap);
            *out = copy;
            *n = got;
            return 0;
        }
        int e = errno;
        free(buf);
        if (e != E2BIG) {
            errno = e;
            return vmm__kvm_fail(what);
        }
    }
    return vmm__err(VMM_EKVM, "%s: more than %u entries", what, max);
}

static int kvm_open(int *kvm_fd)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENODEV || e == ENXIO)
            return vmm__err(VMM_ENODEV, "open /dev/kvm: %s", strerror(e));
        if (e == EACCES || e == EPERM)
            return vmm__err(VMM_EPERM, "open /dev/kvm: %s", strerror(e));
        return vmm__err(VMM_ENODEV, "open /dev/kvm: %s", strerror(e));
    }
    int v = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (v != KVM_API_VERSION) {
        close(fd);
        return vmm__err(VMM_EKVM, "KVM API version %d, libvmm needs %d", v, KVM_API_VERSION);
    }
    *kvm_fd = fd;
    return 0;
}

int vmm__kvm_check_extension(int fd, long cap)
{
    int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

static int read_sysfs(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return 0;
}

static bool module_loaded(const char *name)
{
    char path[96];
    snprintf(path, sizeof path, "/sys/module/%s", name);
    return access(path, F_OK) == 0;
}

static int host_info_of(int kvm_fd, vmm_host_info *info)
{
    static const struct {
        long cap;
        unsigned int bit;
    } caps[] = {
        {KVM_CAP_IRQCHIP, VMM_CAP_IRQCHIP},
        {KVM_CAP_PIT2, VMM_CAP_PIT},
        {KVM_CAP_IRQFD, VMM_CAP_IRQFD},
        {KVM_CAP_IOEVENTFD, VMM_CAP_IOEVENTFD},
        {KVM_CAP_IMMEDIATE_EXIT, VMM_CAP_IMMEDIATE_EXIT},
        {KVM_CAP_READONLY_MEM, VMM_CAP_READONLY_MEM},
        {KVM_CAP_XSAVE, VMM_CAP_XSAVE},
        {KVM_CAP_DEBUGREGS, VMM_CAP_DEBUGREGS},
        {KVM_CAP_VCPU_EVENTS, VMM_CAP_VCPU_EVENTS},
        {KVM_CAP_SET_GUEST_DEBUG, VMM_CAP_GUEST_DEBUG},
        {KVM_CAP_TSC_DEADLINE_TIMER, VMM_CAP_TSC_DEADLINE},
    };
    memset(info, 0, sizeof *info);
    info->api_version = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
    for (size_t i = 0; i < VMM__ARRAY_LEN(caps); i++)
        if (vmm__kvm_check_extension(kvm_fd, caps[i].cap) > 0)
            info->caps |= caps[i].bit;
    info->caps |= VMM_CAP_DIRTY_LOG; /* KVM_GET_DIRTY_LOG is part of the base x86 API */
    info->max_vcpus = (unsigned int)vmm__kvm_check_extension(kvm_fd, KVM_CAP_MAX_VCPUS);
    info->recommended_vcpus = (unsigned int)vmm__kvm_check_extension(kvm_fd, KVM_CAP_NR_VCPUS);
    info->max_memslots = (unsigned int)vmm__kvm_check_extension(kvm_fd, KVM_CAP_NR_MEMSLOTS);
    if (info->max_vcpus == 0)
        info->max_vcpus = info->recommended_vcpus ? info->recommended_vcpus : 4;

    /* Which vendor module backs /dev/kvm. PVM (a paravirtualised backend for
     * hosts without VMX/SVM) always shadows guest page tables. */
    char buf[16];
    info->paging = VMM_PAGING_UNKNOWN;
    if (module_loaded("kvm_pvm")) {
        info->pvm = 1;
        info->paging = VMM_PAGING_SHADOW;
        snprintf(info->backend, sizeof info->backend, "kvm_pvm");
    } else if (module_loaded("kvm_intel")) {
        snprintf(info->backend, sizeof info->backend, "kvm_intel");
        if (read_sysfs("/sys/module/kvm_intel/parameters/ept", buf, sizeof buf) == 0)
            info->paging = (buf[0] == 'Y' || buf[0] == '1') ? VMM_PAGING_EPT : VMM_PAGING_SHADOW;
    } else if (module_loaded("kvm_amd")) {
        snprintf(info->backend, sizeof info->backend, "kvm_amd");
        if (read_sysfs("/sys/module/kvm_amd/parameters/npt", buf, sizeof buf) == 0)
            info->paging = (buf[0] == 'Y' || buf[0] == '1') ? VMM_PAGING_NPT : VMM_PAGING_SHADOW;
    } else {
        snprintf(info->backend, sizeof info->backend, "unknown");
    }
    return 0;
}

static int kvm_host_info(vmm_host_info *info)
{
    int fd, rc = kvm_open(&fd);
    if (rc < 0)
        return rc;
    rc = host_info_of(fd, info);
    close(fd);
    return rc;
}

/* ---- VMs ---- */

static void kvm_vm_destroy(struct vmm__hv_vm *vm)
{
    if (!vm)
        return;
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    vmm__kvm_snapinfo_free(vm->snapinfo);
    free(vm->slots);
    free(vm);
}

static int vm_fd_create(struct vmm__hv_vm *vm)
{
    int fd;
    do {
        fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return vmm__kvm_fail("KVM_CREATE_VM");
    vm->vm_fd = fd;
    vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vm->run_size < (int)sizeof(struct kvm_run))
        return vmm__kvm_fail("KVM_GET_VCPU_MMAP_SIZE");
    /* Intel VMX needs a 3-page region for its real-mode TSS; place it just below
     * 4 GiB where firmware would, away from low RAM. Harmless elsewhere. */
    if (vmm__kvm_check_extension(vm->kvm_fd, KVM_CAP_SET_TSS_ADDR) > 0 &&
        ioctl(fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
        return vmm__kvm_fail("KVM_SET_TSS_ADDR");
    if (vm->irqchip && ioctl(fd, KVM_CREATE_IRQCHIP, 0) < 0)
        return vmm__kvm_fail("KVM_CREATE_IRQCHIP");
    if (vm->pit) {
        struct kvm_pit_config pc = {.flags = KVM_PIT_SPEAKER_DUMMY};
        if (ioctl(fd, KVM_CREATE_PIT2, &pc) < 0)
            return vmm__kvm_fail("KVM_CREATE_PIT2");
    }
    return 0;
}

static int kvm_vm_create(bool irqchip, bool pit, struct vmm__hv_vm **out)
{
    *out = NULL;
    struct vmm__hv_vm *vm = calloc(1, sizeof *vm);
    if (!vm)
        return vmm__err(VMM_ENOMEM, "vmm_vm_create: out of memory");
    vm->vm_fd = -1;
    vm->irqchip = irqchip;
    vm->pit = pit;
    int rc = kvm_open(&vm->kvm_fd);
    if (rc < 0) {
        kvm_vm_destroy(vm);
        return rc;
    }
    int fd = vm->kvm_fd;
    /* Kicks rely on it (kvm_vcpu.c). */
    if (vmm__kvm_check_extension(fd, KVM_CAP_IMMEDIATE_EXIT) <= 0) {
        kvm_vm_destroy(vm);
        return vmm__err(VMM_ENOTSUP,
                        "vmm_vm_create: KVM lacks KVM_CAP_IMMEDIATE_EXIT (Linux >= 4.11)");
    }
    struct vmm__hv_caps *c = &vm->caps;
    c->readonly_mem = vmm__kvm_check_extension(fd, KVM_CAP_READONLY_MEM) > 0;
    c->irqfd = vmm__kvm_check_extension(fd, KVM_CAP_IRQFD) > 0 &&
               vmm__kvm_check_extension(fd, KVM_CAP_IRQFD_RESAMPLE) > 0;
    c->ioeventfd = vmm__kvm_check_extension(fd, KVM_CAP_IOEVENTFD) > 0;
    int slots = vmm__kvm_check_extension(fd, KVM_CAP_NR_MEMSLOTS);
    vm->max_slots = slots > 0 ? (unsigned int)slots : 32;
    int maxv = vmm__kvm_check_extension(fd, KVM_CAP_MAX_VCPUS);
    if (maxv <= 0)
        maxv = vmm__kvm_check_extension(fd, KVM_CAP_NR_VCPUS);
    c->max_vcpus = maxv > 0 ? (unsigned int)maxv : 1;
    if ((rc = vm_fd_create(vm)) < 0) {
        kvm_vm_destroy(vm);
        return rc;
    }
    *out = vm;
    return 0;
}

static const struct vmm__hv_caps *kvm_vm_caps(const struct vmm__hv_vm *vm)
{
    return &vm->caps;
}

static const vmm_host_info *kvm_vm_host_info(struct vmm__hv_vm *vm)
{
    if (!vm->info_read && host_info_of(vm->kvm_fd, &vm->info) == 0)
        vm->info_read = true;
    return &vm->info;
}

/* ---- memory slots ---- */

#define GPA_LIMIT (1ull << 52)

static int set_slot(struct vmm__hv_vm *vm, unsigned int slot, const struct vmm__kvm_slot *s,
                    bool present)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot,
        .flags =
            (s->readonly ? KVM_MEM_READONLY : 0) | (s->dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0),
        .guest_phys_addr = s->gpa,
        .memory_size = present ? s->size : 0,
        .userspace_addr = (uintptr_t)s->host,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        return vmm__kvm_fail("KVM_SET_USER_MEMORY_REGION");
    return 0;
}

/* A free slot number (the table grows as needed), or VMM_E2BIG. */
static int free_slot(struct vmm__hv_vm *vm, unsigned int *out)
{
    for (unsigned int i = 0; i < vm->nslots; i++)
        if (!vm->slots[i].used) {
            *out = i;
            return 0;
        }
    if (vm->nslots >= vm->max_slots)
        return vmm__err(VMM_E2BIG, "all %u memory slots in use", vm->max_slots);
    unsigned int n = vm->nslots ? vm->nslots * 2 : 8;
    if (n > vm->max_slots)
        n = vm->max_slots;
    struct vmm__kvm_slot *t = realloc(vm->slots, n * sizeof *t);
    if (!t)
        return vmm__err(VMM_ENOMEM, "memory slots: out of memory");
    memset(t + vm->nslots, 0, (n - vm->nslots) * sizeof *t);
    vm->slots = t;
    *out = vm->nslots;
    vm->nslots = n;
    return 0;
}

static int kvm_mem_add(struct vmm__hv_vm *vm, uint64_t gpa, uint64_t size, void *host,
                       bool readonly, bool dirty_log, unsigned int *region)
{
    unsigned int i;
    int rc = free_slot(vm, &i);
    if (rc < 0)
        return rc;
    struct vmm__kvm_slot s = {gpa, size, host, true, readonly, dirty_log};
    if ((rc = set_slot(vm, i, &s, true)) < 0)
        return rc;
    vm->slots[i] = s;
    *region = i;
    return 0;
}

static int kvm_mem_remove(struct vmm__hv_vm *vm, unsigned int region)
{
    int rc = set_slot(vm, region, &vm->slots[region], false);
    if (rc == 0)
        vm->slots[region].used = false;
    return rc;
}

static int kvm_mem_log_dirty(struct vmm__hv_vm *vm, unsigned int region)
{
    /* The same slot with logging added: KVM keeps the mapping. */
    struct vmm__kvm_slot s = vm->slots[region];
    s.dirty_log = true;
    int rc = set_slot(vm, region, &s, true);
    if (rc == 0)
        vm->slots[region] = s;
    return rc;
}

static int kvm_dirty_log(struct vmm__hv_vm *vm, unsigned int region, uint64_t *bitmap)
{
    struct kvm_dirty_log d = {.slot = region, .dirty_bitmap = bitmap};
    if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &d) < 0)
        return vmm__kvm_fail("KVM_GET_DIRTY_LOG");
    return 0;
}

/* Whether [gpa, gpa + 4096) overlaps a slot. */
static bool slot_at(const struct vmm__hv_vm *vm, uint64_t gpa)
{
    for (unsigned int i = 0; i < vm->nslots; i++) {
        const struct vmm__kvm_slot *s = &vm->slots[i];
        if (s->used && gpa < s->gpa + s->size && s->gpa < gpa + 4096)
            return true;
    }
    return false;
}

/* KVM zaps all shadow pages when a memory slot is deleted (all of them, not
 * only the slot's, unless the VMM turns off KVM_X86_QUIRK_SLOT_ZAP_ALL, which
 * libvmm does not). So a slot is created for a moment and deleted again: one
 * page aliasing the start of a mapped region, read-only where KVM can, at the
 * first address after a region that no region covers. No vCPU runs
 * meanwhile, so the guest never sees it. */
static int kvm_flush_shadow(struct vmm__hv_vm *vm)
{
    const struct vmm__kvm_slot *any = NULL;
    for (unsigned int i = 0; i < vm->nslots && !any; i++)
        if (vm->slots[i].used)
            any = &vm->slots[i];
    if (!any)
        return 0;
    unsigned int slot;
    int rc = free_slot(vm, &slot);
    if (rc < 0) {
        vmm__err_prefix("flushing shadow page tables: no free memory slot");
        return rc;
    }
    rc = VMM_EKVM;
    for (unsigned int i = 0; i < vm->nslots; i++) {
        const struct vmm__kvm_slot *r = &vm->slots[i];
        uint64_t gpa = r->gpa + r->size;
        if (!r->used || gpa >= GPA_LIMIT || slot_at(vm, gpa))
            continue;
        struct vmm__kvm_slot alias = {gpa, 4096, any->host, true, vm->caps.readonly_mem, false};
        rc = set_slot(vm, slot, &alias, true);
        if (rc == 0) {
            if ((rc = set_slot(vm, slot, &alias, false)) < 0) {
                /* KVM still has the slot: never hand its number out again. */
                vm->slots[slot] = alias;
                return rc;
            }
            break;
        }
    }
    if (rc < 0)
        vmm__err_prefix("flushing shadow page tables");
    return rc;
}

/* ---- interrupts ---- */

static int kvm_irq_line(struct vmm__hv_vm *vm, unsigned int line, int level)
{
    struct kvm_irq_level l = {.irq = line, .level = level ? 1 : 0};
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
        return vmm__kvm_fail("KVM_IRQ_LINE");
    return 0;
}

static int kvm_irqfd(struct vmm__hv_vm *vm, unsigned int gsi, int fd, int resamplefd, bool assign)
{
    struct kvm_irqfd f = {.fd = (uint32_t)fd, .gsi = gsi};
    if (!assign)
        f.flags = KVM_IRQFD_FLAG_DEASSIGN;
    else if (resamplefd >= 0)
        f.flags = KVM_IRQFD_FLAG_RESAMPLE, f.resamplefd = (uint32_t)resamplefd;
    if (ioctl(vm->vm_fd, KVM_IRQFD, &f) < 0)
        return vmm__kvm_fail("KVM_IRQFD");
    return 0;
}

static int kvm_ioeventfd(struct vmm__hv_vm *vm, uint64_t addr, unsigned int len, uint64_t datamatch,
                         int fd, bool assign)
{
    struct kvm_ioeventfd e = {
        .datamatch = datamatch,
        .addr = addr,
        .len = len,
        .fd = fd,
        .flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };
    if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &e) < 0)
        return vmm__kvm_fail("KVM_IOEVENTFD");
    return 0;
}

/* ---- the table ---- */

const struct vmm__hv_ops vmm__hv_kvm = {
    .name = "kvm",
    .snapshot_tag = 1, /* x86-64 on KVM: the state blobs are KVM's x86 structures */
    .host_info = kvm_host_info,
    .vm_create = kvm_vm_create,
    .vm_destroy = kvm_vm_destroy,
    .vm_caps = kvm_vm_caps,
    .vm_host_info = kvm_vm_host_info,
    .mem_add = kvm_mem_add,
    .mem_remove = kvm_mem_remove,
    .mem_log_dirty = kvm_mem_log_dirty,
    .dirty_log = kvm_dirty_log,
    .flush_shadow = kvm_flush_shadow,
    .irq_line = kvm_irq_line,
    .irqfd = kvm_irqfd,
    .ioeventfd = kvm_ioeventfd,
    .vcpu_create = vmm__kvm_vcpu_create,
    .vcpu_destroy = vmm__kvm_vcpu_destroy,
    .run = vmm__kvm_run,
    .complete_io = vmm__kvm_complete_io,
    .run_thread = vmm__kvm_run_thread,
    .kick = vmm__kvm_kick,
    .kick_drain = vmm__kvm_kick_drain,
    .kick_at = vmm__kvm_kick_at,
    .get_regs = vmm__kvm_get_regs,
    .set_regs = vmm__kvm_set_regs,
    .get_sregs = vmm__kvm_get_sregs,
    .set_sregs = vmm__kvm_set_sregs,
    .get_fpu = vmm__kvm_get_fpu,
    .set_fpu = vmm__kvm_set_fpu,
    .msrs = vmm__kvm_msrs,
    .guest_debug = vmm__kvm_guest_debug,
    .supported_cpuid = vmm__kvm_supported_cpuid,
    .set_cpuid = vmm__kvm_set_cpuid,
    .vcpu_state_get = vmm__kvm_vcpu_state_get,
    .vcpu_state_set = vmm__kvm_vcpu_state_set,
    .vcpu_state_valid = vmm__kvm_vcpu_state_valid,
    .vcpu_state_check = vmm__kvm_vcpu_state_check,
    .vcpu_state_paging = vmm__kvm_vcpu_state_paging,
    .vm_state_get = vmm__kvm_vm_state_get,
    .vm_state_set = vmm__kvm_vm_state_set,
    .vm_state_valid = vmm__kvm_vm_state_valid,
};
