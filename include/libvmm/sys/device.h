/* SPDX-License-Identifier: MIT */
/**
 * @file sys/device.h  The device-author API: the ops table a device type
 * implements, the registry of types, and the calls a device makes.
 *
 * A device never sees KVM or the VM: it claims port or MMIO ranges, is called
 * with offsets inside them, and reaches the guest only through the checked
 * accessors below (guest memory, interrupt line, stopping the run, logging).
 * Embedders who only attach devices need <libvmm/device.h> alone. This header
 * may change between 0.x releases more freely than the rest (CHANGELOG.md).
 */
#ifndef LIBVMM_SYS_DEVICE_H
#define LIBVMM_SYS_DEVICE_H

#include "../common.h"
#include "../device.h"
#include "../log.h"

VMM_BEGIN_DECLS

/** Address spaces a device can claim ranges in. */
typedef enum vmm_space {
    VMM_SPACE_PIO = 0, /**< x86 I/O ports (0 .. 0xffff) */
    VMM_SPACE_MMIO = 1 /**< guest-physical addresses not backed by RAM */
} vmm_space;

/** Current version of vmm_device_ops. */
#define VMM_DEVICE_OPS_VERSION 1

/**
 * A device type. Built-in types ("serial", "debug-exit") and embedder types
 * are described the same way. The table and its name must stay valid while
 * the type is registered and while any device of the type exists.
 * All callbacks run on the thread that triggered them: access callbacks on the
 * vCPU thread that made the access, with the device's lock held (one callback
 * of a device at a time).
 */
typedef struct vmm_device_ops {
    unsigned int version; /**< VMM_DEVICE_OPS_VERSION */
    const char *name;     /**< type name, [a-z0-9_-]{1,31} */
    /**
     * Create the device's state from its JSON configuration (a JSON object as a
     * string, or NULL for defaults) and claim its ranges with vmm_device_claim().
     * On failure return a negative code and free what was allocated; use
     * vmm_device_error() to say why. Where vmm_device_checking() is true, open
     * no host resource: only check.
     */
    int (*create)(vmm_device *dev, const char *config_json, void **state);
    /** A guest read of size bytes (1, 2, 4 or 8) at offset inside claimed range
     *  number `range`; fill data. Returning an error makes the guest read all ones. */
    int (*read)(void *state, unsigned int range, uint64_t offset, void *data, unsigned int size);
    /** A guest write; errors are logged (rate-limited) and the write is dropped. */
    int (*write)(void *state, unsigned int range, uint64_t offset, const void *data,
                 unsigned int size);
    /** Return to the power-on state (optional). */
    void (*reset)(void *state);
    /** Serialise the state into buf (cap bytes); with buf NULL only report the size
     *  needed in *len. Optional: a type without it cannot be snapshotted. */
    int (*save)(void *state, void *buf, size_t cap, size_t *len);
    /** Restore state saved by save(); validate everything (it may come from a file). */
    int (*load)(void *state, const void *buf, size_t len);
    /** Free the state (optional). */
    void (*destroy)(void *state);
} vmm_device_ops;

/**
 * Register a device type for all VMs of the process.
 * @return 0; VMM_EINVAL (NULL, bad name, missing create/read/write),
 *         VMM_EVERSION, VMM_EEXIST (a type of that name exists), VMM_ENOMEM.
 * Thread-safe.
 */
VMM_EXTERN int vmm_device_register(const vmm_device_ops *ops);

/**
 * Remove an embedder-registered type. Devices already created keep working.
 * @return 0; VMM_ENOENT (not registered), VMM_EPERM (a built-in type). Thread-safe.
 */
VMM_EXTERN int vmm_device_unregister(const char *name);

/** The registered type of that name, or NULL. Thread-safe. */
VMM_EXTERN const vmm_device_ops *vmm_device_find_type(const char *name);

/** The type's ops. Any thread. */
VMM_EXTERN const vmm_device_ops *vmm_device_type(const vmm_device *dev);

/** The state pointer create() returned. Any thread. */
VMM_EXTERN void *vmm_device_state(const vmm_device *dev);

/* ---- Calls made by device implementations ---------------------------- */

/**
 * Whether the device is being created only to check a configuration
 * (vmm_spec_check()): create() then validates the configuration and claims its
 * ranges as usual, but opens no host resource (file, socket, TAP device) and
 * starts no thread, and the device is destroyed right afterwards. Call from
 * create(). @return 1 while checking, else 0 (also for NULL).
 */
VMM_EXTERN int vmm_device_checking(const vmm_device *dev);

/**
 * Claim a range of ports or MMIO addresses; accesses to it call the device's
 * read/write with the range's number (0, 1, ... in claim order) and the offset.
 * Call from create().
 * @return 0; VMM_EINVAL (len 0, wraps, ports beyond 0xffff), VMM_EEXIST (overlaps
 *         another claim or, for MMIO, guest RAM), VMM_E2BIG (more than 16 ranges).
 * Only from create(), on the thread that runs it.
 */
VMM_EXTERN int vmm_device_claim(vmm_device *dev, vmm_space space, uint64_t base, uint64_t len);

/**
 * Set the level of an interrupt line (ISA IRQ 0-15 or IOAPIC GSI 0-23).
 * @return 0; VMM_ENOTSUP if the VM has no in-kernel irqchip (nothing is done),
 *         VMM_ERANGE for a bad line.
 * From the device's callbacks, or from any thread that holds no other device's lock.
 */
VMM_EXTERN int vmm_device_set_irq(vmm_device *dev, unsigned int line, int level);

/** Read guest-physical memory (checked; never beyond RAM). @return 0 or VMM_EFAULT. Any thread
 * (checked as vmm_mem_read()). */
VMM_EXTERN int vmm_device_mem_read(vmm_device *dev, uint64_t gpa, void *buf, size_t len);

/** Write guest-physical memory (checked; read-only regions are refused). @return 0 or VMM_EFAULT.
 * Any thread (checked as vmm_mem_write()).
 */
VMM_EXTERN int vmm_device_mem_write(vmm_device *dev, uint64_t gpa, const void *buf, size_t len);

/**
 * End the current vmm_vcpu_run() with VMM_EXIT_STATUS and this status once the
 * access being served completes. Only meaningful inside read/write callbacks.
 * Only from read/write callbacks, on the vCPU thread that made the access.
 */
VMM_EXTERN void vmm_device_stop(vmm_device *dev, int status);

/** Log a message under the device's id (printf format). Any thread. */
VMM_EXTERN void vmm_device_log(vmm_device *dev, vmm_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/**
 * Like vmm_device_log(), but at most a few messages per second per device get
 * through; the rest are counted and the count is reported with the next one.
 * Use for anything a guest can trigger.
 * Any thread; the rate limit is per device and kept under the device's lock, which access callbacks
 * hold.
 */
VMM_EXTERN void vmm_device_log_limited(vmm_device *dev, vmm_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/** Record why create() or load() failed (printf format); the caller's
 *  vmm_error_last() message will include it. From create() or load(), on the
 *  thread that runs them. */
VMM_EXTERN void vmm_device_error(vmm_device *dev, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

VMM_END_DECLS

#endif
