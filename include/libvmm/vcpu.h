/* SPDX-License-Identifier: MIT */
/** @file vcpu.h  vCPUs: registers, running, exits, kicking, time budgets. */
#ifndef LIBVMM_VCPU_H
#define LIBVMM_VCPU_H

#include "common.h"

VMM_BEGIN_DECLS

/** x86-64 general-purpose registers, instruction pointer and flags. */
typedef struct vmm_regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip, rflags;
} vmm_regs;

/** A segment register with its hidden descriptor cache. */
typedef struct vmm_segment {
    uint64_t base;
    uint32_t limit; /**< byte-granular limit (already scaled when g is set) */
    uint16_t selector;
    uint8_t type; /**< descriptor type field (4 bits) */
    uint8_t present, dpl, db, s, l, g, avl;
    uint8_t unusable; /**< 1: the segment is not usable (null) */
} vmm_segment;

/** A descriptor table register (GDTR, IDTR). */
typedef struct vmm_dtable {
    uint64_t base;
    uint16_t limit;
} vmm_dtable;

/** Special registers: segments, descriptor tables, control registers. */
typedef struct vmm_sregs {
    vmm_segment cs, ds, es, fs, gs, ss, tr, ldt;
    vmm_dtable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
} vmm_sregs;

/** x87/SSE state (the legacy FXSAVE area). */
typedef struct vmm_fpu {
    uint8_t fpr[8][16]; /**< ST0-ST7, 80 bits used of each */
    uint16_t fcw, fsw;
    uint8_t ftwx; /**< abridged tag word */
    uint16_t last_opcode;
    uint64_t last_ip, last_dp;
    uint8_t xmm[16][16];
    uint32_t mxcsr;
} vmm_fpu;

/** One model-specific register. */
typedef struct vmm_msr {
    uint32_t index;
    uint64_t value;
} vmm_msr;

/** Why vmm_vcpu_run() returned. */
typedef enum vmm_exit_reason {
    VMM_EXIT_NONE = 0,
    VMM_EXIT_HLT = 1,      /**< the guest executed HLT (no in-kernel irqchip) */
    VMM_EXIT_IO = 2,       /**< port I/O no device claims; see vmm_exit.io */
    VMM_EXIT_MMIO = 3,     /**< an access outside RAM no device claims; see vmm_exit.mmio */
    VMM_EXIT_SHUTDOWN = 4, /**< triple fault or shutdown; the vCPU state is undefined */
    VMM_EXIT_DEBUG = 5,    /**< a debug exception (guest debugging enabled); see .debug */
    VMM_EXIT_KICKED = 6,   /**< vmm_vcpu_kick() or vmm_vm_stop() */
    VMM_EXIT_TIMEOUT = 7,  /**< the time budget expired */
    VMM_EXIT_FAULT = 8,    /**< a guest exception reported by a guest runtime; see .fault */
    VMM_EXIT_INTERNAL_ERROR =
        9,                    /**< KVM could not continue (e.g. emulation failure); see .internal */
    VMM_EXIT_STATUS = 10,     /**< a device (e.g. debug-exit) ended the run; see .status */
    VMM_EXIT_FAIL_ENTRY = 11, /**< the CPU refused to enter the guest (invalid state) */
    VMM_EXIT_SYSTEM_EVENT = 12 /**< reset or crash request from the guest; see .system_event */
} vmm_exit_reason;

/** An exit: the reason plus the payload that belongs to it. */
typedef struct vmm_exit {
    vmm_exit_reason reason;
    /** VMM_EXIT_IO. For a read (is_write 0) the caller stores count*size bytes at
     *  data; they reach the guest on the next vmm_vcpu_run() of this vCPU. */
    struct {
        uint16_t port;
        uint8_t size; /**< 1, 2 or 4 */
        uint8_t is_write;
        uint32_t count; /**< > 1 for REP INS/OUTS */
        uint8_t *data; /**< count*size bytes inside the vCPU's run area; valid until the next run */
    } io;
    /** VMM_EXIT_MMIO; same read protocol as io. */
    struct {
        uint64_t addr; /**< guest-physical address */
        uint8_t size;  /**< 1, 2, 4 or 8 */
        uint8_t is_write;
        uint8_t *data; /**< size bytes; valid until the next run */
    } mmio;
    struct {
        int32_t code; /**< the value the guest (or a device) reported */
    } status;
    struct {
        uint32_t exception; /**< vector (1 = #DB, 3 = #BP) */
        uint64_t pc;
        uint64_t dr6, dr7;
    } debug;
    struct {
        uint32_t vector; /**< exception vector (14 = #PF, 6 = #UD, 0 = #DE, ...) */
        uint32_t error_code;
        uint64_t address; /**< faulting address (CR2 for #PF), else the instruction address */
        uint64_t rip;
    } fault;
    struct {
        uint32_t suberror;  /**< KVM_INTERNAL_ERROR_* (1 = emulation failure) */
        uint64_t rip;       /**< guest RIP when the error was reported */
        uint8_t insn_len;   /**< number of valid bytes in insn (0 if unknown) */
        uint8_t insn[16];   /**< the instruction bytes at rip, read from guest memory */
        uint64_t hw_reason; /**< FAIL_ENTRY: hardware entry failure reason */
    } internal;
    struct {
        uint32_t type; /**< KVM_SYSTEM_EVENT_* (1 shutdown, 2 reset, 3 crash) */
    } system_event;
} vmm_exit;

/**
 * Create vCPU number index. The vCPU starts in the x86 reset state (real mode at
 * F000:FFF0) with CPUID set to everything KVM supports (see vmm_x86_set_cpuid()).
 * @param out    Receives the vCPU (owned by the VM; freed by vmm_vm_destroy()).
 * @param vm     The VM.
 * @param index  0 .. max vCPUs - 1; each index once.
 * @return 0; VMM_EEXIST (index in use), VMM_ERANGE (index too large), VMM_EKVM, VMM_ENOMEM.
 * Not thread-safe against other calls on the same VM.
 */
VMM_EXTERN int vmm_vcpu_create(vmm_vcpu **out, vmm_vm *vm, unsigned int index);

/** Index of the vCPU. Any thread. */
VMM_EXTERN unsigned int vmm_vcpu_index(const vmm_vcpu *vcpu);
/** The VM the vCPU belongs to. Any thread. */
VMM_EXTERN vmm_vm *vmm_vcpu_vm(vmm_vcpu *vcpu);

/** Read the general registers. @return 0, VMM_EINVAL, VMM_EBUSY (vCPU running), VMM_EKVM. Any
 * thread while the vCPU is not running (VMM_EBUSY otherwise), and the vCPU's own thread from an
 * exit or device callback. */
VMM_EXTERN int vmm_vcpu_get_regs(vmm_vcpu *vcpu, vmm_regs *regs);
/** Write the general registers. Errors as vmm_vcpu_get_regs(). Threads as vmm_vcpu_get_regs(). */
VMM_EXTERN int vmm_vcpu_set_regs(vmm_vcpu *vcpu, const vmm_regs *regs);
/** Read segments, descriptor tables and control registers. Errors as vmm_vcpu_get_regs(). Threads
 * as vmm_vcpu_get_regs(). */
VMM_EXTERN int vmm_vcpu_get_sregs(vmm_vcpu *vcpu, vmm_sregs *sregs);
/** Write segments, descriptor tables and control registers. Errors as vmm_vcpu_get_regs(). Threads
 * as vmm_vcpu_get_regs(). */
VMM_EXTERN int vmm_vcpu_set_sregs(vmm_vcpu *vcpu, const vmm_sregs *sregs);
/** Read the x87/SSE state. Errors as vmm_vcpu_get_regs(). Threads as vmm_vcpu_get_regs(). */
VMM_EXTERN int vmm_vcpu_get_fpu(vmm_vcpu *vcpu, vmm_fpu *fpu);
/** Write the x87/SSE state. Errors as vmm_vcpu_get_regs(). Threads as vmm_vcpu_get_regs(). */
VMM_EXTERN int vmm_vcpu_set_fpu(vmm_vcpu *vcpu, const vmm_fpu *fpu);
/**
 * Read MSRs: fill msrs[i].value for each msrs[i].index.
 * @param count  Number of entries, 1..256.
 * @return 0 if all were read; VMM_ENOENT (message names the first MSR KVM refused),
 *         VMM_EINVAL, VMM_EBUSY, VMM_EKVM.
 * Threads as vmm_vcpu_get_regs().
 */
VMM_EXTERN int vmm_vcpu_get_msrs(vmm_vcpu *vcpu, vmm_msr *msrs, size_t count);
/** Write MSRs. Errors as vmm_vcpu_get_msrs(). Threads as vmm_vcpu_get_regs(). */
VMM_EXTERN int vmm_vcpu_set_msrs(vmm_vcpu *vcpu, const vmm_msr *msrs, size_t count);

/**
 * Run the vCPU on the calling thread until an exit that no device claims.
 * Port I/O and MMIO claimed by attached devices are served inside this call.
 * After VMM_EXIT_IO/MMIO reads the caller's answer (stored at exit->io.data or
 * exit->mmio.data) is delivered to the guest by the next call.
 *
 * The first call on a thread blocks the kick signal (SIGRTMAX - 1) in that
 * thread; libvmm uses it to interrupt KVM_RUN and installs no handler for it.
 *
 * @param vcpu  The vCPU; only one thread may run it at a time.
 * @param exit  Receives the exit; must not be NULL.
 * @return 0 with *exit filled; VMM_EBUSY if the vCPU is already running,
 *         VMM_EKVM if KVM_RUN fails, VMM_EINVAL.
 */
VMM_EXTERN int vmm_vcpu_run(vmm_vcpu *vcpu, vmm_exit *exit);

/**
 * Make vmm_vcpu_run() return VMM_EXIT_KICKED: at once if it is running, else the
 * next call returns it without entering the guest. A pending I/O completion is
 * finished first. Thread-safe, callable from any thread; kicks do not queue.
 * @return 0 or VMM_EINVAL.
 */
VMM_EXTERN int vmm_vcpu_kick(vmm_vcpu *vcpu);

/**
 * Limit the wall-clock time of every later vmm_vcpu_run() call on this vCPU.
 * When it expires, the call returns VMM_EXIT_TIMEOUT (the guest is stopped at an
 * instruction boundary and can be resumed).
 * @param ns  Budget in nanoseconds per call; 0 removes the limit.
 * @return 0, VMM_EINVAL, VMM_EBUSY (running).
 * Any thread while the vCPU is not running (VMM_EBUSY otherwise).
 */
VMM_EXTERN int vmm_vcpu_set_time_budget(vmm_vcpu *vcpu, uint64_t ns);

/**
 * Translate a guest-virtual address through the vCPU's current paging mode
 * (none, 32-bit, PAE, 4-level or 5-level), in software.
 * @param write  Nonzero: the page must be writable.
 * @param user   Nonzero: the page must be accessible at CPL3.
 * @return 0 with *gpa set; VMM_EFAULT if not mapped or not permitted, VMM_EINVAL.
 * Threads as vmm_vcpu_get_regs().
 */
VMM_EXTERN int vmm_vcpu_translate(vmm_vcpu *vcpu, uint64_t gva, int write, int user, uint64_t *gpa);

/** Read len bytes at guest-virtual address gva (through the guest's page tables).
 * Threads as vmm_vcpu_get_regs().
 *  @return 0; VMM_EFAULT (a page is not mapped, or not backed by RAM), VMM_EINVAL. */
VMM_EXTERN int vmm_vcpu_read_virt(vmm_vcpu *vcpu, uint64_t gva, void *buf, size_t len);
/** Write len bytes at guest-virtual address gva. Errors as vmm_vcpu_read_virt(). Threads as
 * vmm_vcpu_get_regs(). */
VMM_EXTERN int vmm_vcpu_write_virt(vmm_vcpu *vcpu, uint64_t gva, const void *buf, size_t len);

/** vmm_vcpu_set_debug() flag: stop after every guest instruction (VMM_EXIT_DEBUG, exception 1). */
#define VMM_DEBUG_SINGLESTEP 0x1u
/** vmm_vcpu_set_debug() flag: a guest INT3 stops the run (VMM_EXIT_DEBUG, exception 3)
 *  instead of reaching the guest's own handler. */
#define VMM_DEBUG_SW_BREAKPOINTS 0x2u

/**
 * Debug the guest from the host: with flags set, later runs return VMM_EXIT_DEBUG
 * with debug.exception and debug.pc after each instruction (single-step) or at an
 * INT3 (software breakpoint; debug.pc is the INT3's address, and the guest does
 * not execute it until the caller moves RIP past it). 0 turns debugging off.
 * On PVM hosts (vmm_host_info.pvm) single-stepping works for CPL0 code only, and
 * an INT3 at CPL0 ends as VMM_EXIT_INTERNAL_ERROR (KVM's emulator cannot run it),
 * with the instruction bytes and RIP in exit->internal.
 * @return 0; VMM_EINVAL (unknown flag), VMM_EBUSY (running), VMM_EKVM.
 * Any thread while the vCPU is not running (VMM_EBUSY otherwise).
 */
VMM_EXTERN int vmm_vcpu_set_debug(vmm_vcpu *vcpu, unsigned int flags);

/** A short name for an exit reason ("HLT", "IO", ...); never NULL. Thread-safe: it touches no
 * shared state. */
VMM_EXTERN const char *vmm_exit_reason_name(vmm_exit_reason reason);

VMM_END_DECLS

#endif
