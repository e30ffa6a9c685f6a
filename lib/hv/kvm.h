/* SPDX-License-Identifier: MIT */
/* The KVM backend: the only code that issues KVM ioctls. */
#ifndef LIBVMM_HV_KVM_H
#define LIBVMM_HV_KVM_H

#include <libvmm/vmm.h>
#include <stdbool.h>
#include <stdint.h>

struct kvm_run;

struct vmm__hv_vcpu {
    int fd;
    struct kvm_run *run;
    size_t run_size;
    uint32_t xsave_size; /* bytes KVM_SET_XSAVE reads for this vCPU (KVM_CAP_XSAVE2) */
    /* KVM_CAP_SYNC_REGS: KVM copies the general registers into the run area
     * at every exit, so reading them after an exit needs no ioctl. regs_synced
     * says the copy is current (cleared by anything that changes them). */
    bool sync_regs, regs_synced;
};

#define VMM__HV_HIDDEN __attribute__((visibility("hidden")))

/* The control registers a guest page walk needs (lib/core/paging_x86_64.c). */
struct vmm__paging_state {
    uint64_t cr0, cr3, cr4, efer;
};

/* Record "<what>: <strerror(errno)>" as a VMM_EKVM error and return it. */
VMM__HV_HIDDEN int vmm__hv_fail(const char *what);
/* A KVM list ioctl on fd whose argument is a 32-bit entry count followed,
 * hdr bytes in, by entries of entry bytes (KVM_GET_SUPPORTED_CPUID,
 * KVM_GET_MSR_INDEX_LIST): asked with room for cap entries, then twice as
 * many while KVM answers E2BIG, up to max. *out receives a malloc'ed copy of
 * the entries, *n their number. 0, VMM_ENOMEM, or VMM_EKVM naming what. */
VMM__HV_HIDDEN int vmm__hv_get_list(int fd, unsigned long req, const char *what, size_t hdr,
                                    size_t entry, uint32_t cap, uint32_t max, void **out,
                                    uint32_t *n);

/* System: open /dev/kvm and check the API version. */
VMM__HV_HIDDEN int vmm__hv_open(int *kvm_fd);
VMM__HV_HIDDEN int vmm__hv_check_extension(int fd, long cap);
VMM__HV_HIDDEN int vmm__hv_host_info(int kvm_fd, vmm_host_info *info);
/* What a VM needs to know about KVM, with KVM's own capability names. */
struct vmm__hv_caps {
    bool readonly_mem, immediate_exit;
    bool irqfd_resample; /* KVM_CAP_IRQFD and KVM_CAP_IRQFD_RESAMPLE */
    bool ioeventfd;      /* KVM_CAP_IOEVENTFD */
    unsigned int max_slots, max_vcpus;
};
VMM__HV_HIDDEN void vmm__hv_caps(int kvm_fd, struct vmm__hv_caps *caps);

/* VM. */
VMM__HV_HIDDEN int vmm__hv_vm_create(int kvm_fd, int *vm_fd, int *run_size);
VMM__HV_HIDDEN int vmm__hv_irqchip_create(int vm_fd, bool pit);
VMM__HV_HIDDEN int vmm__hv_set_memslot(int vm_fd, unsigned int slot, uint64_t gpa, uint64_t size,
                                       void *host, bool readonly, bool dirty_log);
VMM__HV_HIDDEN int vmm__hv_dirty_log(int vm_fd, unsigned int slot, uint64_t *bitmap);
VMM__HV_HIDDEN int vmm__hv_irq_line(int vm_fd, unsigned int line, int level);
/* KVM_IRQFD: make a write to the eventfd fd assert interrupt line gsi, held
 * until the guest's EOI, when KVM de-asserts it and signals resamplefd
 * (KVM_IRQFD_FLAG_RESAMPLE); or (assign false) undo that, which de-asserts
 * the line if no other irqfd holds it. */
VMM__HV_HIDDEN int vmm__hv_irqfd(int vm_fd, unsigned int gsi, int fd, int resamplefd, bool assign);
/* KVM_IOEVENTFD: a guest write of len bytes with value datamatch at MMIO
 * address addr signals the eventfd fd inside KVM, without an exit to user
 * space; or (assign false) undo that. */
VMM__HV_HIDDEN int vmm__hv_ioeventfd(int vm_fd, uint64_t addr, unsigned int len, uint64_t datamatch,
                                     int fd, bool assign);

/* vCPU. */
VMM__HV_HIDDEN int vmm__hv_vcpu_create(int vm_fd, unsigned int index, int run_size,
                                       struct vmm__hv_vcpu *out);
VMM__HV_HIDDEN void vmm__hv_vcpu_close(struct vmm__hv_vcpu *v);
/* KVM_RUN: 0, or -errno (-EINTR when interrupted). */
VMM__HV_HIDDEN int vmm__hv_run(struct vmm__hv_vcpu *v);
VMM__HV_HIDDEN void vmm__hv_set_immediate_exit(struct vmm__hv_vcpu *v, bool on);
VMM__HV_HIDDEN int vmm__hv_set_signal_mask(struct vmm__hv_vcpu *v, const void *sigset8);
VMM__HV_HIDDEN int vmm__hv_get_regs(struct vmm__hv_vcpu *v, vmm_regs *r);
VMM__HV_HIDDEN int vmm__hv_set_regs(struct vmm__hv_vcpu *v, const vmm_regs *r);
VMM__HV_HIDDEN int vmm__hv_get_sregs(struct vmm__hv_vcpu *v, vmm_sregs *s);
VMM__HV_HIDDEN int vmm__hv_set_sregs(struct vmm__hv_vcpu *v, const vmm_sregs *s);
VMM__HV_HIDDEN int vmm__hv_get_fpu(struct vmm__hv_vcpu *v, vmm_fpu *f);
VMM__HV_HIDDEN int vmm__hv_set_fpu(struct vmm__hv_vcpu *v, const vmm_fpu *f);
VMM__HV_HIDDEN int vmm__hv_msrs(struct vmm__hv_vcpu *v, vmm_msr *msrs, size_t n, bool set);
VMM__HV_HIDDEN int vmm__hv_set_guest_debug(struct vmm__hv_vcpu *v, bool enable, bool singlestep,
                                           bool sw_bp);
/* Copy KVM's supported CPUID set into e (up to cap entries); *count gets its size. */
VMM__HV_HIDDEN int vmm__hv_supported_cpuid(int kvm_fd, vmm_cpuid_entry *e, size_t cap,
                                           size_t *count);
VMM__HV_HIDDEN int vmm__hv_set_cpuid(struct vmm__hv_vcpu *v, int kvm_fd, const vmm_cpuid_entry *e,
                                     size_t n, unsigned int apic_id);

/* Snapshot state (lib/snapshot). A vCPU's or the VM's KVM state is kept as one
 * self-describing blob in KVM's own structures: it records which parts it
 * holds, so a restore sets exactly what was saved. The per-VM info says which
 * parts this host can save (KVM_CHECK_EXTENSION) and which MSRs to save. */
struct vmm__hv_snapinfo;
VMM__HV_HIDDEN int vmm__hv_snapinfo_new(int kvm_fd, int vm_fd, bool irqchip, bool pit,
                                        struct vmm__hv_snapinfo **out);
VMM__HV_HIDDEN void vmm__hv_snapinfo_free(struct vmm__hv_snapinfo *si);
/* Save a vCPU's complete state into a new malloc'd blob of *len bytes. The
 * first call per VM settles the MSR list using this vCPU. */
VMM__HV_HIDDEN int vmm__hv_vcpu_state_get(struct vmm__hv_vcpu *v, struct vmm__hv_snapinfo *si,
                                          void **blob, size_t *len);
/* Load a blob vmm__hv_vcpu_state_get() made; allocates nothing. Checks it
 * with vmm__hv_vcpu_state_check() first. */
VMM__HV_HIDDEN int vmm__hv_vcpu_state_set(struct vmm__hv_vcpu *v, const void *blob, size_t len);
/* VMM_EINVAL (with a message) unless the blob is well-formed: its offsets and
 * sizes describe its own len bytes and it names only known parts. Pure, and
 * alignment-safe (reads a file's buffer in place). */
VMM__HV_HIDDEN int vmm__hv_vcpu_state_valid(const void *blob, size_t len);
/* vmm__hv_vcpu_state_valid(), plus what this vCPU needs of it (an XSAVE image
 * as large as KVM reads): a restore asks before changing anything. */
VMM__HV_HIDDEN int vmm__hv_vcpu_state_check(const struct vmm__hv_vcpu *v, const void *blob,
                                            size_t len);
struct vmm__paging_state;
/* The paging registers (CR0, CR3, CR4, EFER) a blob holds; VMM_EINVAL if it
 * is malformed or has none. Pure: reads only the blob. */
VMM__HV_HIDDEN int vmm__hv_vcpu_state_paging(const void *blob, size_t len,
                                             struct vmm__paging_state *ps);
/* The same for the VM-wide state: irqchip, PIT, kvmclock. */
VMM__HV_HIDDEN int vmm__hv_vm_state_get(int vm_fd, const struct vmm__hv_snapinfo *si, void **blob,
                                        size_t *len);
VMM__HV_HIDDEN int vmm__hv_vm_state_set(int vm_fd, const void *blob, size_t len);
/* VMM_EINVAL unless a VM-state blob is well-formed (as vmm__hv_vcpu_state_valid()). */
VMM__HV_HIDDEN int vmm__hv_vm_state_valid(const void *blob, size_t len);

/* Translate the kvm_run exit into a vmm_exit (pure: reads only run). */
VMM__HV_HIDDEN void vmm__hv_exit_decode(struct kvm_run *run, vmm_exit *exit);

#endif
