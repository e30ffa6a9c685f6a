/* SPDX-License-Identifier: MIT */
/** @file boot.h  Loading guest images into guest memory. */
#ifndef LIBVMM_BOOT_H
#define LIBVMM_BOOT_H

#include "common.h"

VMM_BEGIN_DECLS

/**
 * Copy a flat binary image file into guest RAM at gpa.
 * @param vm    The VM; the whole image must fit in mapped RAM.
 * @param path  The file.
 * @param gpa   Guest-physical load address.
 * @param size  Receives the image size in bytes; may be NULL.
 * @return 0; VMM_ENOENT/VMM_EIO (file), VMM_EFAULT (does not fit in RAM), VMM_EINVAL.
 */
VMM_EXTERN int vmm_boot_flat(vmm_vm *vm, const char *path, uint64_t gpa, uint64_t *size);

VMM_END_DECLS

#endif
