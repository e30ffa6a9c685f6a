/* SPDX-License-Identifier: MIT */
/** @file host.h  What the host's KVM offers. */
#ifndef LIBVMM_HOST_H
#define LIBVMM_HOST_H

#include "common.h"

VMM_BEGIN_DECLS

/** How the host virtualises guest page tables. */
typedef enum vmm_paging {
    VMM_PAGING_UNKNOWN = 0,
    VMM_PAGING_EPT = 1,   /**< Intel VMX with extended page tables */
    VMM_PAGING_NPT = 2,   /**< AMD SVM with nested page tables */
    VMM_PAGING_SHADOW = 3 /**< shadow paging (PVM, or VMX/SVM with EPT/NPT off) */
} vmm_paging;

/** vmm_host_info.caps bits: KVM capabilities libvmm uses. */
#define VMM_CAP_IRQCHIP        (1u << 0)
#define VMM_CAP_PIT            (1u << 1)
#define VMM_CAP_IRQFD          (1u << 2)
#define VMM_CAP_IOEVENTFD      (1u << 3)
#define VMM_CAP_IMMEDIATE_EXIT (1u << 4)
#define VMM_CAP_READONLY_MEM   (1u << 5)
#define VMM_CAP_XSAVE          (1u << 6)
#define VMM_CAP_DEBUGREGS      (1u << 7)
#define VMM_CAP_VCPU_EVENTS    (1u << 8)
#define VMM_CAP_DIRTY_LOG      (1u << 9) /**< KVM_GET_DIRTY_LOG (always on x86) */
#define VMM_CAP_GUEST_DEBUG    (1u << 10)
#define VMM_CAP_TSC_DEADLINE   (1u << 11)

/** Facts about the host's KVM. */
typedef struct vmm_host_info {
    int api_version;                /**< KVM_GET_API_VERSION (12) */
    unsigned int caps;              /**< VMM_CAP_* bits present */
    unsigned int max_vcpus;         /**< KVM_CAP_MAX_VCPUS */
    unsigned int recommended_vcpus; /**< KVM_CAP_NR_VCPUS */
    unsigned int max_memslots;      /**< KVM_CAP_NR_MEMSLOTS */
    vmm_paging paging;
    int pvm;          /**< 1 if KVM runs on the PVM backend (guest CPL0 emulated) */
    char backend[32]; /**< "kvm_intel", "kvm_amd", "kvm_pvm" or "unknown" */
} vmm_host_info;

/**
 * Query the host's KVM.
 * @param info  Receives the facts; must not be NULL.
 * @return 0; VMM_ENODEV (/dev/kvm absent), VMM_EPERM (not accessible), VMM_EKVM
 *         (API version is not 12).
 * Thread-safe.
 */
VMM_EXTERN int vmm_host_info_get(vmm_host_info *info);

/** Name of a paging mode ("EPT", "NPT", "shadow", "unknown"); never NULL. Thread-safe: it touches
 * no shared state. */
VMM_EXTERN const char *vmm_paging_name(vmm_paging paging);

VMM_END_DECLS

#endif
