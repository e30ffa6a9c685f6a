/* SPDX-License-Identifier: MIT */
/**
 * @file serial.h  The built-in 16550A UART ("serial") and debug-exit devices.
 *
 * serial config (JSON, all keys optional):
 *   "id": string; "port": I/O base (default 0x3f8, COM1); or "mmio": MMIO base
 *   (registers 1 byte apart) instead of a port; "irq": line (default 4);
 *   "fd": host file descriptor receiving output (default: none, output dropped
 *   unless a callback is set with vmm_serial_set_output()).
 *   The fd is not closed by libvmm. A guest never waits for it: a byte the fd
 *   cannot take at once (a full pipe, a stalled terminal) is dropped and counted
 *   in tx_dropped, so a flooding guest cannot stall its vCPU.
 *   The output callback runs with the device's lock held: it must not call
 *   vmm_serial_* functions on the same device.
 *
 * debug-exit config: "port" (default 0xf4) or "mmio"; "size" of the register,
 *   1, 2 or 4 (default 4). A guest write of value v ends the run with
 *   VMM_EXIT_STATUS and status v (reads return 0).
 */
#ifndef LIBVMM_SERIAL_H
#define LIBVMM_SERIAL_H

#include "common.h"

VMM_BEGIN_DECLS

/** Output callback: len bytes the guest transmitted. Called on the vCPU thread. */
typedef void (*vmm_serial_output_fn)(void *opaque, const uint8_t *buf, size_t len);

/**
 * Send serial output to a callback instead of (or in addition to) the fd.
 * @param dev  A "serial" device.
 * @param fn   Callback or NULL to remove it.
 * @return 0; VMM_EINVAL if dev is not a serial device.
 * Call while no vCPU runs.
 * Any thread: it takes the device's lock, so it waits for an access in progress.
 */
VMM_EXTERN int vmm_serial_set_output(vmm_device *dev, vmm_serial_output_fn fn, void *opaque);

/**
 * Queue bytes for the guest to receive (the receive FIFO holds 1024 bytes).
 * Raises the receive interrupt if enabled. Thread-safe.
 * @return The number of bytes accepted (less than len when the FIFO is full),
 *         or VMM_EINVAL.
 */
VMM_EXTERN int vmm_serial_input(vmm_device *dev, const void *buf, size_t len);

/** Counters of a serial device. */
typedef struct vmm_serial_stats {
    uint64_t tx_bytes;   /**< bytes the guest transmitted */
    uint64_t tx_dropped; /**< bytes lost because the fd would block or failed */
    uint64_t rx_bytes;   /**< bytes the guest read */
} vmm_serial_stats;

/** Read the counters. @return 0 or VMM_EINVAL. Thread-safe. */
VMM_EXTERN int vmm_serial_get_stats(vmm_device *dev, vmm_serial_stats *stats);

VMM_END_DECLS

#endif
