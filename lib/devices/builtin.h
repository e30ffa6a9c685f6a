/* SPDX-License-Identifier: MIT */
/* The built-in device types: each one's public ops table and what it
 * declares beyond it (struct vmm__device_type). builtin.c lists them. */
#ifndef LIBVMM_DEVICES_BUILTIN_H
#define LIBVMM_DEVICES_BUILTIN_H

#include "../core/devhost.h"

extern VMM__HIDDEN const vmm_device_ops vmm__serial_ops;
extern VMM__HIDDEN const vmm_device_ops vmm__debug_exit_ops;
extern VMM__HIDDEN const vmm_device_ops vmm__virtio_rng_ops;
extern VMM__HIDDEN const vmm_device_ops vmm__virtio_blk_ops;
extern VMM__HIDDEN const vmm_device_ops vmm__virtio_net_ops;
extern VMM__HIDDEN const vmm_device_ops vmm__virtio_console_ops;
extern VMM__HIDDEN const vmm_device_ops vmm__virtio_vsock_ops;

extern VMM__HIDDEN const struct vmm__device_type vmm__serial_type;
extern VMM__HIDDEN const struct vmm__device_type vmm__debug_exit_type;
extern VMM__HIDDEN const struct vmm__device_type vmm__virtio_rng_type;
extern VMM__HIDDEN const struct vmm__device_type vmm__virtio_blk_type;
extern VMM__HIDDEN const struct vmm__device_type vmm__virtio_net_type;
extern VMM__HIDDEN const struct vmm__device_type vmm__virtio_console_type;
extern VMM__HIDDEN const struct vmm__device_type vmm__virtio_vsock_type;

#endif
