/* SPDX-License-Identifier: MIT */
/* The KVM backend's own declarations, shared by its files: kvm.c (the
 * generic part: /dev/kvm, VMs, memory slots, interrupts, vCPU descriptors,
 * KVM_RUN and kicks, the ops table), kvm_x86_64.c (registers, CPUID, exit
 * decoding) and kvm_x86_64_state.c (snapshot state). The rest of libvmm sees
 * only hv.h. (Never installed.) */
#ifndef LIBVMM_HV_KVM_H
#define LIBVMM_HV_KVM_H

#include <libvmm/vmm.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "hv.h"

#define VMM__KVM_HIDDEN __attribute__((visibility("hidden")))

struct kvm_run;
struct vmm__kvm_snapinfo;

/* A memory slot. */
struct vmm__kvm_slot {
    uint64_t gpa, size;
    void *host;
    bool used, readonly, dirty_log;
};

struct vmm__hv_vm {
    int kvm_fd, vm_fd;
    int run_size; /* bytes of a vCPU's kvm_run area */
    bool irqchip, pit;
    struct vmm__hv_caps caps;
    unsigned int max_slots; /* KVM_CAP_NR_MEMSLOTS */
    struct vmm__kvm_slot *slots;
    unsigned int nslots; /* entries of slots[] (used or not) */
    bool info_read;
    vmm_host_info info;
    struct vmm__kvm_snapinfo *snapinfo; /* what state to save; made at the first save */
};

struct vmm__hv_vcpu {
    struct vmm__hv_vm *vm;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    uint32_t xsave_size; /* bytes KVM_SET_XSAVE reads for this vCPU (KVM_CAP_XSAVE2) */
    /* KVM_CAP_SYNC_REGS: KVM copies the general registers into the run area
     * at every exit, so reading them after an exit needs no ioctl. regs_synced
     * says the copy is current (cleared by anything that changes them). */
    bool sync_regs, regs_synced;
    pid_t sigmask_tid; /* thread KVM_SET_SIGNAL_MASK was computed for */
    timer_t timer;     /* the time budget's: signals timer_tid */
    pid_t timer_tid;   /* 0: no timer */
};

/* Record "<what>: <strerror(errno)>" as a VMM_EKVM error and return it. */
VMM__KVM_HIDDEN int vmm__kvm_fail(const char *what);
VMM__KVM_HIDDEN int vmm__kvm_check_extension(int fd, long cap);
/* A KVM list ioctl on fd whose argument is a 32-bit entry count followed,
 * hdr bytes in, by entries of entry bytes (KVM_GET_SUPPORTED_CPUID,
 * KVM_GET_MSR_INDEX_LIST): asked with room for cap entries, then twice as
 * many while KVM answers E2BIG, up to max. *out receives a malloc'ed copy of
 * the entries, *n their number. 0, VMM_ENOMEM, or VMM_EKVM naming what. */
VMM__KVM_HIDDEN int vmm__kvm_get_list(int fd, unsigned long req, const char *what, size_t hdr,
                                      size_t entry, uint32_t cap, uint32_t max, void **out,
                                      uint32_t *n);

/* kvm_vcpu.c */
VMM__KVM_HIDDEN int vmm__kvm_vcpu_create(struct vmm__hv_vm *vm, unsigned int index,
                                         struct vmm__hv_vcpu **out);
VMM__KVM_HIDDEN void vmm__kvm_vcpu_destroy(struct vmm__hv_vcpu *v);
VMM__KVM_HIDDEN int vmm__kvm_run(struct vmm__hv_vcpu *v, vmm_exit *x);
VMM__KVM_HIDDEN int vmm__kvm_complete_io(struct vmm__hv_vcpu *v);
VMM__KVM_HIDDEN int vmm__kvm_run_thread(struct vmm__hv_vcpu *v, pid_t tid);
VMM__KVM_HIDDEN void vmm__kvm_kick(struct vmm__hv_vcpu *v, pid_t tid);
VMM__KVM_HIDDEN void vmm__kvm_kick_drain(struct vmm__hv_vcpu *v);
VMM__KVM_HIDDEN int vmm__kvm_kick_at(struct vmm__hv_vcpu *v, pid_t tid, uint64_t deadline);

/* kvm_x86_64.c */
VMM__KVM_HIDDEN int vmm__kvm_get_regs(struct vmm__hv_vcpu *v, vmm_regs *r);
VMM__KVM_HIDDEN int vmm__kvm_set_regs(struct vmm__hv_vcpu *v, const vmm_regs *r);
VMM__KVM_HIDDEN int vmm__kvm_get_sregs(struct vmm__hv_vcpu *v, vmm_sregs *s);
VMM__KVM_HIDDEN int vmm__kvm_set_sregs(struct vmm__hv_vcpu *v, const vmm_sregs *s);
VMM__KVM_HIDDEN int vmm__kvm_get_fpu(struct vmm__hv_vcpu *v, vmm_fpu *f);
VMM__KVM_HIDDEN int vmm__kvm_set_fpu(struct vmm__hv_vcpu *v, const vmm_fpu *f);
VMM__KVM_HIDDEN int vmm__kvm_msrs(struct vmm__hv_vcpu *v, vmm_msr *msrs, size_t n, bool set);
VMM__KVM_HIDDEN int vmm__kvm_guest_debug(struct vmm__hv_vcpu *v, bool enable, bool singlestep,
                                         bool sw_bp);
VMM__KVM_HIDDEN int vmm__kvm_supported_cpuid(struct vmm__hv_vm *vm, vmm_cpuid_entry *e, size_t cap,
                                             size_t *count);
VMM__KVM_HIDDEN int vmm__kvm_set_cpuid(struct vmm__hv_vcpu *v, const vmm_cpuid_entry *e, size_t n,
                                       unsigned int apic_id);
/* Translate the kvm_run exit into a vmm_exit (pure: reads only run); what the
 * backend's run fills its exit with, and what the unit tests that fake a
 * kvm_run call. */
VMM__KVM_HIDDEN void vmm__kvm_exit_decode(struct kvm_run *run, vmm_exit *exit);

/* kvm_x86_64_state.c. A vCPU's or the VM's KVM state is kept as one
 * self-describing blob in KVM's own structures (kvm_x86_64_blob.h): it
 * records which parts it holds, so a restore sets exactly what was saved.
 * The VM's snapinfo says which parts this host can save and which MSRs. */
VMM__KVM_HIDDEN void vmm__kvm_snapinfo_free(struct vmm__kvm_snapinfo *si);
VMM__KVM_HIDDEN int vmm__kvm_vcpu_state_get(struct vmm__hv_vcpu *v, void **blob, size_t *len);
VMM__KVM_HIDDEN int vmm__kvm_vcpu_state_set(struct vmm__hv_vcpu *v, const void *blob, size_t len);
VMM__KVM_HIDDEN int vmm__kvm_vcpu_state_valid(const void *blob, size_t len);
VMM__KVM_HIDDEN int vmm__kvm_vcpu_state_check(const struct vmm__hv_vcpu *v, const void *blob,
                                              size_t len);
VMM__KVM_HIDDEN int vmm__kvm_vcpu_state_paging(const void *blob, size_t len,
                                               struct vmm__paging_state *ps);
VMM__KVM_HIDDEN int vmm__kvm_vm_state_get(struct vmm__hv_vm *vm, void **blob, size_t *len);
VMM__KVM_HIDDEN int vmm__kvm_vm_state_set(struct vmm__hv_vm *vm, const void *blob, size_t len);
VMM__KVM_HIDDEN int vmm__kvm_vm_state_valid(const void *blob, size_t len);

#endif
