/* SPDX-License-Identifier: MIT */
/* The layout of the KVM x86-64 backend's snapshot state blobs: private to
 * kvm_x86_64_state.c, shared only with the unit tests that build blobs by hand
 * (a snapshot file carries these blobs as they are, docs/snapshot-format.md). */
#ifndef LIBVMM_HV_KVM_X86_64_BLOB_H
#define LIBVMM_HV_KVM_X86_64_BLOB_H

#include <linux/kvm.h>
#include <stdint.h>

/* Parts a state blob can hold. */
enum {
    PART_REGS = 1u << 0,
    PART_SREGS = 1u << 1,
    PART_XSAVE = 1u << 2,
    PART_FPU = 1u << 3, /* instead of XSAVE where KVM lacks KVM_CAP_XSAVE */
    PART_XCRS = 1u << 4,
    PART_MSRS = 1u << 5,
    PART_DEBUGREGS = 1u << 6,
    PART_EVENTS = 1u << 7,
    PART_MP_STATE = 1u << 8,
    PART_LAPIC = 1u << 9,
    PART_IRQCHIP = 1u << 16,
    PART_PIT = 1u << 17,
    PART_CLOCK = 1u << 18,
};

#define VCPU_BLOB_MAGIC 0x76637075u /* "vcpu" */
#define VM_BLOB_MAGIC   0x766d7374u /* "vmst" */
/* KVM_GET/SET_MSRS refuse 256 or more entries per call (MAX_IO_MSRS). */
#define MSR_CHUNK 240

/* A vCPU's state: this header, then the XSAVE image at xsave_off, then the MSRs
 * at msrs_off as chunks of (struct kvm_msrs + at most MSR_CHUNK entries) that
 * KVM_SET_MSRS takes as they are. */
struct vcpu_blob {
    uint32_t magic, parts;
    uint32_t xsave_size, xsave_off;
    uint32_t nmsrs, msrs_off;
    uint64_t total;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;
    struct kvm_xcrs xcrs;
    struct kvm_debugregs dregs;
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp;
    struct kvm_lapic_state lapic;
};

struct vm_blob {
    uint32_t magic, parts;
    struct kvm_irqchip chip[3]; /* PIC master, PIC slave, IOAPIC */
    struct kvm_pit_state2 pit;
    struct kvm_clock_data clock;
};

/* Every part a blob may name; other bits are refused. */
#define VCPU_BLOB_PARTS                                                                            \
    (PART_REGS | PART_SREGS | PART_XSAVE | PART_FPU | PART_XCRS | PART_MSRS | PART_DEBUGREGS |     \
     PART_EVENTS | PART_MP_STATE | PART_LAPIC)
#define VM_BLOB_PARTS (PART_IRQCHIP | PART_PIT | PART_CLOCK)

#endif
