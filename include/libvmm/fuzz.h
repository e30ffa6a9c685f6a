/* SPDX-License-Identifier: MIT */
/** @file fuzz.h  A fuzzing harness: put an input into the guest, run it with a
 *  time budget, classify the outcome, read the guest's coverage, reset, repeat. */
#ifndef LIBVMM_FUZZ_H
#define LIBVMM_FUZZ_H

#include "common.h"
#include "snapshot.h"
#include "vcpu.h"

VMM_BEGIN_DECLS

/**
 * A harness over one VM. It holds a snapshot of the VM taken when it was
 * created; every vmm_fuzz_run() first resets the VM to it (copying back only
 * the pages the last run changed), then writes the input and runs one vCPU.
 *
 * Guest side of the protocol:
 *  - the input region (options.input_addr) holds a little-endian uint64_t
 *    length followed by that many input bytes;
 *  - the run ends when the guest writes a status to a "debug-exit" device
 *    (0 = done; other values are reported as VMM_FUZZ_STATUS) or executes HLT
 *    (CPL 0 without in-kernel irqchip);
 *  - exceptions are reported with their vector and address when the vCPU was
 *    set up with VMM_X86_EXCEPTIONS_REPORT (vmm_x86_setup()); without it they
 *    end as a triple fault, a crash without a vector;
 *  - coverage: a region of byte counters the guest increments, e.g. the
 *    section clang's -fsanitize-coverage=inline-8bit-counters emits
 *    (__sancov_cntrs) linked at options.coverage_addr. The harness zeroes it
 *    before taking its snapshot, so each run starts from zero counts.
 */
typedef struct vmm_fuzz vmm_fuzz;

/** Current version of vmm_fuzz_options. */
#define VMM_FUZZ_OPTIONS_VERSION 1

/** vmm_fuzz_options.flags: the target never writes its page tables, so resets
 *  may keep KVM's shadow page tables (VMM_SNAPSHOT_KEEP_PAGE_TABLES). Much
 *  faster resets on shadow-paging hosts; see vmm_snapshot_restore_flags(). */
#define VMM_FUZZ_KEEP_PAGE_TABLES 1u

/** Options for vmm_fuzz_create(). */
typedef struct vmm_fuzz_options {
    unsigned int version; /**< VMM_FUZZ_OPTIONS_VERSION */
    unsigned int vcpu;    /**< index of the vCPU to run (default 0); the others stay idle */
    /** Guest-physical address of the input region, 8-byte aligned, in RAM. */
    uint64_t input_addr;
    /** Bytes of the input region including its 8-byte length field (>= 8):
     *  the longest input is input_size - 8 bytes. */
    uint64_t input_size;
    uint64_t coverage_addr; /**< guest-physical address of the coverage counters, in RAM */
    uint64_t coverage_size; /**< bytes of counters; 0 (default) for no coverage */
    /** Wall-clock budget of one run in nanoseconds; 0 means none. Default 1 s. */
    uint64_t time_budget_ns;
    unsigned int flags; /**< 0 or VMM_FUZZ_KEEP_PAGE_TABLES */
} vmm_fuzz_options;

/** Static initialiser with the defaults (input region unset: set input_addr and input_size). */
#define VMM_FUZZ_OPTIONS_INIT                                                                      \
    {                                                                                              \
        VMM_FUZZ_OPTIONS_VERSION, 0, 0, 0, 0, 0, 1000000000ull, 0                                  \
    }

/** Fill fuzz options with defaults. Same contract as vmm_vm_options_init(). Thread-safe: it touches
 * no shared state. */
VMM_EXTERN int vmm_fuzz_options_init(vmm_fuzz_options *opts, unsigned int version);

/** How a run ended. */
typedef enum vmm_fuzz_outcome {
    VMM_FUZZ_OK = 0,      /**< debug-exit status 0, or HLT */
    VMM_FUZZ_STATUS = 1,  /**< debug-exit with a nonzero status (see .status): the
                               target reports a finding of its own, e.g. a failed check */
    VMM_FUZZ_CRASH = 2,   /**< an exception (see .vector, .address) or a triple fault */
    VMM_FUZZ_TIMEOUT = 3, /**< the time budget ran out */
    VMM_FUZZ_EXIT = 4     /**< any other exit (unclaimed I/O, emulation failure, kick):
                               see .exit */
} vmm_fuzz_outcome;

/** .vector of a VMM_FUZZ_CRASH that was a triple fault (no vector known). */
#define VMM_FUZZ_VECTOR_SHUTDOWN 256u

/** The result of one vmm_fuzz_run(). */
typedef struct vmm_fuzz_result {
    vmm_fuzz_outcome outcome;
    int32_t status;      /**< VMM_FUZZ_OK/STATUS: the status the guest wrote */
    uint32_t vector;     /**< VMM_FUZZ_CRASH: exception vector, or VMM_FUZZ_VECTOR_SHUTDOWN */
    uint32_t error_code; /**< VMM_FUZZ_CRASH: the exception's error code (0 if none) */
    uint64_t address;    /**< VMM_FUZZ_CRASH: CR2 for a page fault, else the faulting RIP */
    uint64_t rip;        /**< VMM_FUZZ_CRASH: the faulting instruction's address */
    vmm_exit exit;       /**< the exit that ended the run (reason NONE for a timeout) */
    uint64_t reset_ns;   /**< time spent resetting the VM before this run */
    uint64_t run_ns;     /**< time spent writing the input and running the guest */
} vmm_fuzz_result;

/**
 * Create a harness over a VM that is ready to run the target: memory mapped,
 * image loaded, vCPU set up at the target's entry. Zeroes the coverage region,
 * then takes a snapshot of the VM (vmm_snapshot_take(): the VM gains dirty
 * logging and must stay the same shape while the harness lives).
 * @param out  Receives the harness; set to NULL on failure.
 * @return 0; VMM_EINVAL (NULL argument, input or coverage region not in RAM or
 *         misaligned, no such vCPU, unknown flags), VMM_EVERSION, VMM_ENOMEM, or
 *         an error of vmm_snapshot_take().
 * Not thread-safe against other calls on the same VM.
 */
VMM_EXTERN int vmm_fuzz_create(vmm_fuzz **out, vmm_vm *vm, const vmm_fuzz_options *opts);

/**
 * Reset the VM to the harness's snapshot (unless vmm_fuzz_create() or
 * vmm_fuzz_reset() just left it there: call vmm_fuzz_reset() after running or
 * changing the VM by other means), write the input, run the vCPU until the run
 * ends, and classify the outcome. After the call
 * the VM stays in its final state (registers, memory) for inspection until the
 * next vmm_fuzz_run() or vmm_fuzz_reset().
 * @param input  len bytes (NULL allowed when len is 0).
 * @param res    Receives the result. Must not be NULL.
 * @return 0 (whatever the guest did); VMM_EINVAL (NULL argument), VMM_ERANGE
 *         (len exceeds input_size - 8), or an error of the reset or of
 *         vmm_vcpu_run() (the harness is still usable: the next run resets fully).
 * Not thread-safe: one thread drives a harness at a time.
 */
VMM_EXTERN int vmm_fuzz_run(vmm_fuzz *f, const void *input, size_t len, vmm_fuzz_result *res);

/**
 * The coverage counters of the last run: coverage_size bytes copied out of the
 * guest after the run ended (all zero before the first run). The pointer stays
 * valid until vmm_fuzz_destroy(); its contents change with each run.
 * @param len  Receives coverage_size (may be NULL).
 * @return the counters, or NULL when the harness has no coverage region or f is NULL.
 * On the thread driving the harness (one at a time).
 */
VMM_EXTERN const uint8_t *vmm_fuzz_coverage(const vmm_fuzz *f, size_t *len);

/**
 * Reset the VM to the harness's snapshot now (vmm_fuzz_run() does it itself).
 * @return 0, or an error of vmm_snapshot_restore().
 * On the thread driving the harness (one at a time).
 */
VMM_EXTERN int vmm_fuzz_reset(vmm_fuzz *f);

/** Totals since the harness was created. */
typedef struct vmm_fuzz_stats {
    uint64_t runs;     /**< vmm_fuzz_run() calls that ran the guest */
    uint64_t crashes;  /**< of those, VMM_FUZZ_CRASH outcomes */
    uint64_t timeouts; /**< VMM_FUZZ_TIMEOUT outcomes */
    uint64_t reset_ns; /**< total time resetting */
    uint64_t run_ns;   /**< total time writing inputs and running */
} vmm_fuzz_stats;

/** Copy the harness's totals into *stats. @return 0; VMM_EINVAL for NULL. On the thread driving the
 * harness (one at a time). */
VMM_EXTERN int vmm_fuzz_get_stats(const vmm_fuzz *f, vmm_fuzz_stats *stats);

/** The harness's snapshot (owned by the harness; e.g. to save it with vmm_snapshot_save()). On the
 * thread driving the harness (one at a time). */
VMM_EXTERN const vmm_snapshot *vmm_fuzz_snapshot(const vmm_fuzz *f);

/** Free the harness and its snapshot; the VM is left as it is. NULL is ignored. On the thread
 * driving the harness (one at a time). No other call on the harness may be in progress. */
VMM_EXTERN void vmm_fuzz_destroy(vmm_fuzz *f);

VMM_END_DECLS

#endif
