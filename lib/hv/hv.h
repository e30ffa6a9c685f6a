/* SPDX-License-Identifier: MIT */
/* What libvmm needs from a hypervisor: one table of operations over opaque
 * VM and vCPU handles. The core, the snapshot code, the sandbox and the
 * loaders reach the hypervisor only through it; a backend (lib/hv/kvm*.c
 * for KVM) implements it and nothing outside lib/hv knows how. A second
 * backend adds its table and is picked in vmm__hv_default() and
 * vmm__hv_by_tag(); docs/architecture.md says what each operation must do.
 * (Never installed.) */
#ifndef LIBVMM_HV_HV_H
#define LIBVMM_HV_HV_H

#include <libvmm/vmm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vmm__hv_vm;   /* a VM of the backend: its memory, interrupts, state */
struct vmm__hv_vcpu; /* a vCPU of such a VM */

/* What a VM of the backend can do. */
struct vmm__hv_caps {
    bool readonly_mem; /* read-only memory regions */
    bool irqfd;        /* interrupt lines driven by eventfds, with resampling */
    bool ioeventfd;    /* guest writes that signal an eventfd without an exit */
    unsigned int max_vcpus;
};

/* The control registers a guest page walk needs (lib/core/paging_x86_64.c). */
struct vmm__paging_state {
    uint64_t cr0, cr3, cr4, efer;
};

struct vmm__hv_ops {
    const char *name;
    /* The snapshot file's tag for this backend and architecture (header
     * offset 12): a file with another tag is refused. */
    uint32_t snapshot_tag;

    /* ---- host ---- */
    int (*host_info)(vmm_host_info *info);

    /* ---- VM ---- */
    /* A VM with an in-kernel interrupt controller (irqchip) and a PIT. */
    int (*vm_create)(bool irqchip, bool pit, struct vmm__hv_vm **out);
    void (*vm_destroy)(struct vmm__hv_vm *vm); /* NULL is ignored */
    const struct vmm__hv_caps *(*vm_caps)(const struct vmm__hv_vm *vm);
    /* The host's description, read once per VM. */
    const vmm_host_info *(*vm_host_info)(struct vmm__hv_vm *vm);

    /* ---- memory: the backend numbers its regions ---- */
    /* Map host memory at gpa; *region receives the backend's number for it.
     * VMM_E2BIG when the backend has no room for another region. */
    int (*mem_add)(struct vmm__hv_vm *vm, uint64_t gpa, uint64_t size, void *host, bool readonly,
                   bool dirty_log, unsigned int *region);
    int (*mem_remove)(struct vmm__hv_vm *vm, unsigned int region);
    /* Turn dirty logging of a region on, keeping its mapping. */
    int (*mem_log_dirty)(struct vmm__hv_vm *vm, unsigned int region);
    /* The pages written since the last call (one bit per page); clears them. */
    int (*dirty_log)(struct vmm__hv_vm *vm, unsigned int region, uint64_t *bitmap);
    /* Drop the shadow page tables derived from guest memory (no vCPU runs). */
    int (*flush_shadow)(struct vmm__hv_vm *vm);

    /* ---- interrupts ---- */
    int (*irq_line)(struct vmm__hv_vm *vm, unsigned int line, int level);
    /* A write to eventfd fd asserts line gsi until the guest's EOI, which
     * signals resamplefd; or (assign false) undo that. */
    int (*irqfd)(struct vmm__hv_vm *vm, unsigned int gsi, int fd, int resamplefd, bool assign);
    /* A guest write of len bytes of value datamatch at MMIO address addr
     * signals eventfd fd without an exit; or (assign false) undo that. */
    int (*ioeventfd)(struct vmm__hv_vm *vm, uint64_t addr, unsigned int len, uint64_t datamatch,
                     int fd, bool assign);

    /* ---- vCPUs ---- */
    int (*vcpu_create)(struct vmm__hv_vm *vm, unsigned int index, struct vmm__hv_vcpu **out);
    void (*vcpu_destroy)(struct vmm__hv_vcpu *vcpu); /* NULL is ignored */
    /* Run until an exit: 0 with *x filled, -EINTR (or -EAGAIN) when kicked or
     * interrupted, another -errno on failure. Only from the thread that
     * called run_thread() for this vCPU last. */
    int (*run)(struct vmm__hv_vcpu *vcpu, vmm_exit *x);
    /* Complete an I/O instruction the guest waits on without running guest
     * code: 0, 1 when it needs more I/O (a string instruction), <0 on failure. */
    int (*complete_io)(struct vmm__hv_vcpu *vcpu);
    /* Make the calling thread able to run the vCPU and be kicked out of run:
     * before its first run on this thread, and cheap when repeated. */
    int (*run_thread)(struct vmm__hv_vcpu *vcpu, pid_t tid);
    /* From any thread: make thread tid, which runs or is about to run the
     * vCPU, leave run (-EINTR) at once. */
    void (*kick)(struct vmm__hv_vcpu *vcpu, pid_t tid);
    /* Forget kicks delivered to the calling runner thread. */
    void (*kick_drain)(struct vmm__hv_vcpu *vcpu);
    /* Kick runner thread tid at the absolute CLOCK_MONOTONIC time deadline
     * (ns); disarm: deadline 0. */
    int (*kick_at)(struct vmm__hv_vcpu *vcpu, pid_t tid, uint64_t deadline);

    /* ---- registers (x86-64) ---- */
    int (*get_regs)(struct vmm__hv_vcpu *vcpu, vmm_regs *r);
    int (*set_regs)(struct vmm__hv_vcpu *vcpu, const vmm_regs *r);
    int (*get_sregs)(struct vmm__hv_vcpu *vcpu, vmm_sregs *s);
    int (*set_sregs)(struct vmm__hv_vcpu *vcpu, const vmm_sregs *s);
    int (*get_fpu)(struct vmm__hv_vcpu *vcpu, vmm_fpu *f);
    int (*set_fpu)(struct vmm__hv_vcpu *vcpu, const vmm_fpu *f);
    int (*msrs)(struct vmm__hv_vcpu *vcpu, vmm_msr *msrs, size_t n, bool set);
    int (*guest_debug)(struct vmm__hv_vcpu *vcpu, bool enable, bool singlestep, bool sw_bp);
    /* The CPUID entries the backend can give a guest (up to cap into e). */
    int (*supported_cpuid)(struct vmm__hv_vm *vm, vmm_cpuid_entry *e, size_t cap, size_t *count);
    /* Set a vCPU's CPUID (e NULL: the supported set), with its APIC id. */
    int (*set_cpuid)(struct vmm__hv_vcpu *vcpu, const vmm_cpuid_entry *e, size_t n,
                     unsigned int apic_id);

    /* ---- state for snapshots: self-describing blobs of the backend's ---- */
    int (*vcpu_state_get)(struct vmm__hv_vcpu *vcpu, void **blob, size_t *len);
    int (*vcpu_state_set)(struct vmm__hv_vcpu *vcpu, const void *blob, size_t len);
    /* Well-formed (pure: a file's bytes in place), and what this vCPU needs. */
    int (*vcpu_state_valid)(const void *blob, size_t len);
    int (*vcpu_state_check)(const struct vmm__hv_vcpu *vcpu, const void *blob, size_t len);
    /* The paging registers a blob holds (pure). */
    int (*vcpu_state_paging)(const void *blob, size_t len, struct vmm__paging_state *ps);
    int (*vm_state_get)(struct vmm__hv_vm *vm, void **blob, size_t *len);
    int (*vm_state_set)(struct vmm__hv_vm *vm, const void *blob, size_t len);
    int (*vm_state_valid)(const void *blob, size_t len);
};

/* The KVM backend (lib/hv/kvm*.c). */
extern __attribute__((visibility("hidden"))) const struct vmm__hv_ops vmm__hv_kvm;

/* The backend new VMs use. */
static inline const struct vmm__hv_ops *vmm__hv_default(void)
{
    return &vmm__hv_kvm;
}

/* The backend whose snapshots carry tag, or NULL. */
static inline const struct vmm__hv_ops *vmm__hv_by_tag(uint32_t tag)
{
    return tag == vmm__hv_kvm.snapshot_tag ? &vmm__hv_kvm : NULL;
}

#endif
