/* SPDX-License-Identifier: MIT */
/* KVM backend for x86-64: with kvm_x86_64_state.c, the only code that issues KVM ioctls. */
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

int vmm__hv_get_regs(struct vmm__hv_vcpu *v, vmm_regs *r)
{
    struct kvm_regs k;
    if (v->regs_synced)
        k = v->run->s.regs.regs;
    else if (ioctl(v->fd, KVM_GET_REGS, &k) < 0)
        return vmm__hv_fail("KVM_GET_REGS");
    *r = (vmm_regs){k.rax, k.rbx, k.rcx, k.rdx, k.rsi, k.rdi, k.rsp, k.rbp, k.r8,
                    k.r9,  k.r10, k.r11, k.r12, k.r13, k.r14, k.r15, k.rip, k.rflags};
    return 0;
}

int vmm__hv_set_regs(struct vmm__hv_vcpu *v, const vmm_regs *r)
{
    struct kvm_regs k = {r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rsp, r->rbp, r->r8,
                         r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15, r->rip, r->rflags};
    v->regs_synced = false;
    if (ioctl(v->fd, KVM_SET_REGS, &k) < 0)
        return vmm__hv_fail("KVM_SET_REGS");
    return 0;
}

static void seg_from_kvm(vmm_segment *d, const struct kvm_segment *s)
{
    *d = (vmm_segment){s->base, s->limit, s->selector, s->type, s->present, s->dpl,
                       s->db,   s->s,     s->l,        s->g,    s->avl,     s->unusable};
}

static void seg_to_kvm(struct kvm_segment *d, const vmm_segment *s)
{
    memset(d, 0, sizeof *d);
    d->base = s->base;
    d->limit = s->limit;
    d->selector = s->selector;
    d->type = s->type;
    d->present = s->present;
    d->dpl = s->dpl;
    d->db = s->db;
    d->s = s->s;
    d->l = s->l;
    d->g = s->g;
    d->avl = s->avl;
    d->unusable = s->unusable;
}

int vmm__hv_get_sregs(struct vmm__hv_vcpu *v, vmm_sregs *s)
{
    struct kvm_sregs k;
    if (ioctl(v->fd, KVM_GET_SREGS, &k) < 0)
        return vmm__hv_fail("KVM_GET_SREGS");
    seg_from_kvm(&s->cs, &k.cs);
    seg_from_kvm(&s->ds, &k.ds);
    seg_from_kvm(&s->es, &k.es);
    seg_from_kvm(&s->fs, &k.fs);
    seg_from_kvm(&s->gs, &k.gs);
    seg_from_kvm(&s->ss, &k.ss);
    seg_from_kvm(&s->tr, &k.tr);
    seg_from_kvm(&s->ldt, &k.ldt);
    s->gdt = (vmm_dtable){k.gdt.base, k.gdt.limit};
    s->idt = (vmm_dtable){k.idt.base, k.idt.limit};
    s->cr0 = k.cr0;
    s->cr2 = k.cr2;
    s->cr3 = k.cr3;
    s->cr4 = k.cr4;
    s->cr8 = k.cr8;
    s->efer = k.efer;
    s->apic_base = k.apic_base;
    return 0;
}

int vmm__hv_set_sregs(struct vmm__hv_vcpu *v, const vmm_sregs *s)
{
    struct kvm_sregs k;
    /* Start from the current state so the pending-interrupt bitmap is kept. */
    if (ioctl(v->fd, KVM_GET_SREGS, &k) < 0)
        return vmm__hv_fail("KVM_GET_SREGS");
    seg_to_kvm(&k.cs, &s->cs);
    seg_to_kvm(&k.ds, &s->ds);
    seg_to_kvm(&k.es, &s->es);
    seg_to_kvm(&k.fs, &s->fs);
    seg_to_kvm(&k.gs, &s->gs);
    seg_to_kvm(&k.ss, &s->ss);
    seg_to_kvm(&k.tr, &s->tr);
    seg_to_kvm(&k.ldt, &s->ldt);
    k.gdt.base = s->gdt.base;
    k.gdt.limit = s->gdt.limit;
    k.idt.base = s->idt.base;
    k.idt.limit = s->idt.limit;
    k.cr0 = s->cr0;
    k.cr2 = s->cr2;
    k.cr3 = s->cr3;
    k.cr4 = s->cr4;
    k.cr8 = s->cr8;
    k.efer = s->efer;
    k.apic_base = s->apic_base;
    if (ioctl(v->fd, KVM_SET_SREGS, &k) < 0)
        return vmm__hv_fail("KVM_SET_SREGS");
    return 0;
}

int vmm__hv_get_fpu(struct vmm__hv_vcpu *v, vmm_fpu *f)
{
    struct kvm_fpu k;
    if (ioctl(v->fd, KVM_GET_FPU, &k) < 0)
        return vmm__hv_fail("KVM_GET_FPU");
    memcpy(f->fpr, k.fpr, sizeof f->fpr);
    f->fcw = k.fcw;
    f->fsw = k.fsw;
    f->ftwx = k.ftwx;
    f->last_opcode = k.last_opcode;
    f->last_ip = k.last_ip;
    f->last_dp = k.last_dp;
    memcpy(f->xmm, k.xmm, sizeof f->xmm);
    f->mxcsr = k.mxcsr;
    /* KVM_GET_FPU leaves mxcsr out (KVM_SET_FPU does set it); the legacy area of
     * the XSAVE image has it at byte 24. */
    struct kvm_xsave *x = malloc(sizeof *x);
    if (!x)
        return vmm__err(VMM_ENOMEM, "XSAVE buffer: out of memory");
    int rc = 0;
    if (ioctl(v->fd, KVM_GET_XSAVE, x) == 0)
        memcpy(&f->mxcsr, (const uint8_t *)x->region + 24, sizeof f->mxcsr);
    else if (errno != EINVAL) /* EINVAL: no XSAVE on this host; KVM_GET_FPU is all there is */
        rc = vmm__hv_fail("KVM_GET_XSAVE");
    free(x);
    return rc;
}

int vmm__hv_set_fpu(struct vmm__hv_vcpu *v, const vmm_fpu *f)
{
    struct kvm_fpu k;
    memset(&k, 0, sizeof k);
    memcpy(k.fpr, f->fpr, sizeof k.fpr);
    k.fcw = f->fcw;
    k.fsw = f->fsw;
    k.ftwx = f->ftwx;
    k.last_opcode = f->last_opcode;
    k.last_ip = f->last_ip;
    k.last_dp = f->last_dp;
    memcpy(k.xmm, f->xmm, sizeof k.xmm);
    k.mxcsr = f->mxcsr;
    if (ioctl(v->fd, KVM_SET_FPU, &k) < 0)
        return vmm__hv_fail("KVM_SET_FPU");
    /* KVM_SET_FPU does not load mxcsr on every kernel. Where XSAVE is
     * available, write the whole legacy area (FXSAVE layout: fcw 0, fsw 2, ftw 4,
     * fop 6, rip 8, rdp 16, mxcsr 24, st0-7 32, xmm0-15 160) into the XSAVE image
     * and mark x87 and SSE present in XSTATE_BV (byte 512): without those bits
     * KVM treats the components as being in their initial state. */
    struct kvm_xsave *x = malloc(sizeof *x);
    if (!x)
        return vmm__err(VMM_ENOMEM, "XSAVE buffer: out of memory");
    int rc = 0;
    if (ioctl(v->fd, KVM_GET_XSAVE, x) == 0) {
        uint8_t *r = (uint8_t *)x->region;
        memcpy(r + 0, &f->fcw, 2);
        memcpy(r + 2, &f->fsw, 2);
        r[4] = f->ftwx;
        memcpy(r + 6, &f->last_opcode, 2);
        memcpy(r + 8, &f->last_ip, 8);
        memcpy(r + 16, &f->last_dp, 8);
        memcpy(r + 24, &f->mxcsr, 4);
        memcpy(r + 32, f->fpr, sizeof f->fpr);
        memcpy(r + 160, f->xmm, sizeof f->xmm);
        r[512] |= 3;
        if (ioctl(v->fd, KVM_SET_XSAVE, x) < 0)
            rc = vmm__hv_fail("KVM_SET_XSAVE");
    }
    free(x);
    return rc;
}

int vmm__hv_msrs(struct vmm__hv_vcpu *v, vmm_msr *msrs, size_t n, bool set)
{
    struct kvm_msrs *m = calloc(1, sizeof *m + n * sizeof(struct kvm_msr_entry));
    if (!m)
        return vmm__err(VMM_ENOMEM, "MSR buffer: out of memory");
    m->nmsrs = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        m->entries[i].index = msrs[i].index;
        m->entries[i].data = msrs[i].value;
    }
    /* Returns the number of MSRs processed; it stops at the first one KVM refuses. */
    int r = ioctl(v->fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, m);
    int rc = 0;
    if (r < 0) {
        rc = vmm__hv_fail(set ? "KVM_SET_MSRS" : "KVM_GET_MSRS");
    } else {
        if (!set)
            for (int i = 0; i < r; i++)
                msrs[i].value = m->entries[i].data;
        if ((size_t)r < n)
            rc = vmm__err(VMM_ENOENT, "%s: KVM refused MSR 0x%x", set ? "set MSRs" : "get MSRs",
                          msrs[r].index);
    }
    free(m);
    return rc;
}

int vmm__hv_set_guest_debug(struct vmm__hv_vcpu *v, bool enable, bool singlestep, bool sw_bp)
{
    struct kvm_guest_debug d;
    memset(&d, 0, sizeof d);
    if (enable)
        d.control = KVM_GUESTDBG_ENABLE | (singlestep ? KVM_GUESTDBG_SINGLESTEP : 0) |
                    (sw_bp ? KVM_GUESTDBG_USE_SW_BP : 0);
    if (ioctl(v->fd, KVM_SET_GUEST_DEBUG, &d) < 0)
        return vmm__hv_fail("KVM_SET_GUEST_DEBUG");
    return 0;
}

/* KVM's supported CPUID set, fetched once per process. */
static struct {
    pthread_mutex_t lock;
    struct kvm_cpuid_entry2 *e;
    uint32_t n;
} supported = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

static int supported_cpuid(int kvm_fd)
{
    pthread_mutex_lock(&supported.lock);
    int rc = 0;
    if (!supported.e) {
        void *e;
        rc = vmm__hv_get_list(kvm_fd, KVM_GET_SUPPORTED_CPUID, "KVM_GET_SUPPORTED_CPUID",
                              offsetof(struct kvm_cpuid2, entries), sizeof(struct kvm_cpuid_entry2),
                              64, 4096, &e, &supported.n);
        if (rc == 0)
            supported.e = e;
    }
    pthread_mutex_unlock(&supported.lock);
    return rc;
}

int vmm__hv_supported_cpuid(int kvm_fd, vmm_cpuid_entry *e, size_t cap, size_t *count)
{
    int rc = supported_cpuid(kvm_fd);
    if (rc < 0)
        return rc;
    *count = supported.n;
    if (cap < supported.n)
        return vmm__err(VMM_ERANGE, "the CPUID set has %u entries, room for %zu", supported.n, cap);
    for (uint32_t i = 0; i < supported.n; i++) {
        const struct kvm_cpuid_entry2 *k = &supported.e[i];
        e[i] = (vmm_cpuid_entry){
            k->function, k->index, k->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX ? 1u : 0u,
            k->eax,      k->ebx,   k->ecx,
            k->edx};
    }
    return 0;
}

int vmm__hv_set_cpuid(struct vmm__hv_vcpu *v, int kvm_fd, const vmm_cpuid_entry *e, size_t n,
                      unsigned int apic_id)
{
    int rc;
    if (!e && (rc = supported_cpuid(kvm_fd)) < 0)
        return rc;
    size_t count = e ? n : supported.n;
    struct kvm_cpuid2 *c = calloc(1, sizeof *c + count * sizeof(struct kvm_cpuid_entry2));
    if (!c)
        return vmm__err(VMM_ENOMEM, "CPUID table: out of memory");
    c->nent = (uint32_t)count;
    for (size_t i = 0; i < count; i++) {
        struct kvm_cpuid_entry2 *k = &c->entries[i];
        if (e) {
            k->function = e[i].function;
            k->index = e[i].index;
            k->flags = e[i].flags & 1 ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
            k->eax = e[i].eax;
            k->ebx = e[i].ebx;
            k->ecx = e[i].ecx;
            k->edx = e[i].edx;
        } else {
            *k = supported.e[i];
            /* Initial APIC ID: leaf 1 EBX[31:24], x2APIC ID in leaves 0xb and 0x1f EDX. */
            if (k->function == 1)
                k->ebx = (k->ebx & 0x00ffffffu) | (apic_id << 24);
            if (k->function == 0xb || k->function == 0x1f)
                k->edx = apic_id;
        }
    }
    rc = ioctl(v->fd, KVM_SET_CPUID2, c) < 0 ? vmm__hv_fail("KVM_SET_CPUID2") : 0;
    free(c);
    return rc;
}

void vmm__hv_exit_decode(struct kvm_run *run, vmm_exit *x)
{
    memset(x, 0, sizeof *x);
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        x->reason = VMM_EXIT_IO;
        x->io.port = run->io.port;
        x->io.size = run->io.size;
        x->io.is_write = run->io.direction == KVM_EXIT_IO_OUT;
        x->io.count = run->io.count;
        x->io.data = (uint8_t *)run + run->io.data_offset;
        break;
    case KVM_EXIT_MMIO:
        x->reason = VMM_EXIT_MMIO;
        x->mmio.addr = run->mmio.phys_addr;
        x->mmio.size = (uint8_t)run->mmio.len;
        x->mmio.is_write = run->mmio.is_write;
        x->mmio.data = run->mmio.data;
        break;
    case KVM_EXIT_HLT:
        x->reason = VMM_EXIT_HLT;
        break;
    case KVM_EXIT_SHUTDOWN:
        x->reason = VMM_EXIT_SHUTDOWN;
        break;
    case KVM_EXIT_DEBUG:
        x->reason = VMM_EXIT_DEBUG;
        x->debug.exception = run->debug.arch.exception;
        x->debug.pc = run->debug.arch.pc;
        x->debug.dr6 = run->debug.arch.dr6;
        x->debug.dr7 = run->debug.arch.dr7;
        break;
    case KVM_EXIT_FAIL_ENTRY:
        x->reason = VMM_EXIT_FAIL_ENTRY;
        x->internal.hw_reason = run->fail_entry.hardware_entry_failure_reason;
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        x->reason = VMM_EXIT_INTERNAL_ERROR;
        x->internal.suberror = run->internal.suberror;
        if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && run->internal.ndata >= 3 &&
            (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
            uint8_t n = run->emulation_failure.insn_size;
            if (n > sizeof run->emulation_failure.insn_bytes)
                n = sizeof run->emulation_failure.insn_bytes;
            memcpy(x->internal.insn, run->emulation_failure.insn_bytes, n);
            x->internal.insn_len = n;
        }
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        x->reason = VMM_EXIT_SYSTEM_EVENT;
        x->system_event.type = run->system_event.type;
        break;
    case KVM_EXIT_INTR:
        x->reason = VMM_EXIT_KICKED;
        break;
    default:
        /* An exit libvmm does not know: report it as an internal error carrying
         * KVM's exit reason, so the caller sees it rather than a silent resume. */
        x->reason = VMM_EXIT_INTERNAL_ERROR;
        x->internal.suberror = 0;
        x->internal.hw_reason = run->exit_reason;
        break;
    }
}
