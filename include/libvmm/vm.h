/* SPDX-License-Identifier: MIT */
/** @file vm.h  Creating, running and destroying virtual machines. */
#ifndef LIBVMM_VM_H
#define LIBVMM_VM_H

#include "common.h"
#include "vcpu.h"

VMM_BEGIN_DECLS

/** vmm_vm_options.flags: create the in-kernel interrupt controller (PIC, IOAPIC, LAPIC).
 *  With it, HLT waits in the kernel for an interrupt instead of exiting, and
 *  devices raise ISA interrupt lines (the serial port uses line 4). */
#define VMM_VM_IRQCHIP 0x1u
/** vmm_vm_options.flags: create the in-kernel PIT (i8254); implies VMM_VM_IRQCHIP. */
#define VMM_VM_PIT 0x2u

/** Current version of vmm_vm_options. */
#define VMM_VM_OPTIONS_VERSION 1

/** Options for vmm_vm_create(). Initialise with VMM_VM_OPTIONS_INIT or vmm_vm_options_init(). */
typedef struct vmm_vm_options {
    unsigned int version; /**< VMM_VM_OPTIONS_VERSION */
    unsigned int flags;   /**< VMM_VM_* flags; default 0 */
    /** Upper bound on the sum of the sizes of all mapped regions, in bytes;
     *  0 means no limit other than the host's. */
    uint64_t memory_limit;
} vmm_vm_options;

/** Static initialiser with the defaults. */
#define VMM_VM_OPTIONS_INIT                                                                        \
    {                                                                                              \
        VMM_VM_OPTIONS_VERSION, 0, 0                                                               \
    }

/**
 * Fill an options struct with defaults.
 * @param opts     Struct to fill; must not be NULL.
 * @param version  VMM_VM_OPTIONS_VERSION (the version the caller was compiled against).
 * @return 0, VMM_EINVAL if opts is NULL, VMM_EVERSION for an unknown version.
 * Thread-safe: it touches no shared state.
 */
VMM_EXTERN int vmm_vm_options_init(vmm_vm_options *opts, unsigned int version);

/**
 * Create a VM: opens /dev/kvm and creates an empty KVM VM (no memory, no vCPUs).
 * @param out   Receives the VM; set to NULL on failure. Must not be NULL.
 * @param opts  Options, or NULL for the defaults.
 * @return 0; VMM_ENODEV if /dev/kvm is absent, VMM_EPERM if it cannot be opened,
 *         VMM_EVERSION/VMM_EINVAL for bad options, VMM_EKVM if KVM refuses.
 * Thread-safe: any number of VMs may exist in one process.
 */
VMM_EXTERN int vmm_vm_create(vmm_vm **out, const vmm_vm_options *opts);

/**
 * Destroy a VM with its vCPUs, devices and libvmm-allocated memory.
 * Caller-supplied memory is not freed. NULL is ignored. No vCPU of the VM may
 * be running (stop and join vmm_vm_run(), or let vmm_vcpu_run() return, first).
 * Any thread, once no other call on the VM, its vCPUs or its devices is in progress (vmm_vm_run()
 * has returned).
 */
VMM_EXTERN void vmm_vm_destroy(vmm_vm *vm);

/** Number of vCPUs created so far in the VM (0 for NULL). Any thread; not concurrently with
 * vmm_vcpu_create() on the VM. */
VMM_EXTERN unsigned int vmm_vm_vcpu_count(const vmm_vm *vm);

/** The vCPU with this index, or NULL if none. Any thread; not concurrently with vmm_vcpu_create()
 * on the VM. */
VMM_EXTERN vmm_vcpu *vmm_vm_vcpu(vmm_vm *vm, unsigned int index);

/**
 * Callback for exits that no device claims while vmm_vm_run() runs.
 * @return 0 to resume the vCPU (for a read, after storing the answer in exit->io.data
 *         or exit->mmio.data), or a nonzero value to stop the whole VM; that value
 *         is reported in vmm_run_result.status with reason VMM_EXIT_STATUS.
 * Called on the vCPU's thread.
 */
typedef int (*vmm_exit_fn)(void *opaque, vmm_vcpu *vcpu, vmm_exit *exit);

/** Current version of vmm_run_options. */
#define VMM_RUN_OPTIONS_VERSION 1

/** Options for vmm_vm_run(). */
typedef struct vmm_run_options {
    unsigned int version; /**< VMM_RUN_OPTIONS_VERSION */
    /** Handler for unclaimed I/O and MMIO; NULL: reads return all ones, writes are
     *  dropped, and a rate-limited warning is logged. */
    vmm_exit_fn on_exit;
    void *opaque;            /**< passed to on_exit */
    uint64_t time_budget_ns; /**< wall-clock limit for the whole run; 0 = none */
} vmm_run_options;

/** Static initialiser with the defaults. */
#define VMM_RUN_OPTIONS_INIT                                                                       \
    {                                                                                              \
        VMM_RUN_OPTIONS_VERSION, NULL, NULL, 0                                                     \
    }

/** Fill run options with defaults. Same contract as vmm_vm_options_init(). Thread-safe: it touches
 * no shared state. */
VMM_EXTERN int vmm_run_options_init(vmm_run_options *opts, unsigned int version);

/** Outcome of vmm_vm_run(). */
typedef struct vmm_run_result {
    /** Why the run ended: VMM_EXIT_HLT (every vCPU halted), VMM_EXIT_STATUS (a device
     *  such as debug-exit, or on_exit, ended it), VMM_EXIT_SHUTDOWN (triple fault),
     *  VMM_EXIT_KICKED (vmm_vm_stop()), VMM_EXIT_TIMEOUT, VMM_EXIT_INTERNAL_ERROR,
     *  VMM_EXIT_FAIL_ENTRY, VMM_EXIT_DEBUG, VMM_EXIT_FAULT. */
    vmm_exit_reason reason;
    int status;        /**< the status for VMM_EXIT_STATUS, else 0 */
    unsigned int vcpu; /**< index of the vCPU whose exit ended the run */
    vmm_exit exit;     /**< that exit in full (data pointers are not valid any more) */
} vmm_run_result;

/**
 * Run every vCPU of the VM, each on its own new thread, until every vCPU has
 * halted, one ends the VM (shutdown, debug-exit status, internal error), the
 * time budget expires or vmm_vm_stop() is called. Devices are served on the
 * vCPU threads. Returns when all threads have been joined.
 * @param vm    The VM; must have at least one vCPU.
 * @param opts  Options or NULL for defaults.
 * @param res   Receives the outcome; must not be NULL.
 * @return 0 when the run ended for one of the reasons above (see res),
 *         VMM_EINVAL, VMM_ESTATE (no vCPU, or already running), VMM_ENOMEM,
 *         VMM_EPERM (the scheduling settings need privileges, see vmm_sched),
 *         VMM_EBUSY (a vCPU is being run by vmm_vcpu_run() elsewhere), VMM_EKVM.
 */
VMM_EXTERN int vmm_vm_run(vmm_vm *vm, const vmm_run_options *opts, vmm_run_result *res);

/**
 * Ask a running vmm_vm_run() to stop: every vCPU is kicked and the run returns
 * with reason VMM_EXIT_KICKED. Thread-safe and async-signal-unsafe; callable from
 * any thread. If no run is in progress, the next vmm_vm_run() returns at once.
 */
VMM_EXTERN int vmm_vm_stop(vmm_vm *vm);

/**
 * Pause a running vmm_vm_run(): every vCPU is kicked out of the guest and its
 * thread waits until vmm_vm_resume() or vmm_vm_stop(). Returns once every vCPU
 * thread has parked (so registers can be read at once), except when called from
 * a vCPU thread (an exit or device callback), which returns at once. The run's
 * time budget keeps counting while paused. Thread-safe.
 * @return 0; VMM_EINVAL; VMM_ESTATE if no vmm_vm_run() is in progress.
 */
VMM_EXTERN int vmm_vm_pause(vmm_vm *vm);

/** Let a paused vmm_vm_run() continue. Thread-safe. @return 0; VMM_EINVAL; VMM_ESTATE if not
 * paused. */
VMM_EXTERN int vmm_vm_resume(vmm_vm *vm);

/** What a VM is doing. */
typedef enum vmm_vm_state {
    VMM_VM_IDLE = 0,    /**< no vmm_vm_run() in progress */
    VMM_VM_RUNNING = 1, /**< inside vmm_vm_run() */
    VMM_VM_PAUSED = 2   /**< inside vmm_vm_run(), paused */
} vmm_vm_state;

/** The VM's state (VMM_VM_IDLE for NULL). Thread-safe. */
VMM_EXTERN vmm_vm_state vmm_vm_get_state(const vmm_vm *vm);

/** Current version of vmm_sched. */
#define VMM_SCHED_VERSION 1

/**
 * CPU scheduling of the vCPU threads vmm_vm_run() starts, in the manner of
 * Xen's credit scheduler:
 * - weight: relative share under contention, 1..65535, default 256. Mapped onto
 *   the host scheduler as the threads' nice value: nice = -log(weight/256)/log(1.25)
 *   rounded and clamped to -20..19 (each CFS nice step is a factor 1.25 in CPU
 *   share), so 256 is nice 0, 512 is -3, 128 is 3. Weights above 256 need the
 *   right to lower nice values (CAP_SYS_NICE or RLIMIT_NICE); without it
 *   vmm_vm_run() fails with VMM_EPERM naming the weight.
 * - cap: 0 for none, else 1..100, the most CPU time each vCPU may use, in
 *   percent of one host CPU. Enforced by libvmm itself as a duty cycle: each
 *   vCPU runs for cap% of every 10 ms period and waits out the rest.
 * - affinity: bit i set means host CPU i (0..63) may run the vCPU threads;
 *   0 means any. Applied with pthread_setaffinity_np().
 */
typedef struct vmm_sched {
    unsigned int version; /**< VMM_SCHED_VERSION */
    unsigned int weight;  /**< 1..65535; default 256 */
    unsigned int cap;     /**< 0 (none) or 1..100; default 0 */
    uint64_t affinity;    /**< host CPU mask; default 0 (any) */
} vmm_sched;

/** Static initialiser with the defaults. */
#define VMM_SCHED_INIT                                                                             \
    {                                                                                              \
        VMM_SCHED_VERSION, 256, 0, 0                                                               \
    }

/**
 * Set how vmm_vm_run() schedules the VM's vCPU threads (see vmm_sched).
 * @return 0; VMM_EINVAL (weight 0 or above 65535, cap above 100, an affinity
 *         naming no online CPU), VMM_EVERSION, VMM_EBUSY (running).
 */
VMM_EXTERN int vmm_vm_set_sched(vmm_vm *vm, const vmm_sched *sched);

VMM_END_DECLS

#endif
