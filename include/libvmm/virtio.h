/* SPDX-License-Identifier: MIT */
/**
 * @file virtio.h  Embedder backends of the built-in virtio devices.
 *
 * virtio-console and virtio-net can talk to the embedder instead of a host
 * file descriptor: attach the device with `"backend": "callback"`, then set
 * the output callback with the calls below and feed input with them. Output
 * the guest produces before a callback is set is dropped (and counted in the
 * device's log at DEBUG).
 *
 * Callbacks run on the vCPU thread that made the notification, with the
 * device's lock held: they must not call back into the same device. The
 * input calls may be made from any thread, also while vCPUs run.
 */
#ifndef LIBVMM_VIRTIO_H
#define LIBVMM_VIRTIO_H

#include "common.h"

VMM_BEGIN_DECLS

/**
 * Bytes the guest wrote to a virtio-console port.
 * @param opaque  The pointer given to vmm_virtio_console_set_output().
 * @param data    The bytes; valid only during the call.
 * @param len     Their number (at least 1).
 */
typedef void (*vmm_console_output_fn)(void *opaque, const void *data, size_t len);

/**
 * Set (or, with fn NULL, clear) the output callback of a virtio-console
 * attached with `"backend": "callback"` (the default). Thread-safe; takes
 * effect for the next bytes the guest sends.
 * @return 0; VMM_EINVAL (dev NULL or not a virtio-console), VMM_ESTATE (the
 *         device has another backend).
 */
VMM_EXTERN int vmm_virtio_console_set_output(vmm_device *dev, vmm_console_output_fn fn,
                                             void *opaque);

/**
 * Give the guest input on a virtio-console attached with `"backend":
 * "callback"`: the bytes go into the receive buffers the driver has posted,
 * and the driver is interrupted.
 * @param accepted  Receives how many bytes the guest's buffers took (fewer
 *                  than len when it has not posted enough; the rest is not
 *                  kept). May be NULL. Set on every return.
 * @return 0 (also when nothing fit: see *accepted); VMM_EINVAL (dev NULL or
 *         not a virtio-console, data NULL with len > 0); VMM_ESTATE (another
 *         backend, or the driver is not ready: nothing was taken; or a
 *         receive buffer broke the protocol during the call: the device now
 *         needs a reset, and *accepted counts what went in before it).
 * Any thread: it takes the device's lock, so it waits for an access in progress.
 */
VMM_EXTERN int vmm_virtio_console_input(vmm_device *dev, const void *data, size_t len,
                                        size_t *accepted);

/**
 * A frame the guest transmitted on a virtio-net device (the Ethernet frame,
 * without the virtio-net header).
 * @param opaque  The pointer given to vmm_virtio_net_set_tx().
 * @param frame   The frame; valid only during the call.
 * @param len     Its length (14 .. 65550 bytes).
 */
typedef void (*vmm_net_tx_fn)(void *opaque, const void *frame, size_t len);

/**
 * Set (or, with fn NULL, clear) the transmit callback of a virtio-net attached
 * with `"backend": "callback"`.
 * @return 0; VMM_EINVAL (dev NULL or not a virtio-net); VMM_ESTATE (another backend).
 * Any thread: it takes the device's lock, so it waits for an access in progress.
 */
VMM_EXTERN int vmm_virtio_net_set_tx(vmm_device *dev, vmm_net_tx_fn fn, void *opaque);

/**
 * Deliver one Ethernet frame to the guest of a virtio-net attached with
 * `"backend": "callback"`: a zero virtio-net header (num_buffers 1) and the
 * frame go into the next receive chain the driver posted, never split across
 * chains. The frame is copied; the caller keeps it.
 * @return 0 (delivered, the driver is interrupted); VMM_EAGAIN (the driver has
 *         no receive buffer posted now: the frame was dropped, retry later);
 *         VMM_E2BIG (longer than the posted buffer, which stays posted for a
 *         later frame, or than 65550 bytes); VMM_EINVAL (NULL, or shorter
 *         than an Ethernet header); VMM_ESTATE (another backend, the driver
 *         is not ready, or it broke the virtqueue protocol and the device
 *         needs a reset). Frames refused with VMM_EAGAIN, VMM_E2BIG (buffer)
 *         or VMM_ESTATE (driver) count in rx_dropped (vmm_virtio_net_get_stats).
 * Any thread: it takes the device's lock, so it waits for an access in progress.
 */
VMM_EXTERN int vmm_virtio_net_receive(vmm_device *dev, const void *frame, size_t len);

/** Counters of a virtio-net device (either backend). */
typedef struct vmm_net_stats {
    uint64_t tx_frames;  /**< frames the guest transmitted that reached the TAP or the callback */
    uint64_t tx_dropped; /**< transmitted frames lost: no callback set, or the TAP write failed */
    uint64_t tx_errors;  /**< transmitted frames refused as malformed (length, header fields) */
    uint64_t rx_frames;  /**< frames written into the guest's receive buffers */
    uint64_t rx_dropped; /**< frames for the guest lost: no (large enough) buffer, driver not
                              ready, or not a valid Ethernet frame length from the TAP */
} vmm_net_stats;

/**
 * Read the counters of a virtio-net device.
 * @return 0; VMM_EINVAL (dev not a virtio-net, or stats NULL). Any thread.
 */
VMM_EXTERN int vmm_virtio_net_get_stats(vmm_device *dev, vmm_net_stats *stats);

VMM_END_DECLS

#endif
