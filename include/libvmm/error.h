/* SPDX-License-Identifier: MIT */
/** @file error.h  Error codes, the thread-local last error and vmm_strerror(). */
#ifndef LIBVMM_ERROR_H
#define LIBVMM_ERROR_H

#include "common.h"

VMM_BEGIN_DECLS

/**
 * Return codes. Every libvmm function that returns int returns 0 on success
 * or one of these negative codes; the errno-like ones carry the Linux errno
 * value, negated. Every failure also records a message, see vmm_error_last().
 */
typedef enum vmm_error_code {
    VMM_OK = 0,
    VMM_EPERM = -1,       /**< operation not permitted (e.g. /dev/kvm not accessible) */
    VMM_ENOENT = -2,      /**< no such file, device type, region or object */
    VMM_EIO = -5,         /**< I/O error talking to the host (file, fd) */
    VMM_E2BIG = -7,       /**< too many items (regions, vCPUs, devices) */
    VMM_EAGAIN = -11,     /**< try again later (e.g. the guest driver has no receive buffer) */
    VMM_ENOMEM = -12,     /**< out of memory, or a memory limit was reached */
    VMM_EFAULT = -14,     /**< guest address not backed by RAM, or not mapped by the guest */
    VMM_EBUSY = -16,      /**< object in use (e.g. vCPU already running) */
    VMM_EEXIST = -17,     /**< already exists (duplicate name, index, overlapping range) */
    VMM_ENODEV = -19,     /**< /dev/kvm absent or unusable */
    VMM_EINVAL = -22,     /**< invalid argument */
    VMM_ERANGE = -34,     /**< value or address out of range */
    VMM_ENOSYS = -38,     /**< not implemented */
    VMM_EOVERFLOW = -75,  /**< arithmetic on a size or address would overflow */
    VMM_ENOTSUP = -95,    /**< the host KVM lacks a capability this needs */
    VMM_ETIMEDOUT = -110, /**< a time budget expired */
    VMM_EVERSION = -1000, /**< an options or ops struct carries an unknown version */
    VMM_EKVM = -1001,     /**< KVM refused an operation (message has the ioctl and errno) */
    VMM_ECONFIG = -1002,  /**< a device or VM configuration (JSON) is malformed */
    VMM_ESTATE = -1003    /**< object in the wrong state for this call */
} vmm_error_code;

/** The last error recorded on the calling thread. */
typedef struct vmm_error {
    int code;            /**< a vmm_error_code, 0 if nothing failed yet */
    const char *message; /**< human-readable, names what failed; never NULL */
} vmm_error;

/**
 * The last error recorded by a libvmm call on this thread.
 *
 * @return Thread-local storage, valid until the next failing libvmm call on
 *         this thread; never NULL (code 0 and message "no error" when nothing
 *         failed). Successful calls do not clear it.
 */
VMM_EXTERN const vmm_error *vmm_error_last(void);

/** Forget the last error on this thread. */
VMM_EXTERN void vmm_error_clear(void);

/**
 * A short description of an error code.
 * @return Static storage, never NULL ("unknown error" for unknown codes).
 * Thread-safe: it touches no shared state.
 */
VMM_EXTERN const char *vmm_strerror(int code);

VMM_END_DECLS

#endif
