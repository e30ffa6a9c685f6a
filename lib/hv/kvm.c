/* SPDX-License-Identifier: MIT */
/* The KVM backend, the parts not tied to x86: /dev/kvm and capabilities,
 * host information, VMs and their memory slots, interrupt lines, irqfds and
 * ioeventfds, vCPU file descriptors, KVM_RUN and the kick's signal mask. With
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

int vmm__hv_fail(const char *what)
{
    int e = errno;
    return vmm__err(VMM_EKVM, "%s: %s", what, strerror(e));
}

int vmm__hv_get_list(int fd, unsigned long req, const char *what, size_t hdr, size_t entry,
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
            return vmm__hv_fail(what);
        }
    }
    return vmm__err(VMM_EKVM, "%s: more than %u entries", what, max);
}

int vmm__hv_open(int *kvm_fd)
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

int vmm__hv_check_extension(int fd, long cap)
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

int vmm__hv_host_info(int kvm_fd, vmm_host_info *info)
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
        if (vmm__hv_check_extension(kvm_fd, caps[i].cap) > 0)
            info->caps |= caps[i].bit;
    info->caps |= VMM_CAP_DIRTY_LOG; /* KVM_GET_DIRTY_LOG is part of the base x86 API */
    info->max_vcpus = (unsigned int)vmm__hv_check_extension(kvm_fd, KVM_CAP_MAX_VCPUS);
    info->recommended_vcpus = (unsigned int)vmm__hv_check_extension(kvm_fd, KVM_CAP_NR_VCPUS);
    info->max_memslots = (unsigned int)vmm__hv_check_extension(kvm_fd, KVM_CAP_NR_MEMSLOTS);
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

void vmm__hv_caps(int kvm_fd, struct vmm__hv_caps *c)
{
    c->readonly_mem = vmm__hv_check_extension(kvm_fd, KVM_CAP_READONLY_MEM) > 0;
    c->immediate_exit = vmm__hv_check_extension(kvm_fd, KVM_CAP_IMMEDIATE_EXIT) > 0;
    c->irqfd_resample = vmm__hv_check_extension(kvm_fd, KVM_CAP_IRQFD) > 0 &&
                        vmm__hv_check_extension(kvm_fd, KVM_CAP_IRQFD_RESAMPLE) > 0;
    c->ioeventfd = vmm__hv_check_extension(kvm_fd, KVM_CAP_IOEVENTFD) > 0;
    int slots = vmm__hv_check_extension(kvm_fd, KVM_CAP_NR_MEMSLOTS);
    c->max_slots = slots > 0 ? (unsigned int)slots : 32;
    int maxv = vmm__hv_check_extension(kvm_fd, KVM_CAP_MAX_VCPUS);
    if (maxv <= 0)
        maxv = vmm__hv_check_extension(kvm_fd, KVM_CAP_NR_VCPUS);
    c->max_vcpus = maxv > 0 ? (unsigned int)maxv : 1;
}

int vmm__hv_vm_create(int kvm_fd, int *vm_fd, int *run_size)
{
    int fd;
    do {
        fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return vmm__hv_fail("KVM_CREATE_VM");
    int sz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz < (int)sizeof(struct kvm_run)) {
        close(fd);
        return vmm__hv_fail("KVM_GET_VCPU_MMAP_SIZE");
    }
    /* Intel VMX needs a 3-page region for its real-mode TSS; place it just below
     * 4 GiB where firmware would, away from low RAM. Harmless elsewhere. */
    if (vmm__hv_check_extension(kvm_fd, KVM_CAP_SET_TSS_ADDR) > 0 &&
        ioctl(fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0) {
        close(fd);
        return vmm__hv_fail("KVM_SET_TSS_ADDR");
    }
    *vm_fd = fd;
    *run_size = sz;
    return 0;
}

int vmm__hv_irqchip_create(int vm_fd, bool pit)
{
    if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        return vmm__hv_fail("KVM_CREATE_IRQCHIP");
    if (pit) {
        struct kvm_pit_config pc = {.flags = KVM_PIT_SPEAKER_DUMMY};
        if (ioctl(vm_fd, KVM_CREATE_PIT2, &pc) < 0)
            return vmm__hv_fail("KVM_CREATE_PIT2");
    }
    return 0;
}

int vmm__hv_set_memslot(int vm_fd, unsigned int slot, uint64_t gpa, uint64_t size, void *host,
                        bool readonly, bool dirty_log)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot,
        .flags = (readonly ? KVM_MEM_READONLY : 0) | (dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0),
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uintptr_t)host,
    };
    if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        return vmm__hv_fail("KVM_SET_USER_MEMORY_REGION");
    return 0;
}

int vmm__hv_dirty_log(int vm_fd, unsigned int slot, uint64_t *bitmap)
{
    struct kvm_dirty_log d = {.slot = slot, .dirty_bitmap = bitmap};
    if (ioctl(vm_fd, KVM_GET_DIRTY_LOG, &d) < 0)
        return vmm__hv_fail("KVM_GET_DIRTY_LOG");
    return 0;
}

int vmm__hv_irq_line(int vm_fd, unsigned int line, int level)
{
    struct kvm_irq_level l = {.irq = line, .level = level ? 1 : 0};
    if (ioctl(vm_fd, KVM_IRQ_LINE, &l) < 0)
        return vmm__hv_fail("KVM_IRQ_LINE");
    return 0;
}

int vmm__hv_irqfd(int vm_fd, unsigned int gsi, int fd, int resamplefd, bool assign)
{
    struct kvm_irqfd f = {.fd = (uint32_t)fd, .gsi = gsi};
    if (!assign)
        f.flags = KVM_IRQFD_FLAG_DEASSIGN;
    else if (resamplefd >= 0)
        f.flags = KVM_IRQFD_FLAG_RESAMPLE, f.resamplefd = (uint32_t)resamplefd;
    if (ioctl(vm_fd, KVM_IRQFD, &f) < 0)
        return vmm__hv_fail("KVM_IRQFD");
    return 0;
}

int vmm__hv_ioeventfd(int vm_fd, uint64_t addr, unsigned int len, uint64_t datamatch, int fd,
                      bool assign)
{
    struct kvm_ioeventfd e = {
        .datamatch = datamatch,
        .addr = addr,
        .len = len,
        .fd = fd,
        .flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };
    if (ioctl(vm_fd, KVM_IOEVENTFD, &e) < 0)
        return vmm__hv_fail("KVM_IOEVENTFD");
    return 0;
}

int vmm__hv_vcpu_create(int vm_fd, unsigned int index, int run_size, struct vmm__hv_vcpu *out)
{
    int fd = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
    if (fd < 0) {
        if (errno == EEXIST)
            return vmm__err(VMM_EEXIST, "KVM_CREATE_VCPU %u: index in use", index);
        return vmm__hv_fail("KVM_CREATE_VCPU");
    }
    void *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED) {
        int e = errno;
        close(fd);
        return vmm__err(VMM_ENOMEM, "mmap vCPU %u run area: %s", index, strerror(e));
    }
    out->fd = fd;
    out->run = run;
    out->run_size = (size_t)run_size;
    /* The vCPU's XSAVE size is settled at its creation (arch_prctl permissions
     * freeze then); KVM_SET_XSAVE reads this many bytes. */
    int x2 = vmm__hv_check_extension(vm_fd, KVM_CAP_XSAVE2);
    out->xsave_size =
        x2 > (int)sizeof(struct kvm_xsave) ? (uint32_t)x2 : (uint32_t)sizeof(struct kvm_xsave);
    int sync = vmm__hv_check_extension(vm_fd, KVM_CAP_SYNC_REGS);
    out->sync_regs = sync > 0 && (sync & KVM_SYNC_X86_REGS);
    out->regs_synced = false;
    out->run->kvm_valid_regs = out->sync_regs ? KVM_SYNC_X86_REGS : 0;
    return 0;
}

void vmm__hv_vcpu_close(struct vmm__hv_vcpu *v)
{
    if (v->run)
        munmap(v->run, v->run_size);
    if (v->fd >= 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}

int vmm__hv_run(struct vmm__hv_vcpu *v)
{
    v->regs_synced = false;
    if (ioctl(v->fd, KVM_RUN, 0) < 0)
        return -errno;
    v->regs_synced = v->sync_regs;
    return 0;
}

void vmm__hv_set_immediate_exit(struct vmm__hv_vcpu *v, bool on)
{
    /* A byte the kernel reads at KVM_RUN entry; written from kicking threads too. */
    __atomic_store_n(&v->run->immediate_exit, on ? 1 : 0, __ATOMIC_SEQ_CST);
}

int vmm__hv_set_signal_mask(struct vmm__hv_vcpu *v, const void *sigset8)
{
    struct {
        struct kvm_signal_mask m;
        uint8_t set[8];
    } sm;
    sm.m.len = 8; /* the kernel's sigset_t size on x86-64 */
    memcpy(sm.set, sigset8, 8);
    if (ioctl(v->fd, KVM_SET_SIGNAL_MASK, &sm) < 0)
        return vmm__hv_fail("KVM_SET_SIGNAL_MASK");
    return 0;
}
