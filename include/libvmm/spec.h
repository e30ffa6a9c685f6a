/* SPDX-License-Identifier: MIT */
/**
 * @file spec.h  Creating a configured VM from a JSON VM spec (docs/spec.md).
 *
 * The spec names the memory, vCPUs and their CPU mode, the boot image, the
 * devices and the limits. Every error names the JSON path and the reason, e.g.
 * "devices[2].path: no such file", and leaves nothing half-built behind.
 */
#ifndef LIBVMM_SPEC_H
#define LIBVMM_SPEC_H

#include "common.h"
#include "vm.h"

VMM_BEGIN_DECLS

/** What the spec says beyond the VM itself, for the program that runs it. */
typedef struct vmm_spec_info {
    char name[64];           /**< "name", default "vm" */
    char uuid[37];           /**< "uuid", or one generated (random, RFC 4122 v4) */
    unsigned int vcpus;      /**< number of vCPUs created */
    uint64_t time_budget_ns; /**< limits.time_budget_ms in ns; 0 = none */
    vmm_device *console;     /**< the serial device marked "console": true, or NULL */
    uint64_t entry;          /**< guest address where the vCPUs start */
} vmm_spec_info;

/**
 * Create and configure a VM from a JSON spec held in memory.
 * @param out   Receives the VM; NULL on failure.
 * @param json  The spec; need not be NUL-terminated; a NUL byte inside is an error.
 * @param len   Its length in bytes (at most 1 MiB).
 * @param base_dir  Directory that relative paths in the spec are relative to, or NULL
 *              for the current directory.
 * @param info  Receives the spec's name, uuid, limits and console; may be NULL.
 * The spec is parsed once and each device created once, in the VM: a disk image
 * is opened, a TAP device made and a socket bound once. Any thread.
 * @return 0; VMM_ECONFIG with a message "<json path>: <reason>" for a bad spec;
 *         VMM_ENODEV/VMM_EPERM/VMM_EKVM and others when the VM cannot be built.
 */
VMM_EXTERN int vmm_vm_create_from_spec(vmm_vm **out, const char *json, size_t len,
                                       const char *base_dir, vmm_spec_info *info);

/**
 * Create and configure a VM from a JSON spec file; relative paths inside it are
 * relative to the file's directory. Errors as vmm_vm_create_from_spec(), plus
 * VMM_ENOENT/VMM_EIO when the file cannot be read.
 * Any thread.
 */
VMM_EXTERN int vmm_vm_create_from_spec_file(vmm_vm **out, const char *path, vmm_spec_info *info);

/**
 * Check a spec without creating a VM: syntax, keys, types, ranges, duplicate ids,
 * overlapping ranges and that named files exist. Does not need /dev/kvm, and
 * opens no device's host resource (disk image, TAP device, socket): devices are
 * created in a checking mode (vmm_device_checking()). Device configs of plugin
 * types are checked once the plugin loads (which runs its code).
 * Thread-safe.
 * @return 0 or VMM_ECONFIG (message "<json path>: <reason>").
 */
VMM_EXTERN int vmm_spec_check(const char *json, size_t len, const char *base_dir);

/**
 * Load a device plugin: a shared object exporting
 * `int vmm_plugin_init(unsigned int abi)`, which registers its device types with
 * vmm_device_register() and returns 0 (abi is VMM_DEVICE_OPS_VERSION). A path is
 * loaded once per process; plugins are never unloaded.
 * @return 0; VMM_ENOENT (cannot load), VMM_EINVAL (no vmm_plugin_init), or the
 *         error vmm_plugin_init returned. Thread-safe.
 */
VMM_EXTERN int vmm_plugin_load(const char *path);

VMM_END_DECLS

#endif
