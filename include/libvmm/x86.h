/* SPDX-License-Identifier: MIT */
/** @file x86.h  x86-64 CPU set-up: CPU modes, GDT, page tables, CPUID. */
#ifndef LIBVMM_X86_H
#define LIBVMM_X86_H

#include "common.h"

VMM_BEGIN_DECLS

/** The CPU mode a guest starts in. */
typedef enum vmm_x86_mode {
    VMM_X86_REAL = 0,      /**< 16-bit real mode, CS base = entry & ~0xffff */
    VMM_X86_PROTECTED = 1, /**< 32-bit protected mode, flat segments, paging off */
    VMM_X86_LONG = 2       /**< 64-bit long mode, identity-mapped with 2 MiB pages */
} vmm_x86_mode;

/** Current version of vmm_x86_setup_options. */
#define VMM_X86_SETUP_OPTIONS_VERSION 2

/** Default guest-physical address of the tables vmm_x86_setup() writes. */
#define VMM_X86_TABLES_DEFAULT 0x9000u
/** Bytes the tables occupy at most: one page for GDT and TSS, PML4, PDPT, 4 page directories. */
#define VMM_X86_TABLES_MAX_SIZE 0x7000u

/** What vmm_x86_setup() does about guest exceptions (vmm_x86_setup_options.exceptions). */
typedef enum vmm_x86_exceptions {
    /** No IDT: an exception ends as a triple fault (VMM_EXIT_SHUTDOWN). */
    VMM_X86_EXCEPTIONS_NONE = 0,
    /**
     * Install an IDT for vectors 0-31 whose handlers report the exception to the
     * host: vmm_vcpu_run() returns VMM_EXIT_FAULT with the vector, the error
     * code, the faulting instruction's address and (for #PF) CR2. Protected and
     * long mode only. The IDT, the handlers (a few instructions each, at CPL 0)
     * and their stack live in the first page of the tables area, which the set-up
     * already uses for the GDT and TSS; TSS.RSP0 points at that stack, so a fault
     * at CPL 3 is reported even when the guest's own stack is unusable.
     * Breakpoint (int3) and overflow (into) gates are callable from CPL 3, so they
     * report vectors 3 and 4; other `int n` at CPL 3 report #GP. Interrupts with
     * vectors 32 and up are beyond the IDT's limit and report #GP too.
     * After a FAULT exit the vCPU's registers are the handler's; running the vCPU
     * again returns from the handler and re-executes the faulting instruction
     * (after the embedder has changed the state, or to fault again).
     * The reporting belongs to the vCPU, not to guest memory: a vCPU restored
     * from a snapshot reports exceptions if it was set up with this mode.
     */
    VMM_X86_EXCEPTIONS_REPORT = 1
} vmm_x86_exceptions;

/** Options for vmm_x86_setup(). */
typedef struct vmm_x86_setup_options {
    unsigned int version; /**< VMM_X86_SETUP_OPTIONS_VERSION */
    vmm_x86_mode mode;    /**< default VMM_X86_LONG */
    unsigned int cpl;     /**< 0 (default) or 3; real mode allows only 0 */
    uint64_t entry;       /**< guest address of the first instruction (real mode: < 1 MiB) */
    uint64_t stack;       /**< initial RSP/ESP/SP; 0 leaves it 0 */
    /** Guest-physical address where GDT, TSS and (long mode) page tables are written;
     *  page aligned, inside RAM, VMM_X86_TABLES_MAX_SIZE bytes free. Default
     *  VMM_X86_TABLES_DEFAULT. Unused in real mode. */
    uint64_t tables;
    /** Long mode: bytes identity-mapped from address 0, a multiple of 1 GiB,
     *  1..4 GiB. Default 4 GiB. With cpl 3 the pages are user-accessible. */
    uint64_t identity_map_size;
    /** Since version 2: VMM_X86_EXCEPTIONS_NONE (default) or VMM_X86_EXCEPTIONS_REPORT. */
    vmm_x86_exceptions exceptions;
} vmm_x86_setup_options;

/** Static initialiser with the defaults. */
#define VMM_X86_SETUP_OPTIONS_INIT                                                                 \
    {                                                                                              \
        VMM_X86_SETUP_OPTIONS_VERSION, VMM_X86_LONG, 0, 0, 0, VMM_X86_TABLES_DEFAULT,              \
            0x100000000ull, VMM_X86_EXCEPTIONS_NONE                                                \
    }

/** Fill set-up options with defaults. Same contract as vmm_vm_options_init(). Thread-safe: it
 * touches no shared state. */
VMM_EXTERN int vmm_x86_setup_options_init(vmm_x86_setup_options *opts, unsigned int version);

/**
 * Put a vCPU into the given mode, ready to run at opts->entry: writes the GDT,
 * a 64-bit or 32-bit TSS and (long mode) identity page tables into guest memory,
 * loads segment registers, control registers and EFER, and sets RIP, RSP and
 * RFLAGS (IF clear). Other general registers are zeroed. Unless opts->exceptions
 * asks for reporting, no IDT is installed: an exception in the guest ends as a
 * triple fault (VMM_EXIT_SHUTDOWN) unless the guest installs its own.
 * @return 0; VMM_EINVAL (bad mode, cpl, entry), VMM_EFAULT (tables not in RAM),
 *         VMM_EVERSION, VMM_EBUSY (vCPU running), VMM_EKVM.
 * Threads as vmm_vcpu_get_regs() (it writes the vCPU's registers and guest memory).
 */
VMM_EXTERN int vmm_x86_setup(vmm_vcpu *vcpu, const vmm_x86_setup_options *opts);

/** GDT selectors written by vmm_x86_setup() (RPL 0; OR 3 for user selectors). */
#define VMM_X86_SEL_CODE64  0x08u
#define VMM_X86_SEL_CODE32  0x10u
#define VMM_X86_SEL_DATA    0x18u
#define VMM_X86_SEL_UDATA   0x20u /**< user data, DPL 3 (before user code, as SYSRET expects) */
#define VMM_X86_SEL_UCODE64 0x28u
#define VMM_X86_SEL_UCODE32 0x30u
#define VMM_X86_SEL_TSS     0x38u

/** One CPUID leaf, as given to vmm_x86_set_cpuid(). */
typedef struct vmm_cpuid_entry {
    uint32_t function, index; /**< leaf and sub-leaf */
    uint32_t flags;           /**< 1: index is significant */
    uint32_t eax, ebx, ecx, edx;
} vmm_cpuid_entry;

/**
 * Set the vCPU's CPUID table.
 * @param entries  The table, or NULL for KVM's supported set (what vmm_vcpu_create()
 *                 installs), with the APIC ID in leaves 1 and 0xb set to the vCPU index.
 * @param count    Number of entries (ignored for NULL), at most 256.
 * @return 0; VMM_EINVAL, VMM_EBUSY, VMM_EKVM.
 * Any thread while the vCPU is not running (VMM_EBUSY otherwise).
 */
VMM_EXTERN int vmm_x86_set_cpuid(vmm_vcpu *vcpu, const vmm_cpuid_entry *entries, size_t count);

/**
 * KVM's supported CPUID set (what vmm_vcpu_create() installs, before the APIC
 * ID is filled in), to filter and pass to vmm_x86_set_cpuid().
 * @param vm       Any VM of the process (the set is the host's).
 * @param entries  Receives up to cap entries; may be NULL with cap 0 to ask for the count.
 * @param count    Receives the number of entries in the set.
 * @return 0; VMM_ERANGE (cap too small: *count says how many); VMM_EINVAL; VMM_EKVM.
 * Thread-safe.
 */
VMM_EXTERN int vmm_x86_supported_cpuid(vmm_vm *vm, vmm_cpuid_entry *entries, size_t cap,
                                       size_t *count);

VMM_END_DECLS

#endif
