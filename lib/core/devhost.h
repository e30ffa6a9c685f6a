/* SPDX-License-Identifier: MIT */
/* What device models (lib/devices, lib/virtio) may use beyond the public
 * device.h: their device's lock, interrupt lines through irqfds, doorbells,
 * an I/O thread for host descriptors, configuration helpers, and the
 * declaration of a built-in type. A device model includes this header and
 * never the core's internal.h or anything of lib/hv (a ctest check,
 * layering.includes, says so). (Never installed.) */
#ifndef LIBVMM_DEVHOST_H
#define LIBVMM_DEVHOST_H

#include <libvmm/sys/device.h>
#include <pthread.h>

#include "util.h"

struct json_object;

/* ---- the device (device.c) ---- */
/* Hold the device lock outside an access callback: a backend thread, or an
 * embedder call that feeds a device (device access callbacks already hold it). */
VMM__HIDDEN void vmm__device_lock(vmm_device *dev);
VMM__HIDDEN void vmm__device_unlock(vmm_device *dev);

/* Claimed range number i of the device: 0, or VMM_ENOENT beyond its ranges. */
VMM__HIDDEN int vmm__device_range(const vmm_device *dev, unsigned int i, vmm_space *space,
                                  uint64_t *base, uint64_t *len);

/* Drive the device's interrupt lines through irqfds where the host can (the
 * VM has the in-kernel irqchip and KVM irqfds with resampling): the line is
 * asserted by an eventfd write, and at the guest's EOI KVM de-asserts it and
 * the device host's I/O thread asserts it again if the device still asks
 * for it, which keeps vmm_device_set_irq()'s level semantics. Elsewhere, or
 * off, KVM_IRQ_LINE as for every other device. The device then calls
 * vmm_device_set_irq() with its lock held only. */
VMM__HIDDEN void vmm__device_use_irqfd(vmm_device *dev, bool on);

/* A doorbell: a guest write KVM turns into an eventfd signal (device.c).
 * The function returns true to be called again (it stopped at a bound). */
typedef bool (*vmm__doorbell_fn)(void *ctx, uint32_t value);
/* Register (on) or drop a doorbell: a 4-byte guest write of value at MMIO
 * address addr then signals an eventfd in the kernel instead of exiting to
 * user space, and the device host's I/O thread calls fn(ctx, value) with the
 * device lock held. Device lock held. 0; VMM_ENOTSUP where the host cannot
 * (the write exits and is served by the access callback as before), or
 * another negative code. Dropping is immediate: fn is not called for that
 * doorbell afterwards, even for a write the kernel had already signalled. */
VMM__HIDDEN int vmm__device_doorbell(vmm_device *dev, uint64_t addr, uint32_t value,
                                     vmm__doorbell_fn fn, void *ctx, bool on);

/* ---- a device's I/O thread (iothread.c) ---- */
/* Backends that wait on host file descriptors (TAP, sockets, console input)
 * get one thread per device. It polls the watched descriptors and calls fn
 * with the device lock held for each ready one (idx: the number
 * vmm__io_add() returned; revents as poll() reports them). Descriptors must
 * be non-blocking: a readiness report may be stale. */
#define VMM__IO_MAX_FDS 64
struct vmm__io;
typedef void (*vmm__io_ready_fn)(void *model, unsigned int idx, short revents);
VMM__HIDDEN int vmm__io_new(vmm_device *dev, vmm__io_ready_fn fn, void *model,
                            struct vmm__io **out);
/* Watch fd for events (0: known but not watched now); the entry's number, or
 * VMM_E2BIG. After vmm__io_start() only with the device lock held. */
VMM__HIDDEN int vmm__io_add(struct vmm__io *io, int fd, short events);
/* The same with its own function and model for this entry (fn NULL in
 * vmm__io_new() for a thread whose entries all bring theirs). */
VMM__HIDDEN int vmm__io_add_fn(struct vmm__io *io, int fd, short events, vmm__io_ready_fn fn,
                               void *model);
/* Change entry i (fd -1 or events 0: not watched). Clear an entry before
 * closing its descriptor. After vmm__io_start() only with the device lock held. */
VMM__HIDDEN void vmm__io_set(struct vmm__io *io, unsigned int i, int fd, short events);
VMM__HIDDEN int vmm__io_start(struct vmm__io *io);
/* Stop and join the thread (without the device lock held), free everything;
 * NULL is ignored. Watched descriptors stay open: they are the caller's. */
VMM__HIDDEN void vmm__io_free(struct vmm__io *io);

/* ---- built-in device types (lib/devices/builtin.c) ---- */
/* What a built-in type declares beyond its public ops table, whose create()
 * is vmm__builtin_create(). */
struct vmm__device_type {
    const vmm_device_ops *ops;
    /* create() from a parsed configuration object, which stays the caller's. */
    int (*create)(vmm_device *dev, struct json_object *cfg, void **state);
    /* Keys whose string values name host files: a spec resolves them against
     * its own directory (NULL-terminated; NULL: none). */
    const char *const *path_keys;
    /* Keys that take host file descriptors, which a spec cannot give, and
     * what a spec uses instead (NULL-terminated; NULL: none). */
    const char *const *fd_keys;
    const char *fd_hint;
};
/* Every built-in type, NULL-terminated; the registry adds them at first use. */
extern VMM__HIDDEN const struct vmm__device_type *const vmm__builtin_types[];
/* The built-in type with these ops or this name, or NULL. */
VMM__HIDDEN const struct vmm__device_type *vmm__builtin_type(const vmm_device_ops *ops);
VMM__HIDDEN const struct vmm__device_type *vmm__builtin_named(const char *name);
/* The create() of every built-in's ops: parse the text, then the type's create. */
VMM__HIDDEN int vmm__builtin_create(vmm_device *dev, const char *config, void **state);

/* ---- JSON configuration helpers for device types (config.c) ---- */
/* Parse a device config's text (NULL/empty -> an empty object): strict JSON,
 * UTF-8, no repeated key, an object. */
VMM__HIDDEN int vmm__cfg_parse_text(vmm_device *dev, const char *json, struct json_object **out);
/* Refuse keys outside `allowed` (NULL-terminated; "id" and "type" are always
 * allowed); a valid "id" names the device. */
VMM__HIDDEN int vmm__cfg_keys(vmm_device *dev, struct json_object *o, const char *const *allowed);
/* Integer key (a JSON integer or a number string as above) in [min, max]; absent -> *out = dflt,
 * returns 0; present -> 1. */
VMM__HIDDEN int vmm__cfg_u64(vmm_device *dev, struct json_object *o, const char *key, uint64_t min,
                             uint64_t max, uint64_t dflt, uint64_t *out);
/* Where a device's len bytes of registers live: "port" (default default_port)
 * or "mmio", not both. */
VMM__HIDDEN int vmm__cfg_place(vmm_device *dev, struct json_object *o, uint64_t default_port,
                               uint64_t len, vmm_space *space, uint64_t *base);

#endif
