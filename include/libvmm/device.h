/* SPDX-License-Identifier: MIT */
/**
 * @file device.h  Devices as an embedder uses them: attaching a device of a
 * registered type to a VM, resetting, saving and loading it, its id.
 *
 * Writing a device type (the ops table, the registry, the calls a device
 * makes) is the device-author API in <libvmm/sys/device.h>, which vmm.h does
 * not include: like libgit2's sys/ headers it carries a weaker stability
 * promise while the major version is 0.
 */
#ifndef LIBVMM_DEVICE_H
#define LIBVMM_DEVICE_H

#include "common.h"
#include "log.h"

VMM_BEGIN_DECLS

/**
 * Create a device of a registered type and attach it to the VM.
 * @param out          Receives the device (owned by the VM), NULL on failure; may be
 *                     NULL. First, as for every constructor (it used to be last:
 *                     see CHANGELOG.md).
 * @param vm           The VM (no vCPU may be running).
 * @param type         Registered type name.
 * @param config_json  JSON object with the type's settings, or NULL for defaults.
 *                     Every type accepts "id" (a string naming the device in logs).
 * @return 0; VMM_ENOENT (unknown type), VMM_ECONFIG (bad configuration; the message
 *         names the key), VMM_EEXIST (a claimed range overlaps another device's),
 *         VMM_EBUSY (a vCPU is running), or the type's own error.
 * Any thread, while no vCPU of the VM runs.
 */
VMM_EXTERN int vmm_device_attach(vmm_device **out, vmm_vm *vm, const char *type,
                                 const char *config_json);

/** Return the device to its power-on state. @return 0 or VMM_EINVAL. Any thread: it takes the
 * device's lock, so it waits for an access in progress. */
VMM_EXTERN int vmm_device_reset(vmm_device *dev);

/**
 * Save the device's state (see vmm_device_ops.save).
 * @return 0; VMM_ENOSYS if the type cannot save; VMM_ERANGE if cap is too small.
 * Any thread: it takes the device's lock, so it waits for an access in progress.
 */
VMM_EXTERN int vmm_device_save(vmm_device *dev, void *buf, size_t cap, size_t *len);

/** Load state saved by vmm_device_save(). @return 0; VMM_ENOSYS; the type's error. Any thread: it
 * takes the device's lock, so it waits for an access in progress. */
VMM_EXTERN int vmm_device_load(vmm_device *dev, const void *buf, size_t len);

/** The device's id (from the config, else "<type><n>"); never NULL for a valid device. Any thread.
 */
VMM_EXTERN const char *vmm_device_id(const vmm_device *dev);

VMM_END_DECLS

#endif
