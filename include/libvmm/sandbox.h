/* SPDX-License-Identifier: MIT */
/** @file sandbox.h  Run a static x86-64 Linux program in a VM under a system-call
 *  policy, with host functions, limits and fast reuse. */
#ifndef LIBVMM_SANDBOX_H
#define LIBVMM_SANDBOX_H

#include "common.h"
#include "vcpu.h"

VMM_BEGIN_DECLS

/**
 * A sandbox: one VM with one vCPU that runs one static x86-64 Linux ELF
 * program (static or static-PIE, e.g. built with musl-gcc) at CPL 3.
 *
 * A small guest runtime shipped inside libvmm runs at CPL 0: it loads the
 * guest's GDT, IDT and TSS, sets up the `syscall` entry, and drops to the
 * program at CPL 3, where it runs at native speed. Each system call the
 * program makes leaves the VM through one port-I/O exit and is answered on
 * the host by a policy (see vmm_sandbox_options.syscall); exceptions in the
 * program end the run with their vector and address.
 *
 * Guest memory is identity-mapped (guest virtual = guest physical):
 *  - 0x0 - 0xffff: the null page (never mapped) and the runtime (the
 *    program may read its code and kernel stack, never write them);
 *  - 0x10000 - memory_size: the program's memory: its ELF segments, the
 *    heap (brk) above them, anonymous mmap()s taken top-down below the
 *    stack, an unmapped 2 MiB guard, and the stack at the top.
 * A program cannot reach host memory, files or the network: it sees only
 * what the policy and the host functions give it. Page protections requested
 * with mmap()/mprotect() are not enforced inside the guest (every page of
 * the program's memory is readable, writable and executable); the VM is the
 * isolation boundary.
 *
 * After vmm_sandbox_load() the sandbox takes a snapshot (unless
 * VMM_SANDBOX_ONESHOT): vmm_sandbox_reset() returns to it, so a pool of
 * sandboxes serves many calls without creating VMs.
 *
 * A sandbox is used by one thread at a time; only vmm_sandbox_stop() may be
 * called from another thread.
 */
typedef struct vmm_sandbox vmm_sandbox;

/** A system call as the program made it. */
typedef struct vmm_sandbox_syscall {
    uint64_t nr;      /**< the system call number (RAX), Linux x86-64 numbering */
    uint64_t args[6]; /**< RDI, RSI, RDX, R10, R8, R9 */
    int64_t ret;      /**< the result to return (a value, or -errno) */
} vmm_sandbox_syscall;

/** What a system-call callback decided (vmm_sandbox_syscall_fn's return). */
typedef enum vmm_sandbox_action {
    VMM_SANDBOX_DEFAULT = 0, /**< let the default policy answer */
    VMM_SANDBOX_HANDLED = 1, /**< return call->ret to the program */
    VMM_SANDBOX_KILL = 2     /**< end the run (outcome VMM_SANDBOX_KILLED) */
} vmm_sandbox_action;

/**
 * A system-call callback: called for every system call before the default
 * policy. It may read and write the program's memory with vmm_sandbox_read()
 * and vmm_sandbox_write() (which check every address), and runs on the thread
 * that called vmm_sandbox_run(), with the vCPU stopped.
 * @return a vmm_sandbox_action; anything else ends the run as KILLED.
 */
typedef int (*vmm_sandbox_syscall_fn)(void *opaque, vmm_sandbox *sb, vmm_sandbox_syscall *call);

/**
 * A host function the program calls by name (see sandbox_guest.h). `in` holds
 * a copy of the program's input buffer; the function writes at most out_cap
 * bytes to `out`, which the sandbox then copies into the program's buffer.
 * Runs on the thread that called vmm_sandbox_run(), with the vCPU stopped.
 * @return the number of bytes written to out (<= out_cap), or a negative
 *         errno the program receives as the call's result.
 */
typedef int64_t (*vmm_sandbox_fn)(void *opaque, const void *in, size_t in_len, void *out,
                                  size_t out_cap);

/** Current version of vmm_sandbox_options. */
#define VMM_SANDBOX_OPTIONS_VERSION 1

/** vmm_sandbox_options.flags: take no snapshot after loading; the sandbox
 *  runs once and vmm_sandbox_reset() is refused (faster one-shot start). */
#define VMM_SANDBOX_ONESHOT 0x1u

/** Options for vmm_sandbox_create(). */
typedef struct vmm_sandbox_options {
    unsigned int version; /**< VMM_SANDBOX_OPTIONS_VERSION */
    unsigned int flags;   /**< 0 or VMM_SANDBOX_ONESHOT */
    /** Guest RAM in bytes: a multiple of 2 MiB, 8 MiB .. 3 GiB. Default 64 MiB.
     *  Everything the program uses (code, heap, mmap, stack) comes out of it.
     *  A program linked at the usual 0x400000 needs at least 10 MiB with the
     *  default stack (its end, a 2 MiB stack guard and the stack). */
    uint64_t memory_size;
    /** Stack size in bytes: a multiple of 2 MiB, at least 2 MiB. Default 2 MiB. */
    uint64_t stack_size;
    /** Wall-clock budget of one vmm_sandbox_run() in nanoseconds, including
     *  time spent in callbacks; 0 means none. Default 0. */
    uint64_t time_budget_ns;
    /** Most bytes the program may write to stdout and stderr together in one
     *  run; a write past it ends the run (VMM_SANDBOX_OUTPUT_LIMIT). 0 means
     *  no limit, which is allowed only when both streams are passed through
     *  to file descriptors (captured output is always bounded). Default 1 MiB. */
    uint64_t max_output;
    /** Where the program's stdout and stderr go: -1 (default) captures them in
     *  buffers (vmm_sandbox_output()); a file descriptor passes them through
     *  (the sandbox writes, never closes it). */
    int stdout_fd, stderr_fd;
    /** Largest input or output buffer of one host-function call. Default 1 MiB. */
    uint64_t max_call_bytes;
    /** Called for every system call before the default policy; NULL for none. */
    vmm_sandbox_syscall_fn syscall;
    void *syscall_opaque; /**< passed to syscall */
} vmm_sandbox_options;

/** Static initialiser with the defaults. */
#define VMM_SANDBOX_OPTIONS_INIT                                                                   \
    {                                                                                              \
        VMM_SANDBOX_OPTIONS_VERSION, 0, 64ull << 20, 2ull << 20, 0, 1ull << 20, -1, -1,            \
            1ull << 20, NULL, NULL                                                                 \
    }

/** Fill sandbox options with defaults. Same contract as vmm_vm_options_init(). Thread-safe: it
 * touches no shared state. */
VMM_EXTERN int vmm_sandbox_options_init(vmm_sandbox_options *opts, unsigned int version);

/**
 * Create a sandbox: a VM with guest RAM and one vCPU, and the guest runtime.
 * @param out   Receives the sandbox; free it with vmm_sandbox_destroy().
 * @param opts  Options, or NULL for the defaults.
 * @return 0; VMM_EINVAL (bad option), VMM_EVERSION, VMM_ENODEV (no KVM),
 *         VMM_ENOMEM, VMM_EKVM.
 * Any thread; the sandbox is then used by one thread at a time.
 */
VMM_EXTERN int vmm_sandbox_create(vmm_sandbox **out, const vmm_sandbox_options *opts);

/**
 * Free a sandbox and its VM. NULL is ignored. Not while vmm_sandbox_run() runs.
 * On the thread using the sandbox (one at a time). No run may be in progress.
 */
VMM_EXTERN void vmm_sandbox_destroy(vmm_sandbox *sb);

/**
 * Load a static x86-64 ELF executable (ET_EXEC or static-PIE ET_DYN without an
 * interpreter) from a file and lay out its stack as Linux does: argc, argv,
 * envp and the auxiliary vector (AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ,
 * AT_ENTRY, AT_RANDOM with 16 host-random bytes, AT_EXECFN, AT_PLATFORM,
 * AT_HWCAP, AT_CLKTCK, AT_UID/EUID/GID/EGID = 0, AT_SECURE = 0). A
 * static-PIE program is loaded at 0x400000. Then the runtime starts and the
 * sandbox takes its snapshot (unless VMM_SANDBOX_ONESHOT), ready for
 * vmm_sandbox_run(). A sandbox loads one program once: after a refused
 * program (anything but a file that cannot be opened or read) it cannot load
 * another; create a new sandbox.
 * @param path  The ELF file.
 * @param argv  NULL-terminated argument vector (argv[0] is the program's
 *              name); NULL for { path, NULL }.
 * @param envp  NULL-terminated environment; NULL for none.
 * @return 0; VMM_EINVAL (malformed or unsupported ELF, with the reason),
 *         VMM_ENOMEM (the program does not fit in memory_size), VMM_ERANGE
 *         (argv and envp together over 256 KiB or 4096 strings), VMM_ENOENT /
 *         VMM_EIO (file), VMM_ESTATE (already loaded), VMM_EKVM.
 * On the thread using the sandbox (one at a time).
 */
VMM_EXTERN int vmm_sandbox_load(vmm_sandbox *sb, const char *path, const char *const *argv,
                                const char *const *envp);

/**
 * vmm_sandbox_load() from an ELF image in memory (copied; the caller keeps it).
 * argv may not be NULL here (there is no path to default to).
 * On the thread using the sandbox (one at a time).
 */
VMM_EXTERN int vmm_sandbox_load_buffer(vmm_sandbox *sb, const void *elf, size_t len,
                                       const char *const *argv, const char *const *envp);

/**
 * Register a host function the program can call by name (sandbox_guest.h).
 * Registration is allowed before or after loading.
 * @param name  1-63 characters of [A-Za-z0-9_.-]; copied.
 * @return 0; VMM_EINVAL (bad name, NULL fn), VMM_EEXIST (name taken), VMM_ENOMEM.
 * On the thread using the sandbox (one at a time).
 */
VMM_EXTERN int vmm_sandbox_register(vmm_sandbox *sb, const char *name, vmm_sandbox_fn fn,
                                    void *opaque);

/**
 * Set the bytes the program reads from stdin (fd 0); copied. Every run reads
 * from the start of it. NULL/0 gives an empty stdin (read returns 0).
 * @return 0; VMM_EINVAL, VMM_ENOMEM.
 * On the thread using the sandbox (one at a time).
 */
VMM_EXTERN int vmm_sandbox_set_stdin(vmm_sandbox *sb, const void *data, size_t len);

/** How a run ended. */
typedef enum vmm_sandbox_outcome {
    VMM_SANDBOX_EXITED = 1,       /**< exit or exit_group; see .status */
    VMM_SANDBOX_FAULT = 2,        /**< a CPU exception in the program; see .fault */
    VMM_SANDBOX_TIMEOUT = 3,      /**< the wall-clock budget ran out */
    VMM_SANDBOX_OUTPUT_LIMIT = 4, /**< the program wrote more than max_output */
    VMM_SANDBOX_KILLED = 5,       /**< the system-call callback ended the run */
    VMM_SANDBOX_STOPPED = 6,      /**< vmm_sandbox_stop() */
    VMM_SANDBOX_CRASHED = 7       /**< the guest stopped another way (see .exit) */
} vmm_sandbox_outcome;

/** The result of vmm_sandbox_run(). */
typedef struct vmm_sandbox_result {
    vmm_sandbox_outcome outcome;
    int status; /**< EXITED: the exit status (the low 8 bits, as a parent sees them) */
    struct {
        uint32_t vector;     /**< 14 #PF, 6 #UD, 0 #DE, 13 #GP, ... */
        uint32_t error_code; /**< as the CPU pushed it (0 if none) */
        uint64_t address;    /**< #PF: the faulting address; else the instruction's */
        uint64_t rip;        /**< the faulting instruction */
    } fault;
    vmm_exit exit;     /**< CRASHED: the vCPU exit that ended the run */
    uint64_t syscalls; /**< system calls made (including host-function calls) */
    uint64_t denied;   /**< of those, answered -ENOSYS by the default policy */
} vmm_sandbox_result;

/**
 * Run the loaded program until it exits, faults, or hits a limit. A sandbox
 * runs once per load or reset: call vmm_sandbox_reset() before running again.
 * The program's captured output of this run is in vmm_sandbox_output().
 * @return 0 with *res filled (whatever the outcome); VMM_ESTATE (nothing
 *         loaded, or already run since the last reset), VMM_EBUSY, VMM_EKVM.
 * On the thread using the sandbox (one at a time).
 */
VMM_EXTERN int vmm_sandbox_run(vmm_sandbox *sb, vmm_sandbox_result *res);

/**
 * Return to the state right after loading: memory (only the pages the run
 * changed are copied back), registers, heap and mmap bookkeeping, stdin
 * position, captured output (emptied). Host functions stay registered.
 * @return 0; VMM_ESTATE (nothing loaded, or VMM_SANDBOX_ONESHOT), VMM_EKVM.
 * On the thread using the sandbox (one at a time).
 */
VMM_EXTERN int vmm_sandbox_reset(vmm_sandbox *sb);

/**
 * Ask a running vmm_sandbox_run() to end (outcome VMM_SANDBOX_STOPPED). Any
 * thread; async-signal-safe is not promised. If no run is in progress the
 * next one stops at once.
 * @return 0; VMM_EINVAL (NULL).
 */
VMM_EXTERN int vmm_sandbox_stop(vmm_sandbox *sb);

/**
 * The bytes the program wrote to fd (1 stdout, 2 stderr) in the current run
 * when that stream is captured. The pointer stays valid until the next
 * vmm_sandbox_run(), vmm_sandbox_reset() or vmm_sandbox_destroy().
 * @param len  Receives the length.
 * @return the bytes (not NUL-terminated; may be NULL when len is 0), or NULL
 *         for another fd or a passed-through stream (*len = 0).
 * On the thread using the sandbox (one at a time).
 */
VMM_EXTERN const char *vmm_sandbox_output(const vmm_sandbox *sb, int fd, size_t *len);

/**
 * Copy len bytes from the program's memory at guest address gva, for
 * system-call callbacks. Only the program's memory (0x10000 .. memory_size)
 * is reachable.
 * @return 0; VMM_EFAULT (outside it), VMM_EINVAL.
 * On the thread using the sandbox (one at a time). Also from a host function or policy callback,
 * which runs on that thread.
 */
VMM_EXTERN int vmm_sandbox_read(vmm_sandbox *sb, uint64_t gva, void *buf, size_t len);

/** Copy into the program's memory; as vmm_sandbox_read(). On the thread using the sandbox (one at a
 * time). Also from a host function or policy callback, which runs on that thread. */
VMM_EXTERN int vmm_sandbox_write(vmm_sandbox *sb, uint64_t gva, const void *buf, size_t len);

/** The sandbox's VM (owned by the sandbox), e.g. for vmm_host_info-style queries. On the thread
 * using the sandbox (one at a time). */
VMM_EXTERN vmm_vm *vmm_sandbox_vm(vmm_sandbox *sb);

VMM_END_DECLS

#endif
