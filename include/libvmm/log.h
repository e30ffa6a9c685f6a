/* SPDX-License-Identifier: MIT */
/** @file log.h  The log sink: libvmm never prints; it hands messages to a callback. */
#ifndef LIBVMM_LOG_H
#define LIBVMM_LOG_H

#include "common.h"

VMM_BEGIN_DECLS

/** Severity of a log message. */
typedef enum vmm_log_level {
    VMM_LOG_DEBUG = 0,
    VMM_LOG_INFO = 1,
    VMM_LOG_WARN = 2, /**< e.g. a guest misusing a device (rate-limited) */
    VMM_LOG_ERROR = 3
} vmm_log_level;

/**
 * A log callback.
 * @param opaque     The pointer given to vmm_log_set().
 * @param level      Severity.
 * @param component  What logs: "kvm", "vm", "serial", a device id, ...; never NULL.
 * @param message    One line without a trailing newline; valid during the call only.
 * May be called from any thread that runs libvmm code (vCPU threads included),
 * concurrently; it must not call back into libvmm.
 */
typedef void (*vmm_log_fn)(void *opaque, vmm_log_level level, const char *component,
                           const char *message);

/**
 * Install the process-wide log callback.
 * @param fn         The callback, or NULL to drop all messages (the default).
 * @param opaque     Passed back to fn.
 * @param min_level  Messages below this level are not formatted or delivered.
 * Thread-safe; a message being delivered concurrently may still reach the old callback.
 */
VMM_EXTERN void vmm_log_set(vmm_log_fn fn, void *opaque, vmm_log_level min_level);

VMM_END_DECLS

#endif
