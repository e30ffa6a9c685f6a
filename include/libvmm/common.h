/* SPDX-License-Identifier: MIT */
/** @file common.h  Symbol visibility, version and basic types shared by all libvmm headers. */
#ifndef LIBVMM_COMMON_H
#define LIBVMM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && defined(LIBVMM_BUILDING)
#define VMM_EXTERN __attribute__((visibility("default")))
#else
#define VMM_EXTERN
#endif

#ifdef __cplusplus
#define VMM_BEGIN_DECLS extern "C" {
#define VMM_END_DECLS   }
#else
#define VMM_BEGIN_DECLS
#define VMM_END_DECLS
#endif

/** Semantic version of the headers. The SONAME follows the major number. */
#define VMM_VERSION_MAJOR  0
#define VMM_VERSION_MINOR  1
#define VMM_VERSION_PATCH  0
#define VMM_VERSION_STRING "0.1.0"
/** The header version as one comparable number (major * 10000 + minor * 100 + patch). */
#define VMM_VERSION_NUMBER (VMM_VERSION_MAJOR * 10000 + VMM_VERSION_MINOR * 100 + VMM_VERSION_PATCH)

VMM_BEGIN_DECLS

/** A virtual machine: owns its guest memory, vCPUs and devices. */
typedef struct vmm_vm vmm_vm;
/** A virtual CPU; owned by its VM and freed with it. */
typedef struct vmm_vcpu vmm_vcpu;
/** A device instance attached to a VM (or created detached in unit tests). */
typedef struct vmm_device vmm_device;

/**
 * Version of the library actually linked (may differ from the headers).
 *
 * @param major, minor, patch  Receive the numbers; each may be NULL.
 * @return The version string, e.g. "0.1.0"; static storage, never NULL.
 * Thread-safe.
 */
VMM_EXTERN const char *vmm_version(int *major, int *minor, int *patch);

VMM_END_DECLS

#endif
